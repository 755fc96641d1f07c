"""The up-front header check of many images: in worker processes (header parsing holds the GIL,
so threads would take turns), with every failure reported in image order as before."""

import multiprocessing
import os

import pytest
from image_fixtures import make_val_tar
from imagenet_multilabel.dataset_script.classes import file_name_from_image_id
from imagenet_multilabel.dataset_script.images import choose, decode
from imagenet_multilabel.dataset_script.images.decode import check_images
from imagenet_multilabel.dataset_script.images.errors import CorruptImageError

MANY = 2 * decode._MIN_HEADERS_FOR_PROCESSES  # enough images and workers for processes
WORKERS = decode._MIN_WORKERS_FOR_PROCESSES
BROKEN = {3: b"garbage", MANY // 2: b"", MANY: b"\xff\xd8 not a JPEG"}


@pytest.fixture(scope="module")
def many_images(tmp_path_factory):
    tar = make_val_tar(tmp_path_factory.mktemp("many") / "val.tar", range(1, MANY + 1), BROKEN)
    names = [file_name_from_image_id(i) for i in range(1, MANY + 1)]
    return choose.open_image_source(str(tar)).locate(names)


def test_many_header_checks_report_every_bad_image_in_order(many_images):
    with pytest.raises(CorruptImageError, match=f"3 of {MANY} images do not decode") as error:
        check_images(many_images, full_decode=False, num_workers=WORKERS)
    assert error.value.file_names == tuple(file_name_from_image_id(i) for i in sorted(BROKEN))


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="the patched check is forked"
)
def test_many_header_checks_run_in_worker_processes(many_images, monkeypatch):
    def report_the_process(data: bytes, file_name: str) -> None:
        raise CorruptImageError.from_problems([(file_name, f"checked in {os.getpid()}")])

    monkeypatch.setattr(decode, "check_image_header", report_the_process)
    with pytest.raises(CorruptImageError) as error:
        check_images(many_images, full_decode=False, num_workers=WORKERS)
    checked_in = {problem for _, problem in error.value.problems}
    assert len(error.value.problems) == MANY
    assert checked_in and f"checked in {os.getpid()}" not in checked_in

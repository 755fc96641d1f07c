"""`--decoded-cache DIR`: the images decoded once per machine, then read by every model and
every launch, with the predictions of the uncached path; a cache that cannot serve these images
(other images, another decoder, truncated, damaged, no room on the disk) is one clear error."""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import re
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from image_fixtures import make_jpeg, make_val_tar
from imagenet_multilabel.dataset_script.images.files import TarImageSource
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.eval_cli.feed import decoded_cache_build as build_module
from imagenet_multilabel.eval_cli.feed import loader as loader_module
from imagenet_multilabel.eval_cli.feed import preprocess_plan
from imagenet_multilabel.eval_cli.feed.decoded_cache import (
    BUILD_LOCK,
    INDEX_FILE,
    DecodedCacheError,
    open_decoded_cache,
)
from imagenet_multilabel.eval_cli.feed.preprocess_plan import UnsupportedPreprocessingError
from model_fixtures import random_image
from run_fixtures import make_workspace, run_args

pytestmark = pytest.mark.usefixtures("fresh_accelerator_state")
# Images that take other roads: grayscale and CMYK JPEGs and a PNG (decoded by PIL and, on the
# device path, finished on the CPU path), and two that fail (not an image; cut short).
SPECIAL = {"gray": ("L", "JPEG"), "cmyk": ("CMYK", "JPEG"), "png": ("RGB", "PNG")}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The run workspace, its tar rebuilt with the special images, two broken ones and photos
    of random pixels."""
    workspace = make_workspace(tmp_path_factory.mktemp("decoded"))
    ids = workspace["image_ids"]
    images = {ids[index]: make_jpeg(ids[index], 40, mode, kind) for index, (mode, kind) in
              zip((1, 2, 3), SPECIAL.values(), strict=True)}  # fmt: skip
    images[ids[4]] = b"not an image"
    images[ids[5]] = make_jpeg(ids[5], 64)[:300]
    for index in range(6, 40):  # random pixels, not square: a transposed or shifted read shows
        encoded = io.BytesIO()
        random_image(index, width=50 + index, height=37).save(encoded, "JPEG", quality=90)
        images[ids[index]] = encoded.getvalue()
    make_val_tar(workspace["tar"], ids, images)
    return workspace


def _run(workspace, output: Path, *extra: str) -> int:
    return main(run_args(workspace, workspace["resnet"], output, "--split", "all", *extra))


def _without_timings(document: dict) -> dict:
    document = {**document, "run": dict(document["run"])}
    document.pop("environment")
    for fact in ("wall_seconds", "images_per_second"):
        document["run"].pop(fact)
    return document


@pytest.mark.parametrize("place", ["cpu", "device", "float"])
def test_cached_pixels_predict_as_the_uncached_path(workspace, tmp_path, monkeypatch, place):
    if place == "float":  # the model's own float preprocessing, from the cached pixels

        def refuse(*args, **kwargs):
            raise UnsupportedPreprocessingError("refused by the test")

        monkeypatch.setattr(preprocess_plan, "plan_for_processor", refuse)
    extra = ("--preprocess-on", place) if place != "float" else ()
    extra += ("--skip-image-check",)  # the broken images are named after the others' predictions
    assert _run(workspace, tmp_path / "plain", *extra) == 2  # two images fail, alike
    cache = tmp_path / "cache"
    assert _run(workspace, tmp_path / "cached", *extra, "--decoded-cache", str(cache)) == 2
    for output in ("plain", "cached"):
        assert (tmp_path / output / "predictions.jsonl").stat().st_size > 0
    plain = (tmp_path / "plain" / "predictions.jsonl").read_bytes()
    assert (tmp_path / "cached" / "predictions.jsonl").read_bytes() == plain
    assert len(plain.splitlines()) == len(workspace["image_ids"]) - 2


def test_after_the_build_no_model_decodes_and_no_launch_builds_again(
    workspace, tmp_path, monkeypatch, capsys
):
    decodes = {"loader": 0, "cache": 0}

    def counting(where: str, real):
        def decode(*args, **kwargs):
            decodes[where] += 1
            return real(*args, **kwargs)

        return decode

    for where, module in (("loader", loader_module), ("cache", build_module)):
        monkeypatch.setattr(module, "decode_image", counting(where, module.decode_image))
    cache = tmp_path / "cache"
    args = ["--decoded-cache", str(cache), "--model", str(_timm(workspace)), "--skip-image-check"]
    _run(workspace, tmp_path / "first", *args)
    index = json.loads((cache / INDEX_FILE).read_text())["images"]
    decodable = index["header_failed"].count(False)  # the build decodes what has a header
    assert decodes == {"loader": 0, "cache": decodable} and decodable > 140
    note = capsys.readouterr().err
    assert f"note: decoding {len(workspace['image_ids'])} images once into {str(cache)!r}" in note
    _run(workspace, tmp_path / "second", *args)
    assert decodes == {"loader": 0, "cache": decodable}
    assert "decoding" not in capsys.readouterr().err


def _timm(workspace) -> Path:
    from model_fixtures import save_timm_model

    folder = workspace["root"] / "timm"
    return folder if folder.exists() else save_timm_model(folder)


def _located(tar: Path):
    source = TarImageSource(tar)
    return source.locate(sorted(source._index))


def test_a_cache_of_other_images_is_refused(tmp_path):
    ids = list(range(10, 20))
    cache = tmp_path / "cache"
    open_decoded_cache(cache, _located(make_val_tar(tmp_path / "ten.tar", ids)), threads=1)
    other = make_val_tar(tmp_path / "other.tar", ids[:5], {ids[2]: make_jpeg(9)})
    changed = f"ILSVRC2012_val_{ids[2]:08d}.JPEG"
    message = f"other images: 1 of the 5 wanted images differ in tar file .*other.tar .*{changed}"
    with pytest.raises(DecodedCacheError, match=message):
        open_decoded_cache(cache, _located(other), threads=1)
    more = make_val_tar(tmp_path / "more.tar", [*ids, 49999])
    with pytest.raises(DecodedCacheError, match=r"holds 10 of the 11 wanted images \(built for"):
        open_decoded_cache(cache, _located(more), threads=1)
    fewer = make_val_tar(tmp_path / "fewer.tar", ids[2:5])
    open_decoded_cache(cache, _located(fewer), threads=1)  # fewer wanted: served


def test_a_truncated_or_damaged_cache_is_refused_naming_what_to_remove(workspace, tmp_path):
    cache = tmp_path / "cache"
    located = _located(workspace["tar"])
    open_decoded_cache(cache, located, threads=1)
    shard = next(cache.glob("pixels-*.u8"))
    size = shard.stat().st_size
    os.truncate(shard, size - 10)
    with pytest.raises(DecodedCacheError, match=rf"is damaged: {shard.name} holds "
                       rf"{size - 10:,} of its {size:,} bytes; remove that folder"):  # fmt: skip
        open_decoded_cache(cache, located, threads=1)
    (cache / INDEX_FILE).write_text('{"format": 1, "images": ')
    with pytest.raises(DecodedCacheError, match="is damaged: index.json cannot be read"):
        open_decoded_cache(cache, located, threads=1)


def test_a_cache_of_another_decoder_is_refused(workspace, tmp_path):
    cache = tmp_path / "cache"
    located = _located(workspace["tar"])
    open_decoded_cache(cache, located, threads=1)
    index = json.loads((cache / INDEX_FILE).read_text())
    (cache / INDEX_FILE).write_text(json.dumps({**index, "decoder": "PIL 9 (libjpeg 6b)"}))
    with pytest.raises(DecodedCacheError, match=r"was decoded by 'PIL 9 \(libjpeg 6b\)', this"):
        open_decoded_cache(cache, located, threads=1)


def test_a_disk_without_the_room_is_refused_before_building(
    workspace, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(build_module.shutil, "disk_usage", lambda path: SimpleNamespace(free=1000))
    cache = tmp_path / "cache"
    assert _run(workspace, tmp_path / "out", "--decoded-cache", str(cache)) == 2
    error = capsys.readouterr().err
    assert re.search(r"error: the decoded cache needs 0\.\d MB in .* which has 0\.0 MB free", error)
    assert sorted(path.name for path in cache.iterdir()) == [BUILD_LOCK]
    assert not (tmp_path / "out" / "predictions.jsonl").exists()


def test_a_full_disk_while_building_leaves_no_part_of_the_cache(
    workspace, tmp_path, monkeypatch, capsys
):
    def full(descriptor, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(build_module.os, "posix_fallocate", full)
    cache = tmp_path / "cache"
    assert _run(workspace, tmp_path / "out", "--decoded-cache", str(cache)) == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith(f"error: cannot write '{cache}/pixels-0000.u8' (No space left")
    assert "no part of the decoded cache was kept" in error
    assert sorted(path.name for path in cache.iterdir()) == [BUILD_LOCK]


def test_a_header_check_refuses_as_without_the_cache(workspace, tmp_path, capsys):
    assert _run(workspace, tmp_path / "plain") == 2
    plain = re.sub("0x[0-9a-f]+", "0x", capsys.readouterr().err.splitlines()[-1])
    assert _run(workspace, tmp_path / "cached", "--decoded-cache", str(tmp_path / "cache")) == 2
    assert re.sub("0x[0-9a-f]+", "0x", capsys.readouterr().err.splitlines()[-1]) == plain
    assert plain.startswith("error: 2 of 146 images do not decode: ILSVRC2012_val_00000005")
    assert not (tmp_path / "cached" / "predictions.jsonl").exists()


def test_a_second_builder_waits_for_the_first(workspace, tmp_path, capsys):
    cache = tmp_path / "cache"
    cache.mkdir()
    located = _located(workspace["tar"])
    holder = os.open(cache / BUILD_LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    os.write(holder, b"pid 1 on host elsewhere\n")
    opened = []
    waiter = threading.Thread(
        target=lambda: opened.append(open_decoded_cache(cache, located, threads=1))
    )
    waiter.start()
    time.sleep(1.0)
    assert not opened and waiter.is_alive()
    os.close(holder)
    waiter.join(timeout=60)
    assert opened and (cache / INDEX_FILE).exists()
    assert "waiting for the decoded cache" in capsys.readouterr().err


def test_device_decoding_and_the_cache_do_not_go_together(workspace, tmp_path, capsys):
    assert (
        _run(workspace, tmp_path, "--decode-on", "device", "--decoded-cache", str(tmp_path / "c"))
        == 2
    )
    assert "error: --decoded-cache holds the pixels PIL decoded" in capsys.readouterr().err

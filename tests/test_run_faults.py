"""`run` under faults: concurrent launches, repaired output directories, changed images,
full disks, read-only directories and images that fail to decode mid-run."""

from __future__ import annotations

import errno
import io
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from image_fixtures import make_jpeg, make_val_folder
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.images import decode
from imagenet_multilabel.eval_cli import outputs as outputs_module
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.eval_cli.engine import run as run_module
from imagenet_multilabel.eval_cli.feed import loader as loader_module
from PIL import Image
from run_fixtures import make_workspace, prediction_ids, run_args, torchrun_two, with_option

pytestmark = pytest.mark.usefixtures("fresh_accelerator_state")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_workspace(tmp_path_factory.mktemp("faults"))


@pytest.fixture(scope="module")
def clean_run(workspace) -> Path:
    """An uninterrupted run over ImageNet-M (68 images), the baseline of the repairs."""
    output = workspace["root"] / "clean"
    assert main(run_args(workspace, workspace["resnet"], output)) == 0
    return output


def _results(output: Path) -> dict:
    return json.loads((output / "results.json").read_text())


def test_resume_repairs_the_duplicates_of_two_concurrent_runs(
    workspace, clean_run, tmp_path, capsys
):
    """What two runs into one directory left before runs took a lock: every image twice and a
    line torn by the interleaving. Resume keeps the first complete line of each image."""
    output = tmp_path / "twice"
    output.mkdir()
    shutil.copy(clean_run / "run_identity.json", output)
    lines = (clean_run / "predictions.jsonl").read_text().splitlines(keepends=True)
    torn = '{"file_name": "ILSVRC2012_val_000' + lines[40]
    (output / "predictions.jsonl").write_text("".join([*lines[:40], torn, *lines[41:], *lines]))

    assert main(run_args(workspace, workspace["resnet"], output)) == 0
    assert "dropped 67 duplicate and 1 incomplete line(s)" in capsys.readouterr().err
    document = _results(output)
    assert document["metrics"] == _results(clean_run)["metrics"]
    assert document["run"]["images_resumed"] == len(lines)
    assert document["run"]["images_predicted_this_session"] == 0
    assert prediction_ids(output / "predictions.jsonl") == prediction_ids(
        clean_run / "predictions.jsonl"
    )


@pytest.fixture
def resumable(clean_run, tmp_path) -> Path:
    """A copy of the clean run's directory, for a test to resume from or break."""
    return Path(shutil.copytree(clean_run, tmp_path / "resumable"))


def test_resume_accepts_the_same_images_read_from_elsewhere(workspace, resumable):
    """The fingerprints are of bytes, not paths: a folder copy of the tar's images is the same."""
    folder = make_val_folder(resumable.parent / "copy", workspace["image_ids"], True)
    args = run_args(workspace, workspace["resnet"], resumable)
    assert main(with_option(args, "--images", str(folder))) == 0
    document = _results(resumable)
    assert document["run"]["images_predicted_this_session"] == 0
    assert document["run"]["images_resumed"] == 68


def test_resume_refuses_other_image_bytes(workspace, resumable, capsys):
    imagenet_m = sorted(json.loads(line)["file_name"] for line in _lines(resumable))
    changed_ids = [classes.image_id_from_file_name(name) for name in imagenet_m[:3]]
    other_bytes = {image_id: make_jpeg(image_id, size=20) for image_id in changed_ids}
    folder = make_val_folder(resumable.parent / "other", workspace["image_ids"], False, other_bytes)
    before = (resumable / "predictions.jsonl").read_bytes()
    args = run_args(workspace, workspace["resnet"], resumable)
    assert main(with_option(args, "--images", str(folder))) == 2
    error = capsys.readouterr().err
    assert "3 of the 68 images already predicted in" in error
    assert all(name in error for name in imagenet_m[:3])
    assert f"{len(make_jpeg(changed_ids[0], size=20)):,} bytes" in error
    assert (resumable / "predictions.jsonl").read_bytes() == before


def _lines(output: Path) -> list[str]:
    return (output / "predictions.jsonl").read_text().splitlines(keepends=True)


def test_a_full_disk_keeps_whole_batches_and_the_rerun_resumes(
    workspace, clean_run, tmp_path, monkeypatch, capsys
):
    real_write_all = outputs_module._write_all
    writes = []

    def disk_fills_on_the_third_batch(descriptor: int, data: bytes) -> None:
        writes.append(len(data))
        if len(writes) == 3:
            real_write_all(descriptor, data[: len(data) // 2])  # part of the batch got out
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write_all(descriptor, data)

    output = tmp_path / "full"
    args = run_args(workspace, workspace["resnet"], output, "--batch-size", "8")
    with monkeypatch.context() as patch:
        patch.setattr(outputs_module, "_write_all", disk_fills_on_the_third_batch)
        assert main(args) == 2
    error = capsys.readouterr().err
    predictions = output / "predictions.jsonl"
    assert f"cannot write {str(predictions)!r} (No space left on device)" in error
    assert "nothing was lost: the 16 predictions" in error
    assert predictions.read_text().count("\n") == 16
    assert predictions.read_text().endswith("\n")  # the half-written batch was cut off
    assert not (output / "results.json").exists()

    assert main(args) == 0  # space freed
    assert "16 of 68 already predicted in full, predicting 52" in capsys.readouterr().err
    document = _results(output)
    assert document["metrics"] == _results(clean_run)["metrics"]
    assert document["run"]["images_resumed"] == 16
    assert document["run"]["images_predicted_this_session"] == 68 - 16


def test_a_full_disk_at_the_results_keeps_every_prediction(
    workspace, resumable, monkeypatch, capsys
):
    (resumable / "results.json").unlink()

    def disk_full(path, document):
        raise OSError(errno.ENOSPC, "No space left on device")

    args = run_args(workspace, workspace["resnet"], resumable)
    with monkeypatch.context() as patch:
        patch.setattr(run_module.outputs, "write_json", disk_full)
        assert main(args) == 2
    error = capsys.readouterr().err
    assert f"cannot write {str(resumable / 'results.json')!r} (No space left on device)" in error
    assert "every prediction is in" in error
    assert main(args) == 0
    assert _results(resumable)["run"]["images_predicted_this_session"] == 0


def test_a_read_only_output_directory_is_named_and_left_alone(
    workspace, resumable, monkeypatch, capsys
):
    """Simulated: permission bits do not stop root, who may run the tests."""

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    before = {path.name: path.read_bytes() for path in resumable.iterdir()}
    monkeypatch.setattr(outputs_module.tempfile, "TemporaryFile", read_only)
    assert main(run_args(workspace, workspace["resnet"], resumable)) == 2
    error = capsys.readouterr().err
    assert f"output folder {str(resumable)!r} cannot be written (Read-only file system)" in error
    assert "nothing in it was changed" in error
    assert {path.name: path.read_bytes() for path in resumable.iterdir()} == before


def test_each_image_is_decoded_once_and_one_cut_short_is_listed_after_the_others(
    workspace, clean_run, tmp_path, monkeypatch, capsys
):
    """The header check up front decodes nothing; an image whose header is fine but whose data
    ends early fails in the DataLoader, the run predicts the others and then lists it."""
    imagenet_m = sorted(json.loads(line)["file_name"] for line in _lines(clean_run))
    cut_ids = [classes.image_id_from_file_name(name) for name in imagenet_m[:2]]
    cut_short = {image_id: _cut_short_jpeg(image_id) for image_id in cut_ids}
    folder = make_val_folder(tmp_path / "images", workspace["image_ids"], False, cut_short)
    decodes: Counter[str] = Counter()
    real_decode = decode.decode_image

    def counted_decode(data: bytes, file_name: str):
        decodes[file_name] += 1
        return real_decode(data, file_name)

    monkeypatch.setattr(decode, "decode_image", counted_decode)
    monkeypatch.setattr(loader_module, "decode_image", counted_decode)
    output = tmp_path / "out"
    args = with_option(run_args(workspace, workspace["resnet"], output), "--images", str(folder))
    assert main(args) == 2
    error = capsys.readouterr().err
    assert "2 of 68 images do not decode" in error
    assert all(name in error for name in imagenet_m[:2])
    assert (
        f"the predictions of the other images are kept in {output / 'predictions.jsonl'}" in error
    )
    assert decodes == Counter(imagenet_m)  # every image once, none before the model ran
    assert len(_lines(output)) == 66
    assert not (output / "results.json").exists()

    make_val_folder(folder, cut_ids, False)  # the images replaced by good copies
    assert main(args) == 0
    document = _results(output)
    assert document["run"]["images_predicted_this_session"] == 2
    assert document["metrics"] == _results(clean_run)["metrics"]


def _cut_short_jpeg(seed: int) -> bytes:
    """A JPEG whose header is whole but whose scan data ends halfway (noise: a long scan)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()[: buffer.tell() // 2]


@pytest.mark.slow
def test_two_processes_list_an_image_cut_short_once(workspace, clean_run, tmp_path):
    """Each process meets its own share of the images; the list is gathered on all of them."""
    imagenet_m = sorted(json.loads(line)["file_name"] for line in _lines(clean_run))
    cut_id = classes.image_id_from_file_name(imagenet_m[-1])
    folder = make_val_folder(
        tmp_path / "images", workspace["image_ids"], False, {cut_id: _cut_short_jpeg(cut_id)}
    )
    output = tmp_path / "two"
    args = run_args(workspace, workspace["resnet"], output, "--batch-size", "4")
    completed = torchrun_two(with_option(args, "--images", str(folder)))
    assert completed.returncode != 0
    assert (
        f"does not decode: {imagenet_m[-1]} (OSError: image file is truncated" in completed.stderr
    )
    assert sorted(json.loads(line)["file_name"] for line in _lines(output)) == imagenet_m[:-1]


def test_ctrl_c_keeps_whole_batches_says_so_in_one_line_and_the_rerun_resumes(
    workspace, clean_run, tmp_path, monkeypatch, capsys
):
    real_append = outputs_module.PredictionsAppender.append

    def interrupted_after_two_batches(appender, lines) -> None:
        if appender.num_appended == 16:
            raise KeyboardInterrupt
        real_append(appender, lines)

    output = tmp_path / "interrupted"
    args = run_args(workspace, workspace["resnet"], output, "--batch-size", "8")
    with monkeypatch.context() as patch:
        patch.setattr(outputs_module.PredictionsAppender, "append", interrupted_after_two_batches)
        assert main(args) == 130
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1] == (
        f"interrupted: the predictions made so far are kept in {output}; run the same command "
        "again to resume (only the images still missing are predicted)"
    )
    assert not any("Traceback" in line for line in error)
    assert len(_lines(output)) == 16

    assert main(args) == 0
    document = _results(output)
    assert document["metrics"] == _results(clean_run)["metrics"]
    assert document["run"]["images_resumed"] == 16


@pytest.mark.parametrize(
    "identity",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        b"[" * 5_000 + b"]" * 5_000,
        b'{"model": 1' + b"0" * 5000 + b"}",
    ],
    ids=["torn", "not-utf8", "not-an-object", "deeply-nested", "huge-int"],
)
def test_an_unreadable_run_identity_is_a_clear_refusal(workspace, resumable, capsys, identity):
    (resumable / "run_identity.json").write_bytes(identity)
    assert main(run_args(workspace, workspace["resnet"], resumable)) == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith(f"error: {str(resumable)!r} holds predictions, but run_identity.json")
    assert "they cannot be resumed" in error and len(error) < 600

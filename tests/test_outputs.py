"""The one writer of outputs: whole files or none, a failed write named; and score's outputs
never over an input (the frame's guards for every command: tests/test_frame.py).

The writer's own guarantees are tested on files; then each command that writes a single results
file (`score --output`, `analyze`) is driven into a full disk and a read-only folder through the
command line, as a user meets them.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from imagenet_multilabel.eval_cli import outputs
from imagenet_multilabel.eval_cli.commands.cli import main
from mistake_fixtures import write_loop_inputs


@pytest.fixture(scope="module")
def loop_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return write_loop_inputs(tmp_path_factory.mktemp("loop"))


def _label_args(inputs: dict[str, Any]) -> list[str]:
    return ["--annotations", str(inputs["annotations"]), "--allow-unverified-annotations"]


def _failing(error_number: int, message: str):
    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError(error_number, message)

    return fail


def _contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    outputs.write_json(target, {"old": True})
    old = target.read_bytes()
    monkeypatch.setattr(outputs.os, "fsync", _failing(errno.ENOSPC, "No space left on device"))
    with pytest.raises(outputs.OutputWriteError) as raised:
        outputs.write_json(target, {"new": True})
    assert f"cannot write {str(target)!r} (No space left on device)" in str(raised.value)
    assert "the existing file is unchanged" in str(raised.value)
    assert _contents(tmp_path) == {"results.json": old}


def test_an_interrupted_write_leaves_no_temporary(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs.os, "replace", _failing_with_interrupt)
    with pytest.raises(KeyboardInterrupt):
        outputs.write_text(tmp_path / "table.md", "| a |\n")
    assert list(tmp_path.iterdir()) == []


def _failing_with_interrupt(*args: Any) -> None:
    raise KeyboardInterrupt


def test_a_new_file_gets_the_mode_a_plain_open_would_give(tmp_path):
    outputs.write_text(tmp_path / "new.txt", "text")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_score_output_over_its_predictions_is_refused(loop_inputs, tmp_path, capsys):
    predictions = tmp_path / "predictions.jsonl"
    shutil.copy(loop_inputs["predictions"], predictions)
    before = predictions.read_bytes()
    args = ["score", "--predictions", str(predictions), *_label_args(loop_inputs)]
    assert main([*args, "--output", str(predictions)]) == 2
    assert "is the --predictions it reads" in capsys.readouterr().err
    assert predictions.read_bytes() == before


@pytest.mark.parametrize(
    ("option", "make_input"),
    [
        ("--label-patch", lambda folder: _written(folder / "patch.json")),
        ("--real-labels", lambda folder: _written(folder / "real.json")),
        ("--labels", lambda folder: _written(folder / "labels" / "README.md").parent),
    ],
    ids=["a label patch", "the ReaL labels", "a file in the labels dataset folder"],
)
def test_score_output_over_any_file_it_reads_is_refused(
    loop_inputs, tmp_path, capsys, option, make_input
):
    given = make_input(tmp_path)
    output = given / "README.md" if given.is_dir() else given
    args = ["score", "--predictions", str(loop_inputs["predictions"]), option, str(given)]
    if option != "--labels":
        args += _label_args(loop_inputs)
    assert main([*args, "--output", str(output)]) == 2
    assert "it reads; writing it would destroy that input" in capsys.readouterr().err
    assert output.read_text() == "input"


def _written(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("input")
    return path


def test_score_output_that_is_a_directory_is_refused_before_scoring(loop_inputs, tmp_path, capsys):
    args = ["score", "--predictions", str(loop_inputs["predictions"]), *_label_args(loop_inputs)]
    assert main([*args, "--output", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "is a directory; expected the path of a file to write" in captured.err
    assert captured.out == ""  # refused before scoring: no report printed


@pytest.mark.parametrize(
    ("error_number", "message"),
    [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")],
)
def test_score_output_on_a_full_or_read_only_disk(
    loop_inputs, tmp_path, monkeypatch, capsys, error_number, message
):
    output = tmp_path / "out" / "results.json"
    args = ["score", "--predictions", str(loop_inputs["predictions"]), *_label_args(loop_inputs)]
    args += ["--output", str(output)]
    assert main(args) == 0
    good = output.read_bytes()
    capsys.readouterr()
    with monkeypatch.context() as patch:
        patch.setattr(outputs.os, "fsync", _failing(error_number, message))
        assert main(args) == 2
    error = capsys.readouterr().err
    assert f"error: cannot write {str(output)!r} ({message}); the existing file is unchanged" in (
        error
    )
    assert _contents(output.parent) == {"results.json": good}
    assert main(args) == 0  # space freed: the same command works


def test_analyze_on_a_full_disk_keeps_whole_files_and_reruns(
    loop_inputs, tmp_path, monkeypatch, capsys
):
    output = tmp_path / "analysis"
    args = ["analyze", "--predictions", str(loop_inputs["predictions"]), *_label_args(loop_inputs)]
    args += ["--output-dir", str(output)]
    assert main(args) == 0
    before = _contents(output)
    synced: list[int] = []

    def disk_fills_on_the_second_file(descriptor: int) -> None:
        synced.append(descriptor)
        if len(synced) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")

    capsys.readouterr()
    with monkeypatch.context() as patch:
        patch.setattr(outputs.os, "fsync", disk_fills_on_the_second_file)
        assert main(args) == 2
    error = capsys.readouterr().err
    assert "(No space left on device)" in error and str(output) in error
    assert "This run already replaced results.json" in error  # the folder is mixed: say so
    after = _contents(output)
    assert set(after) == set(before)  # no temporary file left behind
    json.loads(after["results.json"])  # whole: the old file or the new one, never half
    assert [json.loads(line) for line in after["mistakes.jsonl"].splitlines()]
    assert main(args) == 0

"""analyze's outputs: never over its inputs, one writer per folder, write errors named, the labels
of a run reused, probabilities read from the parsed record."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from imagenet_multilabel.eval_cli import outputs
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.eval_cli.scores.predictions import read_predictions
from mistake_fixtures import write_loop_inputs


@pytest.fixture(scope="module")
def loop_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return write_loop_inputs(tmp_path_factory.mktemp("loop"))


def _label_args(inputs: dict[str, Any]) -> list[str]:
    return ["--annotations", str(inputs["annotations"]), "--allow-unverified-annotations"]


def _run_dir(inputs: dict[str, Any], folder: Path, *score_args: str) -> Path:
    """A `run` output folder: its predictions, and results recording the labels scored with."""
    folder.mkdir()
    shutil.copy(inputs["predictions"], folder / "predictions.jsonl")
    args = ["score", "--predictions", str(folder / "predictions.jsonl"), *score_args]
    args += ["--output", str(folder / "results.json")]
    with pytest.MonkeyPatch.context() as patch:  # the command line the results record
        patch.setattr(sys, "argv", ["imagenet-multilabel", *args])
        assert main(args) == 0
    return folder


def test_analyze_refuses_to_write_over_the_run_it_reads(
    loop_inputs: dict[str, Any], tmp_path: Path, capsys
) -> None:
    run_dir = _run_dir(loop_inputs, tmp_path / "run", *_label_args(loop_inputs))
    before = {path.name: path.read_bytes() for path in run_dir.iterdir()}
    args = ["analyze", "--run-dir", str(run_dir), "--output-dir", str(run_dir)]
    assert main(args) == 2
    assert "--output-dir" in capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in run_dir.iterdir()} == before
    predictions = run_dir / "predictions.jsonl"
    renamed = predictions.rename(run_dir / "mistakes.jsonl")
    args = ["analyze", "--predictions", str(renamed), *_label_args(loop_inputs)]
    assert main([*args, "--output-dir", str(run_dir)]) == 2
    assert "nothing was written" in capsys.readouterr().err
    assert renamed.read_bytes() == before["predictions.jsonl"]


def test_analyze_of_a_run_folders_predictions_refuses_to_write_into_that_folder(
    loop_inputs: dict[str, Any], tmp_path: Path, capsys
) -> None:
    run_dir = _run_dir(loop_inputs, tmp_path / "run", *_label_args(loop_inputs))
    before = {path.name: path.read_bytes() for path in run_dir.iterdir()}
    args = ["analyze", "--predictions", str(run_dir / "predictions.jsonl")]
    assert main([*args, *_label_args(loop_inputs), "--output-dir", str(run_dir)]) == 2
    assert "is the results.json beside --predictions it reads" in capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in run_dir.iterdir()} == before


def test_a_second_analyze_into_the_same_folder_is_refused(
    loop_inputs: dict[str, Any], tmp_path: Path, capsys
) -> None:
    output = tmp_path / "analysis"
    args = ["analyze", "--predictions", str(loop_inputs["predictions"]), *_label_args(loop_inputs)]
    with outputs.locked_folder(output):
        assert main([*args, "--output-dir", str(output)]) == 2
    assert "is in use by another command" in capsys.readouterr().err
    assert not (output / "results.json").exists()
    assert main([*args, "--output-dir", str(output)]) == 0


def test_an_output_folder_that_cannot_be_written_is_named(
    loop_inputs: dict[str, Any], tmp_path: Path, capsys
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    output = blocker / "analysis"
    args = ["analyze", "--predictions", str(loop_inputs["predictions"]), *_label_args(loop_inputs)]
    assert main([*args, "--output-dir", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(output) in err and "Traceback" not in err


def test_analyze_a_run_dir_reuses_the_runs_labels(
    loop_inputs: dict[str, Any], tmp_path: Path, capsys
) -> None:
    name, class_id = loop_inputs["outside_label_set"][0]
    patch = tmp_path / "patch.json"
    patch.write_text(
        json.dumps(
            {
                "format": "imagenet-multilabel-label-patch",
                "format_version": 1,
                "base": loop_inputs["sha256"],
                "created": "2026-01-31T12:00:00Z",
                "reviewer": "test",
                "decisions": [{"file_name": name, "class_id": class_id, "verdict": "correct"}],
            }
        )
    )
    run_dir = _run_dir(
        loop_inputs, tmp_path / "run", *_label_args(loop_inputs), "--label-patch", str(patch)
    )
    recorded = json.loads((run_dir / "results.json").read_text())
    capsys.readouterr()
    assert main(["analyze", "--run-dir", str(run_dir)]) == 0  # no label option repeated
    out = capsys.readouterr().out
    assert "the annotation file annotations.json, patched with patch.json, as the run" in out
    document = json.loads((run_dir / "analysis" / "results.json").read_text())
    assert document["labels"]["version"] == recorded["labels"]["version"]
    assert document["metrics"]["validation"] == recorded["metrics"]["validation"]

    # Explicit options win: the unpatched labels.
    assert main(["analyze", "--run-dir", str(run_dir), *_label_args(loop_inputs)]) == 0
    document = json.loads((run_dir / "analysis" / "results.json").read_text())
    assert document["labels"].get("patched") is None

    patch.unlink()  # the run's labels cannot be rebuilt: say which option is needed
    assert main(["analyze", "--run-dir", str(run_dir)]) == 2
    assert "pass --label-patch PATH" in capsys.readouterr().err


def test_top5_probs_come_from_the_records_own_field(tmp_path: Path) -> None:
    nested = {"top5_probs": [0.9, 0.1, 0.0, 0.0, 0.0]}  # a pattern over the line found this first
    lines = [
        {"file_name": "ILSVRC2012_val_00000001.JPEG", "top5": [1, 2, 3, 4, 5], "extra": nested},
        {"file_name": "ILSVRC2012_val_00000002.JPEG", "top5": [1, 2, 3, 4, 5], "extra": nested},
    ]
    lines[0]["top5_probs"] = [0.5, 0.2, 0.1, 0.1, 0.1]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    probs = read_predictions(path).top5_probs_of(np.array([0, 1]))
    np.testing.assert_array_equal(probs[0], [0.5, 0.2, 0.1, 0.1, 0.1])
    assert np.isnan(probs[1]).all()  # only a nested field: no probabilities of its own

"""`run` under faults: concurrent launches, repaired output directories, changed images,
full disks, read-only directories and images that fail to decode mid-run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from run_fixtures import make_workspace, prediction_ids, run_args

from imagenet_multilabel.cli import main


@pytest.fixture(autouse=True)
def _fresh_accelerator_state():
    """Each in-process run creates its Accelerator anew, as a new process would."""
    from accelerate.state import AcceleratorState

    yield
    AcceleratorState._reset_state(reset_partial_state=True)


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

"""Paths in results and public text: a run records its model and label files resolved, so later
commands find them from any directory; public text names a local model by its folder name only
and cuts every path of a command line to its last component."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from imagenet_multilabel.dataset_script import escape
from imagenet_multilabel.dataset_script.annotations.download import sha256_of_file
from imagenet_multilabel.eval_cli.commands.cli import main
from run_fixtures import make_workspace

pytest.importorskip("torch")


def _patch(path: Path, annotations: Path) -> Path:
    """A label patch of one decision on the workspace's annotation file."""
    names = json.loads(annotations.read_text())["initial_annots"]
    file_name = sorted(name for name in names if name.startswith("ILSVRC"))[0]
    path.write_text(
        json.dumps(
            {
                "format": "imagenet-multilabel-label-patch",
                "format_version": 1,
                "base": sha256_of_file(annotations),
                "created": "2026-01-31T12:00:00Z",
                "reviewer": "test",
                "decisions": [{"file_name": file_name, "class_id": 999, "verdict": "unclear"}],
            }
        )
    )
    return path


def _main_as_typed(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """``main`` with ``sys.argv`` as a shell would give it (results record the command line)."""
    monkeypatch.setattr(sys, "argv", ["imagenet-multilabel", *args])
    return main(args)


def test_a_run_from_relative_paths_is_readable_anywhere_and_public_text_names_no_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    (tmp_path / "ws").mkdir()
    workspace = make_workspace(tmp_path / "ws")
    patch = _patch(tmp_path / "ws" / "patch.json", workspace["annotations"])
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    args = ["run", "--model", "../ws/resnet", "--images", "../ws/val.tar"]
    args += ["--annotations", "../ws/annotations.json", "--allow-unverified-annotations"]
    args += ["--label-patch", "../ws/patch.json", "--num-workers", "0"]
    args += ["--output-dir", "../alice_secret_project/out"]
    assert _main_as_typed(args, monkeypatch) == 0
    run_dir = tmp_path / "alice_secret_project" / "out"
    document = json.loads((run_dir / "results.json").read_text())
    assert document["model"]["id"] == str((tmp_path / "ws" / "resnet").resolve())
    assert document["model"]["local"] is True
    assert document["labels"]["source"] == str(workspace["annotations"].resolve())
    assert document["label_files"]["patches"] == [str(patch.resolve())]

    card = (run_dir / "model_card_results.md").read_text()
    for private in ("alice", "ws/", "../", str(tmp_path)):
        assert private not in card, private
    assert "--images val.tar" in card and "--label-patch patch.json" in card

    # From another directory, with the model folder gone: the run's labels are found where it
    # recorded them, and the model is named by its folder name.
    shutil.rmtree(tmp_path / "ws" / "resnet")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    capsys.readouterr()
    assert main(["analyze", "--run-dir", "../alice_secret_project/out"]) == 0
    assert "patched with patch.json, as the run recorded them" in capsys.readouterr().out
    page = (run_dir / "analysis" / "review" / "index.html").read_text()
    assert "Mistakes of resnet" in page and str(tmp_path) not in page
    assert main(["leaderboard", str(run_dir / "results.json"), "--output-dir", "board"]) == 0
    board = Path("board/leaderboard.md").read_text()
    assert "resnet" in board and str(tmp_path) not in board


def test_label_options_given_to_analyze_take_over_without_the_runs_labels(
    tmp_path: Path, capsys
) -> None:
    (tmp_path / "ws").mkdir()
    workspace = make_workspace(tmp_path / "ws")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(workspace["annotations"], tmp_path / "copy.json")
    recorded = {"source": str(tmp_path / "gone.json"), "sha256": "0" * 64, "verified": False}
    (run_dir / "results.json").write_text(json.dumps({"labels": recorded}))
    names = json.loads(workspace["annotations"].read_text())["initial_annots"]
    lines = [
        json.dumps({"file_name": name, "prediction": 1, "top5": [1, 2, 3, 4, 5]})
        for name in sorted(names)
        if name.startswith("ILSVRC")
    ]
    (run_dir / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    labels = ["--annotations", str(tmp_path / "copy.json"), "--allow-unverified-annotations"]
    args = ["analyze", "--run-dir", str(run_dir), "--output-dir", str(tmp_path / "an")]
    assert main(args) == 2  # the run's own labels are gone
    assert "cannot reuse the labels the run recorded" in capsys.readouterr().err
    assert main([*args, *labels]) == 0
    assert "as given by the label options" in capsys.readouterr().out
    # A labels dataset folder it recorded, since moved: one error line saying what to pass,
    # not huggingface_hub's traceback for a path read as a Hub id.
    recorded = {"source": str(tmp_path / "moved"), "annotations_source": "", "verified": False}
    (run_dir / "results.json").write_text(json.dumps({"labels": recorded}))
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "its labels dataset" in error and "pass --labels" in error


@pytest.mark.parametrize(
    ("model_id", "local", "public"),
    [
        ("ws/resnet", True, "resnet"),  # recorded local: its folder may be gone
        ("org/name", False, "org/name"),
        ("/home/alice/models/resnet", False, "resnet"),  # absolute: local wherever read
        ("x" * 100_000, False, "x" * 100_000),  # too long to look up: no OSError
    ],
)
def test_public_model_name_of_a_recorded_model(model_id: str, local: bool, public: str) -> None:
    assert escape.public_model_name(model_id, local=local) == public

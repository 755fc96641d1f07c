"""`compare` and `patches merge` as a user runs them: `cli.main`, what it writes and prints, and
the one-line `error:` with exit status 2 for every kind of bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from imagenet_multilabel.dataset_script.labels.loading import LabelSource
from imagenet_multilabel.eval_cli.commands import cli

NUM_MOVED = 20  # images model B predicts outside its original class


@pytest.fixture
def labelled(annotation_file: tuple[Path, str]) -> dict[str, Any]:
    """The synthetic annotation file's validation images and the options that load them."""
    path, sha256 = annotation_file
    references = LabelSource(annotations=path, allow_unverified=True).load("validation")
    validation = references.split("validation")
    return {
        "options": ["--annotations", str(path), "--allow-unverified-annotations"],
        "sha256": sha256,
        "file_names": validation.file_names.tolist(),
        "original": validation.original_label.tolist(),
    }


def _predictions(path: Path, labelled: dict[str, Any], moved: int) -> Path:
    """Every image predicted as its original class, but the first ``moved`` as the next class."""
    lines = []
    for row, (name, original) in enumerate(
        zip(labelled["file_names"], labelled["original"], strict=True)
    ):
        prediction = (original + 1) % 1000 if row < moved else original
        top5 = [prediction, *[(prediction + k) % 1000 for k in range(2, 6)]]
        record = {"file_name": name, "prediction": prediction, "top5": top5}
        lines.append(json.dumps(record))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run_folder(root: Path, model: str, labelled: dict[str, Any], version: str) -> Path:
    """What `run` leaves: predictions.jsonl (each model its own) and a results.json naming the
    model and the labels it was scored on."""
    folder = root / model
    _predictions(folder / "predictions.jsonl", labelled, moved=ord(model))
    document = {
        "model": {"id": f"org/{model}", "revision": None},
        "labels": {"source": "annotations", "sha256": labelled["sha256"], "version": version},
        "metrics": {},
    }
    (folder / "results.json").write_text(json.dumps(document), encoding="utf-8")
    return folder


def test_compare_two_predictions_files(tmp_path: Path, labelled, capsys) -> None:
    first = _predictions(tmp_path / "model_a.jsonl", labelled, moved=0)
    second = _predictions(tmp_path / "model_b.jsonl", labelled, moved=NUM_MOVED)
    out = tmp_path / "compare"
    argv = ["compare", str(first), str(second), "--output-dir", str(out), *labelled["options"]]
    assert cli.main(argv) == 0
    printed = capsys.readouterr()
    assert printed.err == ""
    lines = printed.out.splitlines()
    assert lines[0].startswith("model_a: ") and lines[1].startswith("model_b: ")
    assert "multi-label accuracy" in lines[0] and lines[2].startswith("UNVERIFIED labels: ")
    assert lines[3].startswith("Queue: ")
    written = {p.name for p in out.iterdir()}
    expected = {"compare.json", "compare.md", "compare.csv", "queue.jsonl", "solved_vs_top1.png"}
    assert expected <= written and "review" not in written  # no --images: no page
    document = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert [model["name"] for model in document["models"]] == ["model_a", "model_b"]
    assert document["labels"]["sha256"] == labelled["sha256"]
    queue = (out / "queue.jsonl").read_text(encoding="utf-8").splitlines()
    assert f"Queue: {len(queue)} (image, class) pair(s)" in printed.out
    assert 0 < len(queue) <= NUM_MOVED  # model_a predicts each original class: in the labels
    assert {tuple(item["models"]) for item in map(json.loads, queue)} == {("model_b",)}


def _refused(argv: list[str], capsys) -> str:
    """The one line a refused command prints: ``error: ...``, with exit status 2."""
    assert cli.main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ")
    return line


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            lambda root, files: files[:1],
            r"RUN_DIR_OR_PREDICTIONS: expected two or more .*, got 1 \('.*a\.jsonl'\)",
        ),
        (
            lambda root, files: [files[0], root / "nope.jsonl"],
            r"'.*nope\.jsonl' does not exist; expected a `run` folder",
        ),
        (lambda root, files: [files[0], files[0]], r"are identical predictions \(a\); expected"),
        (
            lambda root, files: [files[0], root],
            r"RUN_DIR_OR_PREDICTIONS/predictions.jsonl '.*' does not exist; expected a `run`",
        ),
    ],
    ids=["one model", "unknown file", "the same file twice", "a folder that is no run"],
)
def test_compare_refuses_bad_inputs(
    tmp_path: Path, labelled, capsys, inputs: Any, message: str
) -> None:
    files = [_predictions(tmp_path / f"{name}.jsonl", labelled, moved=3) for name in "ab"]
    out = tmp_path / "out"
    given = [str(path) for path in inputs(tmp_path, files)]
    line = _refused(["compare", *given, "--output-dir", str(out), *labelled["options"]], capsys)
    assert re.search(message, line), line
    assert not out.exists()


def test_compare_refuses_runs_on_different_labels(tmp_path: Path, labelled, capsys) -> None:
    runs = [
        _run_folder(tmp_path, "a", labelled, version="3.0.0"),
        _run_folder(tmp_path, "b", labelled, version="3.0.0+patch.1234abcd"),
    ]
    out = tmp_path / "out"
    argv = ["compare", *map(str, runs), "--output-dir", str(out), *labelled["options"]]
    line = _refused(argv, capsys)
    assert "the runs were scored on different labels (org/a: sha256 " in line
    assert "org/b: sha256 " in line and "version 3.0.0+patch.1234abcd" in line
    assert line.endswith("run or score them all on the same labels")
    assert not out.exists()


def test_compare_refuses_the_same_model_twice(tmp_path: Path, labelled, capsys) -> None:
    run = _run_folder(tmp_path, "a", labelled, version="3.0.0")
    rerun = _run_folder(tmp_path / "again", "a", labelled, version="3.0.0")
    _predictions(rerun / "predictions.jsonl", labelled, moved=5)  # other predictions, same model
    argv = ["compare", str(run), str(rerun), "--output-dir", str(tmp_path / "o")]
    line = _refused([*argv, *labelled["options"]], capsys)
    assert f"'{rerun}' and '{run}' are the same model and revision (org/a)" in line


def test_compare_refuses_an_output_dir_that_is_an_input(tmp_path: Path, labelled, capsys) -> None:
    runs = [_run_folder(tmp_path, name, labelled, version="3.0.0") for name in "ab"]
    before = sorted(path.name for path in runs[0].iterdir())
    argv = ["compare", *map(str, runs), "--output-dir", str(runs[0]), *labelled["options"]]
    line = _refused(argv, capsys)
    assert "--output-dir" in line and str(runs[0]) in line
    assert sorted(path.name for path in runs[0].iterdir()) == before


# ---------------------------------------------------------------------------------------------
# patches merge


def _patch(path: Path, reviewer: str, verdicts: list[str], base: str) -> Path:
    """A patch with one verdict per image 1, 2, ... (class 7 each)."""
    decisions = [
        {"file_name": f"ILSVRC2012_val_{row + 1:08d}.JPEG", "class_id": 7, "verdict": verdict}
        for row, verdict in enumerate(verdicts)
    ]
    document = {
        "format": "imagenet-multilabel-label-patch",
        "format_version": 1,
        "base": base,
        "created": "2026-01-31T12:00:00Z",
        "reviewer": reviewer,
        "decisions": decisions,
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_patches_merge(tmp_path: Path, capsys) -> None:
    paths = [
        _patch(tmp_path / "ana.json", "ana", ["correct", "wrong"], "b" * 64),
        _patch(tmp_path / "ben.json", "ben", ["correct", "correct"], "b" * 64),
    ]
    merged = tmp_path / "merged.json"
    assert cli.main(["patches", "merge", *map(str, paths), "--output", str(merged)]) == 0
    printed = capsys.readouterr().out
    assert "1 of 2 (image, class) pair(s) kept" in printed and "1 conflict(s)" in printed
    assert "Cohen's kappa ana / ben: " in printed and "Fleiss' kappa (2 reviewers): " in printed
    assert f"Wrote {merged} and {tmp_path / 'conflicts.jsonl'}" in printed
    document = json.loads(merged.read_text(encoding="utf-8"))
    assert [(d["file_name"], d["verdict"]) for d in document["decisions"]] == [
        ("ILSVRC2012_val_00000001.JPEG", "correct")
    ]
    assert [source["reviewer"] for source in document["sources"]] == ["ana", "ben"]
    (conflict,) = map(json.loads, (tmp_path / "conflicts.jsonl").read_text().splitlines())
    assert conflict["verdicts"] == {"ana": "wrong", "ben": "correct"}


def test_patches_merge_refuses_a_patch_on_another_base(tmp_path: Path, capsys) -> None:
    paths = [
        _patch(tmp_path / "ana.json", "ana", ["correct"], "b" * 64),
        _patch(tmp_path / "ben.json", "ben", ["correct"], "c" * 64),
    ]
    merged = tmp_path / "merged.json"
    line = _refused(["patches", "merge", *map(str, paths), "--output", str(merged)], capsys)
    assert "the patches apply to different annotation files" in line
    assert f"{paths[0]}: {'b' * 64}; {paths[1]}: {'c' * 64}" in line
    assert not merged.exists() and not (tmp_path / "conflicts.jsonl").exists()


def test_patches_merge_refuses_one_patch(tmp_path: Path, capsys) -> None:
    path = _patch(tmp_path / "ana.json", "ana", ["correct"], "b" * 64)
    merged = tmp_path / "merged.json"
    line = _refused(["patches", "merge", str(path), "--output", str(merged)], capsys)
    assert line.startswith("error: PATCH: expected two or more label patch files")
    assert "a single patch is used as it is), got 1 ('" in line
    assert not merged.exists()

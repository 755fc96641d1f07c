"""Each command's data flows one way (docs/ARCHITECTURE.md, "Routes"): its predictions file is
read once, its ids, probabilities and sha256 in the same pass, whatever it then scores, analyses
and writes. Opens are counted by Python's audit hook, which sees every open of a path."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from imagenet_multilabel.dataset_script.labels.loading import LabelSource
from imagenet_multilabel.eval_cli.commands.cli import main
from run_fixtures import make_workspace, run_args

_watched: dict[str, Counter] = {}  # resolved path -> reads counted while a test watches it


def _count_reads(event: str, args: tuple) -> None:
    if event != "open" or not _watched or not isinstance(args[0], (str, os.PathLike)):
        return
    flags = args[2]
    if isinstance(flags, int) and flags & os.O_ACCMODE != os.O_RDONLY:
        return  # a write (run appends its predictions)
    path = os.path.realpath(args[0])
    if path in _watched:
        _watched[path]["reads"] += 1


sys.addaudithook(_count_reads)  # hooks stay for the process: this one counts only when asked


@contextmanager
def reads_of(*paths: Path) -> Iterator[dict[Path, Counter]]:
    """How many times each of ``paths`` is opened for reading inside the block."""
    counters = {path: Counter() for path in paths}
    _watched.update({os.path.realpath(path): counter for path, counter in counters.items()})
    try:
        yield counters
    finally:
        _watched.clear()


@pytest.fixture
def label_options(annotation_file: tuple[Path, str]) -> list[str]:
    return ["--annotations", str(annotation_file[0]), "--allow-unverified-annotations"]


def _predictions(path: Path, annotation_file: tuple[Path, str], shift: int) -> Path:
    """A prediction with top-5 probabilities, as `run` writes them, for every validation image:
    the first ``shift`` images predicted as the next class (mistakes to analyse)."""
    validation = LabelSource(annotations=annotation_file[0], allow_unverified=True)
    references = validation.load("validation").split("validation")
    lines = []
    for row, (name, original) in enumerate(
        zip(references.file_names.tolist(), references.original_label.tolist(), strict=True)
    ):
        top1 = (original + 1) % 1000 if row < shift else original
        top5 = [top1, *((top1 + k) % 1000 for k in range(1, 5))]
        record = {"file_name": name, "top5": top5, "top5_probs": [0.6, 0.2, 0.1, 0.05, 0.05]}
        lines.append(json.dumps(record) + "\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("command", "output"), [("score", "--output"), ("analyze", "--output-dir")]
)
def test_score_and_analyze_read_their_predictions_once(
    tmp_path, annotation_file, label_options, command, output
) -> None:
    predictions = _predictions(tmp_path / "model.jsonl", annotation_file, shift=30)
    args = [command, "--predictions", str(predictions), *label_options]
    with reads_of(predictions) as reads:
        assert main([*args, output, str(tmp_path / "out")]) == 0
    assert reads[predictions]["reads"] == 1
    if command == "analyze":  # the probabilities came with the one read
        records = (tmp_path / "out" / "mistakes.jsonl").read_text().splitlines()
        assert len(records) >= 30 and json.loads(records[0])["top5_probs"][0] == 0.6


def test_compare_reads_each_predictions_file_once(tmp_path, annotation_file, label_options) -> None:
    models = [
        _predictions(tmp_path / f"{name}.jsonl", annotation_file, shift)
        for name, shift in (("a", 10), ("b", 40))
    ]
    with reads_of(*models) as reads:
        args = ["compare", *map(str, models), *label_options]
        assert main([*args, "--output-dir", str(tmp_path / "out")]) == 0
    assert [reads[model]["reads"] for model in models] == [1, 1]


def test_run_reads_its_predictions_once(tmp_path, fresh_accelerator_state) -> None:
    (tmp_path / "workspace").mkdir()
    workspace = make_workspace(tmp_path / "workspace")
    output = tmp_path / "run"
    predictions = output / "predictions.jsonl"
    with reads_of(predictions) as reads:
        assert main(run_args(workspace, workspace["resnet"], output, "--split", "all")) == 0
    assert reads[predictions]["reads"] == 1
    results = json.loads((output / "results.json").read_text())
    assert results["mistakes"]["split"] == "validation"

"""The public API refuses arguments of the wrong type with one ToolkitError naming the parameter
(issue 13 item 17): never a raw TypeError, a string iterated character by character, or a truthy
string taken as True."""

from __future__ import annotations

from pathlib import Path

import pytest
from imagenet_multilabel.metric.errors import (
    ToolkitError,
    expect_count,
    expect_flag,
    expect_path,
    expect_paths,
)

import imagenet_multilabel as iml

# (call, the message expected); each was a raw TypeError or was accepted before.
WRONG_TYPES = {
    "leaderboard-int": (lambda: iml.write_leaderboard(5), r"^paths: expected a path"),
    "leaderboard-mapping": (
        lambda: iml.write_leaderboard({"runs": 1}),
        r"^paths: expected a path or a list of them, got dict",
    ),
    "merge-ints": (lambda: iml.merge_patches([1, 2]), r"^paths: expected a path.*list \[1, 2\]"),
    "merge-agreement": (
        lambda: iml.merge_patches(["a.json"], min_agreement="2"),
        r"merge_patches\(min_agreement=...\): expected a positive integer",
    ),
    "score-list": (
        lambda: iml.score_predictions(["p"]),
        r"score_predictions\(predictions=...\): expected a path, got list",
    ),
    "score-int": (lambda: iml.score_predictions(5), r"score_predictions\(predictions=...\)"),
    "score-limit-str": (
        lambda: iml.score_predictions("p.jsonl", limit="10"),
        r"score_predictions\(limit=...\): expected a positive integer, got str '10'",
    ),
    "score-limit-bool": (
        lambda: iml.score_predictions("p.jsonl", limit=True),
        r"score_predictions\(limit=...\): .* got bool True",
    ),
    "score-split-list": (
        lambda: iml.score_predictions("p.jsonl", split=["validation"]),
        r"score_predictions\(split=...\): expected a string",
    ),
    "evaluate-images": (
        lambda: iml.evaluate_model("m", images=["t"]),
        r"evaluate_model\(images=...\): expected a path, got list",
    ),
    "evaluate-models-images": (
        lambda: iml.evaluate_models(["m"], images=5),
        r"evaluate_models\(images=...\)",
    ),
    "analyze-images": (
        lambda: iml.analyze_predictions("p.jsonl", output_dir="o", images=["t"]),
        r"analyze_predictions\(images=...\): expected a path",
    ),
    "analyze-limit": (
        lambda: iml.analyze_predictions("p.jsonl", output_dir="o", limit=0),
        r"analyze_predictions\(limit=...\)",
    ),
    "compare-output": (
        lambda: iml.compare_models(["a", "b"], output_dir=3),
        r"compare_models\(output_dir=...\)",
    ),
    "compare-min-models": (
        lambda: iml.compare_models(["a", "b"], output_dir="c", min_models=True),
        r"compare_models\(min_models=...\)",
    ),
    "label-source-flag": (
        lambda: iml.LabelSource(allow_unverified="no"),
        r"LabelSource\(allow_unverified=...\): expected True or False, got str 'no'",
    ),
    "label-source-annotations": (
        lambda: iml.LabelSource(annotations=["a.json"]),
        r"LabelSource\(annotations=...\): expected a path",
    ),
    "load-labels-flag": (
        lambda: iml.load_labels(annotations="a.json", allow_unverified="false"),
        r"load_labels\(allow_unverified=...\): expected True or False",
    ),
    "run-options-split": (
        lambda: iml.RunOptions(split=["validation"]),
        r"RunOptions\(split=...\): expected a string",
    ),
    "run-options-cpu": (
        lambda: iml.RunOptions(cpu="no"),
        r"RunOptions\(cpu=...\): expected True or False",
    ),
    "run-options-output": (
        lambda: iml.RunOptions(output_dir=["o"]),
        r"RunOptions\(output_dir=...\): expected a path",
    ),
}


@pytest.mark.parametrize(("call", "message"), WRONG_TYPES.values(), ids=WRONG_TYPES)
def test_a_wrong_type_is_one_error_naming_the_parameter(call, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the paths named exist: the frame finds nothing to refuse
    for name in ("p.jsonl", "a", "b", "a.json"):
        Path(name).write_text("")
    with pytest.raises(ToolkitError, match=message):
        call()


ONE_PATH_GIVEN = {
    "leaderboard": lambda path: iml.write_leaderboard(path, "o"),
    "leaderboard-pathlike": lambda path: iml.write_leaderboard(Path(path), "o"),
    "merge": lambda path: iml.merge_patches(path),
    "merge-pathlike": lambda path: iml.merge_patches(Path(path)),
    "compare": lambda path: iml.compare_models(path, output_dir="c"),
}


@pytest.mark.parametrize("call", ONE_PATH_GIVEN.values(), ids=ONE_PATH_GIVEN)
def test_one_path_is_one_input_not_its_characters(call, tmp_path, monkeypatch):
    """``write_leaderboard('runs/results.json')`` read 'r', 'u', 'n', ... as paths."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ToolkitError) as raised:
        call("missing_input/results.json")
    assert "missing_input/results.json" in str(raised.value)


def test_the_validators_accept_what_they_name():
    assert expect_paths("a", "p") == ("a",)
    assert expect_paths([Path("a"), "b"], "p") == (Path("a"), "b")
    assert expect_path(None, "p", optional=True) is None
    assert expect_flag(False, "p") is False
    assert expect_count(3, "p") == 3
    with pytest.raises(ToolkitError, match="p: expected a path or a list of them, got bytes"):
        expect_paths(b"ab", "p")
    with pytest.raises(ToolkitError, match="p: expected True or False, got int 1"):
        expect_flag(1, "p")

"""The public API refuses arguments of the wrong type with one ToolkitError naming the parameter
(issue 13 item 17): never a raw TypeError, a string iterated character by character, or a truthy
string taken as True."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
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
        r"^min_agreement: expected a positive integer",
    ),
    "score-list": (
        lambda: iml.score_predictions(["p"]),
        r"^predictions: expected a path, got list",
    ),
    "score-int": (lambda: iml.score_predictions(5), r"^predictions: expected a path, got int"),
    "score-limit-str": (
        lambda: iml.score_predictions("p.jsonl", limit="10"),
        r"^limit: expected a positive integer, got str '10'",
    ),
    "score-limit-bool": (
        lambda: iml.score_predictions("p.jsonl", limit=True),
        r"^limit: .* got bool True",
    ),
    "score-split-list": (
        lambda: iml.score_predictions("p.jsonl", split=["validation"]),
        r"^split: expected a string",
    ),
    "evaluate-images": (
        lambda: iml.evaluate_model("m", images=["t"]),
        r"^images: expected a path, got list",
    ),
    "evaluate-models-images": (
        lambda: iml.evaluate_models(["m"], images=5),
        r"^images: expected a path, got int",
    ),
    "analyze-images": (
        lambda: iml.analyze_predictions("p.jsonl", output_dir="o", images=["t"]),
        r"^images: expected a path",
    ),
    "analyze-limit": (
        lambda: iml.analyze_predictions("p.jsonl", output_dir="o", limit=0),
        r"^limit: expected a positive integer, got int 0",
    ),
    "compare-output": (
        lambda: iml.compare_models(["a", "b"], output_dir=3),
        r"^output_dir: expected a path, got int 3",
    ),
    "compare-min-models": (
        lambda: iml.compare_models(["a", "b"], output_dir="c", min_models=True),
        r"^min_models: expected a positive integer, got bool True",
    ),
    "label-source-flag": (
        lambda: iml.LabelSource(allow_unverified="no"),
        r"^allow_unverified: expected True or False, got str 'no'",
    ),
    "label-source-annotations": (
        lambda: iml.LabelSource(annotations=["a.json"]),
        r"^annotations: expected a path",
    ),
    "load-labels-flag": (
        lambda: iml.load_labels(annotations="a.json", allow_unverified="false"),
        r"^allow_unverified: expected True or False",
    ),
    "run-options-split": (
        lambda: iml.RunOptions(split=["validation"]),
        r"^split: expected a string",
    ),
    "run-options-cpu": (
        lambda: iml.RunOptions(cpu="no"),
        r"^cpu: expected True or False",
    ),
    "run-options-output": (
        lambda: iml.RunOptions(output_dir=["o"]),
        r"^output_dir: expected a path",
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


# The helpers that name a parameter, each with the position of its parameter argument.
SPELLERS = {
    "named": 0,
    "expect_items": 1,
    "expect_paths": 1,
    "expect_path": 1,
    "expect_text": 1,
    "expect_flag": 1,
    "expect_count": 1,
    "check_choice": 1,
}
PACKAGE = Path(__file__).resolve().parents[1]
PACKAGE_FOLDERS = ("metric", "dataset_script", "eval_cli", "imagenet_multilabel")


def _spelled_parameters(tree: ast.AST) -> Iterator[ast.expr]:
    """The parameter argument of each call of a `SPELLERS` helper."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", None))
        if name not in SPELLERS:
            continue
        position = SPELLERS[name]
        if len(node.args) > position:
            yield node.args[position]
        yield from (keyword.value for keyword in node.keywords if keyword.arg == "parameter")


def _written_text(node: ast.expr) -> str:
    """The text a string argument spells out itself: a literal, or an f-string's literal parts."""
    parts = node.values if isinstance(node, ast.JoinedStr) else [node]
    return "".join(
        part.value
        for part in parts
        if isinstance(part, ast.Constant) and isinstance(part.value, str)
    )


def test_every_call_site_names_a_parameter_by_its_own_name():
    """`named` spells a bare name as the caller wrote it (``output_dir`` from Python,
    ``--output-dir`` while a command runs, as the frame does); a spelled-out
    ``"compare_models(images=...)"`` maps to no option, so the command line showed the Python
    form, and messages named one parameter two ways."""
    spelled_out = []
    for folder in PACKAGE_FOLDERS:
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for argument in _spelled_parameters(tree):
                if re.search(r"[(=]", _written_text(argument)):
                    where = f"{path.relative_to(PACKAGE)}:{argument.lineno}"
                    spelled_out.append(f"{where}: {ast.unparse(argument)}")
    assert not spelled_out, f"pass the parameter's bare name: {spelled_out}"

"""The evaluate module checks its inputs as given: evaluate's casting to the features must not
turn a malformed input into a wrong number or a bare KeyError/IndexError (issue 8)."""

from __future__ import annotations

import evaluate
import numpy as np
import pytest
from imagenet_multilabel.metric import PATH
from imagenet_multilabel.metric.references import References, ReferencesError
from imagenet_multilabel.metric.scoring import PredictionsError, check_raw_inputs


def _row(image_id: int, label: int) -> dict:
    return {
        "file_name": f"ILSVRC2012_val_{image_id:08d}.JPEG",
        "image_id": image_id,
        "original_label": label,
        "correct_multi_labels": [label],
        "wrong_multi_labels": [],
        "unclear_multi_labels": [],
        "is_problematic": False,
    }


ROWS = [_row(1, 0), _row(2, 1)]


@pytest.fixture(scope="module")
def metric() -> evaluate.EvaluationModule:
    return evaluate.load(PATH)


def _with(**change) -> list[dict]:
    return [{**ROWS[0], **change}, ROWS[1]]


def _without(key: str) -> list[dict]:
    return [{k: v for k, v in ROWS[0].items() if k != key}, ROWS[1]]


# Each used to give a number (0.9 -> class 0, 999.9 -> 999, "false" -> a skipped image) or a
# traceback from evaluate (IndexError, OverflowError, KeyError).
BAD_INPUTS = {
    "float-prediction": ([0.9, 1], ROWS, r"integer class ids, got dtype float64.*first: 0"),
    "float-999.9": ([999.9, 1], ROWS, r"integer class ids, got dtype float64.*first: 0"),
    "float-in-top-k": ([[0.5, 1], [1, 2]], ROWS, r"integer class ids, got dtype float64"),
    "string-prediction": (["1", 1], ROWS, r"integer class ids.*first: 0"),
    "bool-prediction": ([True, 1], ROWS, r"got booleans in 1 row\(s\), first: 0"),
    "huge-prediction": ([2**70, 1], ROWS, r"integer class ids.*first: 0 \(row 0: \[1180591"),
    "string-flag": ([0, 1], _with(is_problematic="false"), r"booleans.*'false'.*rows: 0"),
    "int-flag": ([0, 1], _with(is_problematic=1), r"'is_problematic'.*booleans.*e\.g\. 1;"),
    "flag-in-a-list": ([0, 1], _with(is_problematic=[True]), r"booleans.*\[True\].*rows: 0"),
    "repeated-top5": (
        [[0, 0, 1, 2, 3], [1, 2, 3, 4, 5]],
        ROWS,
        r"top-k ids of a row must be distinct; 1 row\(s\).*\(row 0: \[0, 0, 1, 2, 3\]\)",
    ),
    "float-label": ([0, 1], _with(original_label=0.5), r"'original_label'.*non-integer"),
    "float-in-label-set": (
        [0, 1],
        _with(correct_multi_labels=[0.7]),
        r"'correct_multi_labels'.*non-integer",
    ),
    "bool-in-label-set": (
        [0, 1],
        _with(wrong_multi_labels=[True, 3]),
        r"'wrong_multi_labels'.*non-integer.*True",
    ),
    "huge-label": ([0, 1], _with(original_label=2**70), r"'original_label'.*0\.\.999"),
    "huge-image-id": ([0, 1], _with(image_id=2**70), r"'image_id': expected an int in 1"),
    "float-image-id": ([0, 1], _with(image_id=1.0), r"'image_id'.*e\.g\. 1\.0"),
    "missing-key": ([0, 1], _without("image_id"), r"exact keys.*row 0: missing \['image_id'\]"),
    "extra-key": (
        [0, 1],
        _with(score=1),
        r"row 0: missing \[\], extra 'score'",
    ),
    "not-a-mapping": ([0, 1], ["ILSVRC2012_val_00000001.JPEG", ROWS[1]], r"a str, not a mapping"),
    "empty": ([], [], r"references are empty"),
    "length": ([0], ROWS, r"got 1 rows for 2 reference rows"),
}


@pytest.mark.parametrize(
    ("predictions", "references", "message"), BAD_INPUTS.values(), ids=BAD_INPUTS
)
def test_compute_refuses_what_casting_would_change(metric, predictions, references, message):
    with pytest.raises(ValueError, match=message) as raised:
        metric.compute(predictions=predictions, references=references, allow_partial=True)
    # evaluate imports its own copy of scoring.py, hence same-named, not identical, classes.
    assert type(raised.value).__name__ in {PredictionsError.__name__, ReferencesError.__name__}
    assert type(raised.value).__mro__[1].__name__ == "ToolkitError"


@pytest.mark.parametrize(
    ("flag", "value"),
    [("imagenet_m", "false"), ("allow_partial", "no"), ("allow_partial", 1), ("imagenet_m", None)],
)
def test_compute_flags_must_be_bools(metric, flag, value):
    """A truthy string used to switch ImageNet-M scoring or partial coverage on."""
    keywords = {"allow_partial": True, flag: value}
    with pytest.raises(ValueError, match=rf"{flag}: expected True or False, got") as raised:
        metric.compute(predictions=[0, 1], references=ROWS, **keywords)
    assert type(raised.value).__name__ == "ToolkitError"


def test_add_and_add_batch_check_too(metric):
    with pytest.raises(ValueError, match="integer class ids"):
        metric.add(prediction=0.9, reference=ROWS[0])
    with pytest.raises(ValueError, match="booleans"):
        metric.add_batch(predictions=[0, 1], references=_with(is_problematic="false"))
    metric.add_batch(predictions=np.array([0, 1]), references=ROWS)  # numpy ints are ints
    assert metric.compute(allow_partial=True)["multilabel_accuracy"] == 1.0


def test_real_configuration_checks_its_rows():
    real = evaluate.load(PATH, "real")
    references = [{"file_name": "ILSVRC2012_val_00000001.JPEG", "real_labels": [0.5]}]
    with pytest.raises(ValueError, match="'real_labels'.*non-integer"):
        real.compute(predictions=[0], references=references)
    with pytest.raises(ValueError, match=r"exact keys \['file_name', 'real_labels'\]"):
        real.compute(predictions=[0], references=[{**references[0], "image_id": 1}])


def test_well_formed_inputs_pass_the_raw_check():
    check_raw_inputs([0, 1], ROWS)
    check_raw_inputs(np.array([[0, 1], [1, 2]]), ROWS)
    check_raw_inputs([0], [{"file_name": "a", "real_labels": []}], column="real_labels")


@pytest.mark.parametrize(
    "change",
    [
        {"file_name": ["x" * 1_000_000] * 2},  # a duplicate 1 MB name
        {"file_name": [b"x" * 1_000_000, "b"]},  # not a string
        {"original_label": ["7" * 1_000_000, 1]},  # not an int
        {"original_label": [10**5000, 1]},  # out of range, 5,001 digits
        {"is_problematic": ["false" * 200_000, False]},
    ],
    ids=["duplicate", "bytes-name", "string-label", "huge-label", "string-flag"],
)
def test_huge_offending_values_are_shortened_in_messages(change):
    columns = {name: [row[name] for row in ROWS] for name in ROWS[0]}
    columns.update(change)
    with pytest.raises(ReferencesError) as raised:
        References.from_columns(columns)
    assert len(str(raised.value)) < 600, len(str(raised.value))


def test_a_prediction_too_large_to_print_is_named_by_its_type():
    with pytest.raises(PredictionsError, match=r"row 0: a list too large to print"):
        check_raw_inputs([[10**5000, 1], [1, 2]], ROWS)

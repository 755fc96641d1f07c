"""metric.scoring against a literal per-image transcription of the official definition."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imagenet_multilabel.dataset_script.dataset_rows import label_features
from imagenet_multilabel.metric.references import (
    LABEL_SET_COLUMNS,
    NUM_CLASSES,
    LabelSets,
    References,
    ReferencesError,
)
from imagenet_multilabel.metric.scoring import (
    CORRECT,
    OUTSIDE_LABEL_SET,
    PROBLEMATIC,
    UNCLEAR,
    VERDICTS,
    WRONG,
    PartialCoverageError,
    PredictionsError,
    judge,
    score,
)

SCORING_FILE = Path(__file__).resolve().parents[1] / "metric" / "scoring.py"
PER_CLASS_KEYS = {
    "multilabel_accuracy",
    "multilabel_accuracy_strict",
    "top1_accuracy_original",
    "multilabel_accuracy_top5",
    "top5_accuracy_original",
    "num_classes_covered",
    "partial",
}


def official_loop(
    predictions: list[list[int]],
    rows: list[dict[str, Any]],
    *,
    imagenet_m: bool = False,
) -> dict[str, Any]:
    """The official definition transcribed literally, as the TFDS README computes it: one dict
    per image, a for-loop, counters per original class. The class mean uses math.fsum (the
    README uses np.mean) so that the comparison can be exact."""
    num_correct_per_class: dict[int, int] = {}
    num_strict_per_class: dict[int, int] = {}
    num_original_per_class: dict[int, int] = {}
    num_top5_per_class: dict[int, int] = {}
    num_original_top5_per_class: dict[int, int] = {}
    num_images_per_class: dict[int, int] = {}
    num_correct = num_scored = num_skipped = num_mistakes = num_rejected = 0
    outside_label_set = []
    for example, prediction in zip(rows, predictions, strict=True):
        # We ignore all problematic images.
        if example["is_problematic"]:
            num_skipped += 1
            continue
        num_scored += 1
        cur_class = example["original_label"]
        if cur_class not in num_images_per_class:
            num_images_per_class[cur_class] = 0
            num_correct_per_class[cur_class] = 0
            num_strict_per_class[cur_class] = 0
            num_original_per_class[cur_class] = 0
            num_top5_per_class[cur_class] = 0
            num_original_top5_per_class[cur_class] = 0
        num_images_per_class[cur_class] += 1
        cur_pred = prediction[0]
        accepted = (
            cur_pred in example["correct_multi_labels"]
            or cur_pred in example["unclear_multi_labels"]
        )
        if accepted:
            num_correct += 1
            num_correct_per_class[cur_class] += 1
        if cur_pred in example["correct_multi_labels"]:
            num_strict_per_class[cur_class] += 1
        if cur_pred == cur_class:
            num_original_per_class[cur_class] += 1
        if any(
            p in example["correct_multi_labels"] or p in example["unclear_multi_labels"]
            for p in prediction[:5]
        ):
            num_top5_per_class[cur_class] += 1
        if cur_class in prediction[:5]:
            num_original_top5_per_class[cur_class] += 1
        if not accepted:
            num_rejected += 1
        if not accepted and cur_pred in example["wrong_multi_labels"]:
            num_mistakes += 1
        if not accepted and cur_pred not in example["wrong_multi_labels"]:
            outside_label_set.append({"file_name": example["file_name"], "prediction": cur_pred})

    def class_mean(counts: dict[int, int]) -> float:
        accuracies = [counts[c] / num_images_per_class[c] for c in num_images_per_class]
        return math.fsum(accuracies) / len(accuracies)

    results: dict[str, Any] = {}
    if not imagenet_m:
        results["multilabel_accuracy"] = class_mean(num_correct_per_class)
    results["multilabel_accuracy_micro"] = num_correct / num_scored
    if imagenet_m:
        results["imagenet_m_correct"] = num_correct
        results["imagenet_m_total"] = num_scored
    else:
        results["multilabel_accuracy_strict"] = class_mean(num_strict_per_class)
        results["top1_accuracy_original"] = class_mean(num_original_per_class)
        if len(predictions[0]) >= 5:
            results["multilabel_accuracy_top5"] = class_mean(num_top5_per_class)
            results["top5_accuracy_original"] = class_mean(num_original_top5_per_class)
        results["num_classes_covered"] = len(num_images_per_class)
        results["partial"] = len(num_images_per_class) < NUM_CLASSES
    results["num_scored"] = num_scored
    results["num_problematic_skipped"] = num_skipped
    results["num_mistakes"] = num_mistakes
    results["num_outside_label_set"] = len(outside_label_set)
    results["num_rejected"] = num_rejected
    results["outside_label_set"] = outside_label_set
    return results


def make_row(
    index: int,
    original: int,
    correct: list[int] | None = None,
    wrong: list[int] | None = None,
    unclear: list[int] | None = None,
    problematic: bool = False,
) -> dict[str, Any]:
    return {
        "file_name": f"ILSVRC2012_val_{index + 1:08d}.JPEG",
        "image_id": index + 1,
        "original_label": original,
        "correct_multi_labels": [original] if correct is None else correct,
        "wrong_multi_labels": wrong or [],
        "unclear_multi_labels": unclear or [],
        "is_problematic": problematic,
    }


def to_columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in rows[0]}


def small_rows() -> list[dict[str, Any]]:
    """Two classes; the card's example."""
    return [
        make_row(0, 0, correct=[0], wrong=[1]),
        make_row(1, 0, correct=[0, 5], unclear=[7]),
        make_row(2, 1, correct=[1], wrong=[2]),
        make_row(3, 1, correct=[], problematic=True),
        make_row(4, 1, correct=[1]),
    ]


def full_split(seed: int, images_per_class: int = 2) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Every class covered by at least one scored image, plus top-5 predictions."""
    rng = np.random.default_rng(seed)
    originals = np.repeat(np.arange(NUM_CLASSES), images_per_class)
    rows = []
    for index, original in enumerate(originals.tolist()):
        others = rng.integers(0, NUM_CLASSES, 4).tolist()
        rows.append(
            make_row(
                index,
                original,
                correct=[original, others[0]] if rng.random() < 0.9 else [others[0]],
                wrong=others[1:3],
                unclear=others[3:] if rng.random() < 0.3 else [],
                problematic=bool(index % images_per_class) and rng.random() < 0.3,
            )
        )
    predictions = rng.integers(0, NUM_CLASSES, (len(rows), 5))
    hit = rng.random(len(rows)) < 0.6
    predictions[hit, 0] = originals[hit]
    return rows, predictions


# --- agreement with the official loop --------------------------------------------------------

POOL = [0, 1, 2, 500, 998, 999]
label_sets = st.lists(st.sampled_from(POOL), max_size=3)


@st.composite
def splits(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[list[int]]]:
    num_rows = draw(st.integers(1, 25))
    k = draw(st.sampled_from([1, 2, 5, 7]))
    rows = [
        make_row(
            index,
            draw(st.sampled_from(POOL)),
            correct=draw(label_sets),
            wrong=draw(label_sets),
            unclear=draw(label_sets),
            problematic=draw(st.booleans()),
        )
        for index in range(num_rows)
    ]
    predictions = draw(
        st.lists(
            st.lists(st.sampled_from(POOL), min_size=k, max_size=k),
            min_size=num_rows,
            max_size=num_rows,
        )
    )
    return rows, predictions


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(split=splits(), imagenet_m=st.booleans())
def test_score_matches_official_loop_on_random_splits(split, imagenet_m):
    rows, predictions = split
    references = References.from_rows(rows)
    if all(row["is_problematic"] for row in rows):
        with pytest.raises(ReferencesError, match="problematic"):
            score(predictions, references, imagenet_m=imagenet_m, allow_partial=True)
        return
    expected = official_loop(predictions, rows, imagenet_m=imagenet_m)
    assert score(predictions, references, imagenet_m=imagenet_m, allow_partial=True) == expected


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.sampled_from([1, 5]))
def test_score_matches_official_loop_on_full_coverage(seed, k):
    rows, predictions = full_split(seed)
    predictions = predictions[:, :k]
    results = score(predictions, References.from_columns(to_columns(rows)))
    assert results == official_loop(predictions.tolist(), rows)
    assert results["partial"] is False and results["num_classes_covered"] == NUM_CLASSES


# --- each key ----------------------------------------------------------------------------------


def test_small_example_keys():
    results = score([0, 7, 2, 1, 9], References.from_rows(small_rows()), allow_partial=True)
    assert results == {
        "multilabel_accuracy": 0.5,  # class 0: 2/2, class 1: 0/2
        "multilabel_accuracy_micro": 0.5,  # 2 of 4 scored
        "multilabel_accuracy_strict": 0.25,  # image 2's 7 is only unclear
        "top1_accuracy_original": 0.25,
        "num_classes_covered": 2,
        "partial": True,
        "num_scored": 4,
        "num_problematic_skipped": 1,
        "num_mistakes": 1,  # image 3 predicted its wrong label 2
        "num_outside_label_set": 1,
        "num_rejected": 2,  # judged wrong + outside the label set: the paper's count of mistakes
        "outside_label_set": [{"file_name": "ILSVRC2012_val_00000005.JPEG", "prediction": 9}],
    }
    json.dumps(results)


def test_judge_gives_each_rank_its_verdict_by_precedence():
    """Problematic beats everything; then correct, unclear, wrong; outside the label set last."""
    rows = small_rows()
    rows[1]["wrong_multi_labels"] = [7, 5]  # 5 is also correct, 7 also unclear
    references = References.from_rows(rows)
    verdicts = judge([[0, 1], [7, 5], [2, 3], [1, 1], [9, 1]], references)
    names = [[VERDICTS[code] for code in row] for row in verdicts.tolist()]
    assert names == [
        ["correct", "wrong"],
        ["unclear", "correct"],
        ["wrong", "outside-label-set"],
        ["problematic", "problematic"],
        ["outside-label-set", "correct"],
    ]
    assert judge([0, 7, 2, 1, 9], references).tolist() == [
        CORRECT,
        UNCLEAR,
        WRONG,
        PROBLEMATIC,
        OUTSIDE_LABEL_SET,
    ]


def test_take_keeps_the_label_sets_of_the_chosen_rows():
    references = References.from_rows(small_rows())
    taken = references.take([4, 1])
    assert taken.file_names.tolist() == [
        "ILSVRC2012_val_00000005.JPEG",
        "ILSVRC2012_val_00000002.JPEG",
    ]
    assert taken.label_lists("correct") == [[1], [0, 5]]
    assert taken.label_lists("unclear") == [[], [7]]
    assert judge([1, 7], taken).tolist() == [CORRECT, UNCLEAR]


def test_top5_keys_appear_only_with_five_or_more_predictions():
    references = References.from_rows(small_rows())
    top5 = np.array([[3, 0, 4, 6, 8], [7, 0, 4, 6, 8], [2, 3, 4, 1, 8], [1] * 5, [9, 3, 4, 6, 8]])
    results = score(top5, references, allow_partial=True)
    assert results["multilabel_accuracy"] == 0.25
    assert results["multilabel_accuracy_top5"] == 0.75
    assert results["top1_accuracy_original"] == 0.0
    assert results["top5_accuracy_original"] == 0.75
    assert "multilabel_accuracy_top5" not in score(top5[:, :4], references, allow_partial=True)


def test_problematic_rows_count_in_no_key():
    rows = small_rows()
    predictions = [0, 7, 2, 1, 9]
    without = score(
        predictions[:3] + predictions[4:],
        References.from_rows(rows[:3] + rows[4:]),
        allow_partial=True,
    )
    with_problematic = score(predictions, References.from_rows(rows), allow_partial=True)
    assert with_problematic["num_problematic_skipped"] == 1
    assert {k: v for k, v in with_problematic.items() if k != "num_problematic_skipped"} == {
        k: v for k, v in without.items() if k != "num_problematic_skipped"
    }


def test_outside_label_set_is_in_row_order_and_excludes_judged_predictions():
    rows = [
        make_row(0, 0, correct=[0], wrong=[3]),
        make_row(1, 1, correct=[1]),
        make_row(2, 2, correct=[2], unclear=[4]),
        make_row(3, 3, correct=[3]),
    ]
    results = score([3, 8, 4, 6], References.from_rows(rows), allow_partial=True)
    assert results["num_mistakes"] == 1
    assert results["outside_label_set"] == [
        {"file_name": "ILSVRC2012_val_00000002.JPEG", "prediction": 8},
        {"file_name": "ILSVRC2012_val_00000004.JPEG", "prediction": 6},
    ]
    assert results["num_outside_label_set"] == 2


def test_imagenet_m_reports_a_count_and_no_per_class_keys():
    results = score([0, 7, 2, 1, 9], References.from_rows(small_rows()), imagenet_m=True)
    assert results["imagenet_m_correct"] == 2 and results["imagenet_m_total"] == 4
    assert results["multilabel_accuracy_micro"] == 0.5
    assert not PER_CLASS_KEYS & results.keys()
    top5 = score([[0, 1, 2, 3, 4]] * 5, References.from_rows(small_rows()), imagenet_m=True)
    assert not PER_CLASS_KEYS & top5.keys()


def test_full_coverage_is_not_partial_and_values_are_plain_python():
    rows, predictions = full_split(seed=7)
    results = score(predictions, References.from_columns(to_columns(rows)))
    assert results["partial"] is False
    for key, value in results.items():
        assert type(value) in (float, int, bool, list), key
    json.dumps(results)


def test_references_accept_numpy_rows_and_ignore_image_id():
    rows = small_rows()
    numpy_rows = [
        {
            **row,
            "original_label": np.int64(row["original_label"]),
            "correct_multi_labels": np.array(row["correct_multi_labels"], dtype=np.int64),
            "is_problematic": np.bool_(row["is_problematic"]),
        }
        for row in rows
    ]
    expected = score([0, 7, 2, 1, 9], References.from_rows(rows), allow_partial=True)
    assert score([0, 7, 2, 1, 9], References.from_rows(numpy_rows), allow_partial=True) == expected
    columns = to_columns(rows)
    del columns["image_id"]
    assert score([0, 7, 2, 1, 9], References.from_columns(columns), allow_partial=True) == expected


# --- errors ------------------------------------------------------------------------------------


def test_partial_coverage_is_an_error_unless_allowed():
    with pytest.raises(PartialCoverageError, match=r"cover 2 of 1000 classes.*allow_partial=True"):
        score([0, 7, 2, 1, 9], References.from_rows(small_rows()))


def test_empty_and_all_problematic_references_are_errors():
    empty = References.from_columns({name: [] for name in small_rows()[0]})
    with pytest.raises(ReferencesError, match="empty"):
        score([], empty, allow_partial=True)
    rows = [make_row(0, 0, problematic=True), make_row(1, 1, problematic=True)]
    with pytest.raises(ReferencesError, match="all 2 reference rows are problematic"):
        score([0, 1], References.from_rows(rows), allow_partial=True)


@pytest.mark.parametrize(
    ("predictions", "message"),
    [
        ([0, 7, 2, 1], r"got 4 rows for 5 reference rows"),
        ([0, 7, 1000, 1, -1], r"0\.\.999; 2 row\(s\).*first: 2, 4"),
        ([[0, 1], [7, 1], [2, 1], [1, 1], [9, 1000]], r"1 row\(s\).*first: 4"),
        ([0.0, 7.5, 2.0, 1.0, 9.5], r"integer class ids, got dtype float64; 2 .*first: 1, 4"),
        ([0, None, 2, 1, 9], r"integer class ids, got dtype object; 1 .*first: 1"),
        (
            ["0", "7", "2", "1", "9"],
            r"integer class ids.*5 offending row\(s\), first: 0, 1, 2, 3, 4",
        ),
        ([True, False, True, True, True], r"integer class ids, got dtype bool"),
        ([[0, 1], [7], [2], [1], [9]], r"same k for every row"),
        (np.zeros((5, 0), dtype=np.int64), r"k >= 1, got shape \(5, 0\)"),
        (np.zeros((5, 1, 1), dtype=np.int64), r"got shape \(5, 1, 1\)"),
    ],
)
def test_bad_predictions_are_errors(predictions, message):
    with pytest.raises(PredictionsError, match=message):
        score(predictions, References.from_rows(small_rows()), allow_partial=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"is_problematic": None}, r"missing column\(s\) \['is_problematic'\]"),
        ({"original_label": [0, 0, 1, 1]}, r"differ in length"),
        ({"file_name": ["a", "b", "a", "c", "b"]}, r"2 file name\(s\) appear more than once"),
        ({"file_name": ["a", "b", 3, "c", None]}, r"expected strings, got 2 .*rows: 2, 4"),
        ({"original_label": [0, 0, 1, 1, 1000]}, r"'original_label'.*0\.\.999.*rows: 4"),
        ({"original_label": [0, 0, 1.0, 1, 1]}, r"'original_label'.*non-integer.*rows: 2"),
        (
            {"correct_multi_labels": [[0], [0, 5], [1, -3], [], [1000]]},
            r"'correct_multi_labels'.*0\.\.999; 2 value\(s\).*in 2 row\(s\).*rows: 2, 4",
        ),
        (
            {"wrong_multi_labels": [[1], [], [2.5], [], ["x"]]},
            r"'wrong_multi_labels'.*2 non-integer.*rows: 2, 4",
        ),
        (
            {"unclear_multi_labels": [[], None, [], 7, []]},
            r"'unclear_multi_labels'.*list of class ids per row.*2 row\(s\).*rows: 1, 3",
        ),
        ({"is_problematic": [False, 0, False, True, "no"]}, r"booleans, got 2 .*rows: 1, 4"),
    ],
)
def test_bad_columns_are_errors(change, message):
    columns = to_columns(small_rows())
    for name, values in change.items():
        if values is None:
            del columns[name]
        else:
            columns[name] = values
    with pytest.raises(ReferencesError, match=message):
        References.from_columns(columns)


# --- References.from_arrow --------------------------------------------------------------------

ARROW_SCHEMA = pa.schema(
    [
        ("file_name", pa.string()),
        ("image_id", pa.int32()),
        ("original_label", pa.int64()),
        *((name, pa.list_(pa.int64())) for name in LABEL_SET_COLUMNS),
        ("is_problematic", pa.bool_()),
    ]
)


class Columns:
    """A duck-typed table: named pyarrow arrays, their lengths unchecked."""

    def __init__(self, arrays: dict[str, pa.Array]) -> None:
        self.arrays = arrays
        self.column_names = list(arrays)

    def column(self, name: str) -> pa.Array:
        return self.arrays[name]


def as_arrow(rows: list[dict[str, Any]], *, pad: int = 0, cuts: Sequence[int] = ()) -> pa.Table:
    """``rows`` as a slice of a longer table (``pad`` more rows either side), in one chunk per
    piece between ``cuts``: each chunk's list offsets then start past 0."""
    before = [make_row(50_000 + i, 3, wrong=[4, 5], unclear=[6]) for i in range(pad)]
    after = [make_row(60_000 + i, 7, wrong=[8], unclear=[9, 10]) for i in range(pad)]
    table = pa.Table.from_pylist(before + rows + after, schema=ARROW_SCHEMA).slice(pad, len(rows))
    bounds = [0, *sorted(cuts), len(rows)]
    return pa.concat_tables(
        [table.slice(start, stop - start) for start, stop in zip(bounds, bounds[1:], strict=False)]
    )


def assert_same_references(actual: References, expected: References) -> None:
    for field in dataclasses.fields(References):
        got, want = getattr(actual, field.name), getattr(expected, field.name)
        pairs = (
            [(got.rows, want.rows), (got.classes, want.classes)]
            if isinstance(want, LabelSets)
            else [(got, want)]
        )
        for got_array, want_array in pairs:
            assert got_array.dtype == want_array.dtype, field.name
            assert got_array.tolist() == want_array.tolist(), field.name


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(split=splits(), pad=st.integers(0, 3), data=st.data())
def test_from_arrow_equals_from_columns_on_sliced_chunked_tables(split, pad, data):
    rows, predictions = split
    if data.draw(st.booleans(), label="unsorted"):  # distinct names, but not in order
        order = data.draw(st.permutations(range(len(rows))))
        rows, predictions = [rows[i] for i in order], [predictions[i] for i in order]
    cuts = data.draw(st.lists(st.integers(0, len(rows)), max_size=3), label="cuts")
    table = as_arrow(rows, pad=pad, cuts=cuts)
    assert table.column("correct_multi_labels").num_chunks == len(cuts) + 1
    references = References.from_arrow(table)
    expected = References.from_columns(to_columns(rows))
    assert_same_references(references, expected)
    if not all(row["is_problematic"] for row in rows):
        assert score(predictions, references, allow_partial=True) == score(
            predictions, expected, allow_partial=True
        )


def test_from_arrow_reads_a_labels_dataset_and_its_selections():
    rows, predictions = full_split(seed=3)
    dataset = datasets.Dataset.from_dict(to_columns(rows), features=label_features())
    expected = References.from_rows(rows)
    references = References.from_arrow(dataset.data.table)
    assert_same_references(references, expected)
    assert score(predictions, references) == score(predictions, expected)
    picked = [5, 0, 1999, 17, 3]  # an indices mapping, which only with_format("arrow") applies
    selection = dataset.select(picked).with_format("arrow")[:]
    assert_same_references(
        References.from_arrow(selection), References.from_rows([rows[i] for i in picked])
    )


def test_from_arrow_takes_record_batches_and_inferred_types():
    rows = [make_row(index, index % 3, unclear=[]) for index in range(4)]
    batch = pa.RecordBatch.from_pylist(rows, schema=ARROW_SCHEMA)
    inferred = pa.Table.from_pylist(rows)
    assert inferred.schema.field("unclear_multi_labels").type == pa.list_(pa.null())
    for table in (batch, inferred, as_arrow([])):
        expected = References.from_rows(rows if len(table) else [])
        assert_same_references(References.from_arrow(table), expected)


def test_from_arrow_reads_class_ids_in_place():
    """No Python list in between: the class ids are the table's own memory."""
    table = as_arrow(full_split(seed=1)[0], pad=2)
    references = References.from_arrow(table)
    labels = table.column("original_label").chunk(0)
    correct = table.column("correct_multi_labels").chunk(0).flatten()
    assert np.shares_memory(references.original_label, labels.to_numpy())
    assert np.shares_memory(references.correct.classes, correct.to_numpy())


@pytest.mark.parametrize(
    "change",
    [
        {"is_problematic": None},
        {"original_label": [0, 0, 1, 1]},
        {"file_name": ["a", "b", "a", "c", "b"]},
        {"file_name": [f"ILSVRC2012_val_{i:08d}.JPEG" for i in (1, 2, 2, 3, 3)]},
        {"original_label": [0, 0, 1, 1, 1000]},
        {"correct_multi_labels": [[0], [0, 5], [1, -3], [], [1000]]},
    ],
)
def test_from_arrow_raises_the_errors_of_from_columns(change):
    columns = to_columns(small_rows())
    for name, values in change.items():
        if values is None:
            del columns[name]
        else:
            columns[name] = values
    with pytest.raises(ReferencesError) as expected:
        References.from_columns(columns)
    arrays = {
        name: pa.array(values, type=ARROW_SCHEMA.field(name).type)
        for name, values in columns.items()
    }
    with pytest.raises(ReferencesError) as error:
        References.from_arrow(Columns(arrays))
    assert str(error.value) == str(expected.value)


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("file_name", ["a", None, "c", "d", "e"], r"'file_name': 1 null value\(s\).*rows: 1$"),
        ("original_label", [0, 0, None, 1, None], r"'original_label': 2 null.*rows: 2, 4$"),
        ("wrong_multi_labels", [[1], None, [2], [], []], r"'wrong_multi_labels': 1 null.*: 1$"),
        (
            "correct_multi_labels",
            [[0], [0, None], [1], [], [None, 1]],
            r"'correct_multi_labels': null class ids in 2 row\(s\).*rows: 1, 4$",
        ),
        ("is_problematic", [False, None, False, True, False], r"'is_problematic': 1 null"),
        ("file_name", [1, 2, 3, 4, 5], r"'file_name': expected strings, got Arrow type int64"),
        ("original_label", [0.0, 0.0, 1.0, 1.0, 1.0], r"integer class ids, got Arrow type double"),
        ("wrong_multi_labels", [["x"], [], [], [], []], r"ids, got Arrow type string"),
        ("unclear_multi_labels", [1, 2, 3, 4, 5], r"a list of class ids per row, got .*int64"),
        ("is_problematic", [0, 1, 0, 1, 0], r"'is_problematic': expected booleans, got .*int64"),
    ],
)
def test_from_arrow_refuses_nulls_and_wrong_types(name, values, message):
    arrays = {
        column: pa.array(column_values, type=ARROW_SCHEMA.field(column).type)
        for column, column_values in to_columns(small_rows()).items()
    }
    arrays[name] = pa.array(values)
    with pytest.raises(ReferencesError, match=message):
        References.from_arrow(pa.table(arrays))


def test_rows_without_a_key_are_errors():
    rows = small_rows()
    del rows[1]["wrong_multi_labels"], rows[3]["wrong_multi_labels"]
    with pytest.raises(ReferencesError, match=r"2 row\(s\) lack key 'wrong_multi_labels'.*1, 3"):
        References.from_rows(rows)


def test_scoring_imports_only_numpy(tmp_path):
    """It is uploaded to the Space next to the module with references.py and errors.py alone, so
    it must not need this repository: copied into a bare package, it imports with the toolkit
    blocked."""
    space = tmp_path / "space"
    space.mkdir()
    (space / "__init__.py").write_text("")
    for name in ("scoring.py", "references.py", "errors.py"):
        (space / name).write_text((SCORING_FILE.parent / name).read_text())
    blocked = [
        "evaluate",
        "datasets",
        "imagenet_multilabel",
        "dataset_script",
        "eval_cli",
        "metric",
        "torch",
        "pandas",
        "pyarrow",
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "module = importlib.import_module('space.scoring')\n"
        "print(module.TOP_K, module.References.__module__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "5 space.references"

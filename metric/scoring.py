"""The one scoring implementation of the ImageNet multi-label metric, in vectorised numpy.

Official rule (Shankar et al. 2020; Vasudevan et al. 2022): skip images marked problematic; a
top-1 prediction is correct when it is in ``correct_multi_labels`` or ``unclear_multi_labels``;
average per ORIGINAL class, then over the classes. This file and ``references.py`` (the labels
contract and ``References``) import only numpy because they are uploaded to the Hub Space next to
the ``evaluate`` module, which imports them as ``.scoring`` and ``.references``.

Every number is an aggregate of ``judge``'s per-image verdicts; ``check_raw_inputs`` refuses, by
the same rules, the inputs that the ``evaluate`` module's cast would otherwise change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .errors import ToolkitError, brief_repr, first_few
from .references import (
    LABEL_COLUMNS,
    NUM_CLASSES,
    NUM_VALIDATION_IMAGES,
    References,
    ReferencesError,
    SetReferences,
    class_ids_in_range,
    first_rows,
    is_bool,
    is_int,
    values_error,
)

TOP_K = 5


class PredictionsError(ToolkitError):
    """The predictions are not top-1/top-k class ids aligned with the references."""


class PartialCoverageError(ToolkitError):
    """The scored images do not cover all classes, so the per-class mean is not official."""


def _rows_where(mask: np.ndarray) -> np.ndarray:
    """Row indices where a per-row (or per-row-and-column) mask is true."""
    return np.flatnonzero(mask.any(axis=1) if mask.ndim == 2 else mask)


def _is_class_id(value: Any) -> bool:
    return is_int(value) and 0 <= value < NUM_CLASSES


def prediction_matrix(predictions: ArrayLike, num_rows: int) -> np.ndarray:
    """Predictions as an (N, k) int64 matrix, column 0 the top-1 class id."""
    try:
        array = np.asarray(predictions)
    except ValueError as error:
        raise PredictionsError(
            f"predictions: expected shape (N,) top-1 ids or (N, k) top-k ids with the same k "
            f"for every row ({error})"
        ) from None
    if array.ndim not in (1, 2) or (array.ndim == 2 and array.shape[1] == 0):
        raise PredictionsError(
            f"predictions: expected shape (N,) or (N, k) with k >= 1, got shape {array.shape}"
        )
    if len(array) != num_rows:
        raise PredictionsError(
            f"predictions: got {len(array)} rows for {num_rows} reference rows; align them by "
            f"file name first"
        )
    matrix = array.reshape(num_rows, -1)
    if matrix.dtype.kind not in "iu":
        if matrix.dtype.kind == "f":
            bad = _rows_where(matrix != np.round(matrix))
        else:  # object: also ints too large for int64
            bad = _rows_where(
                np.vectorize(lambda value: not _is_class_id(value), otypes=[bool])(matrix)
            )
        shown = (
            f"; {bad.size} offending row(s), first: {first_rows(bad)} "
            f"(row {bad[0]}: {brief_repr(matrix[bad[0]].tolist())})"
            if bad.size
            else ""
        )
        raise PredictionsError(
            f"predictions: expected integer class ids, got dtype {matrix.dtype}{shown}"
        )
    if matrix.min() < 0 or matrix.max() >= NUM_CLASSES:
        bad = _rows_where((matrix < 0) | (matrix >= NUM_CLASSES))
        raise PredictionsError(
            f"predictions: class ids must be in 0..{NUM_CLASSES - 1}; {bad.size} row(s) hold ids "
            f"outside, first: {first_rows(bad)} (row {bad[0]}: {matrix[bad[0]].tolist()})"
        )
    return matrix.astype(np.int64, copy=False)


def _check_distinct_ids(matrix: np.ndarray) -> None:
    """Top-k ids of a row are k different classes, as predictions files must hold them: a
    top-5 of four classes would be scored as if it were five guesses."""
    ordered = np.sort(matrix, axis=1)
    repeated = _rows_where(ordered[:, 1:] == ordered[:, :-1])
    if repeated.size:
        raise PredictionsError(
            f"predictions: the top-k ids of a row must be distinct; {repeated.size} row(s) repeat "
            f"an id, first: {first_rows(repeated)} "
            f"(row {repeated[0]}: {matrix[repeated[0]].tolist()})"
        )


# Verdicts of one prediction on one image, as ``judge`` returns them. A prediction is judged by
# the first set that holds it, in this order; the official score accepts correct and unclear.
VERDICTS = ("problematic", "correct", "unclear", "wrong", "outside-label-set")
PROBLEMATIC, CORRECT, UNCLEAR, WRONG, OUTSIDE_LABEL_SET = range(len(VERDICTS))


def judge(predictions: ArrayLike, references: References) -> np.ndarray:
    """The verdict code (index into ``VERDICTS``) of each prediction, row-aligned.

    Top-1 ids (N,) give (N,) verdicts; top-k ids (N, k) give (N, k), one per rank. Problematic
    images are ``PROBLEMATIC`` whatever was predicted; otherwise a class in the image's
    ``correct`` set is ``CORRECT``, else in ``unclear`` ``UNCLEAR``, else in ``wrong``
    ``WRONG``, else ``OUTSIDE_LABEL_SET`` (in none of the image's label sets: the labels do not
    judge it).
    """
    num_rows = len(references)
    matrix = prediction_matrix(predictions, num_rows)
    verdicts = _judge_ranks(np.ascontiguousarray(matrix.T), references).T
    return verdicts[:, 0].copy() if np.ndim(predictions) == 1 else np.ascontiguousarray(verdicts)


def _judge_ranks(ranks: np.ndarray, references: References) -> np.ndarray:
    """(k, N) verdict codes for (k, N) class ids: one contiguous row per rank."""
    verdicts = np.full(ranks.shape, OUTSIDE_LABEL_SET, dtype=np.int8)
    # Lowest precedence first, so that each later assignment overrides.
    for code, label_sets in ((WRONG, references.wrong), (UNCLEAR, references.unclear)):
        verdicts[label_sets.contains(ranks)] = code
    verdicts[references.correct.contains(ranks)] = CORRECT
    verdicts[:, references.is_problematic] = PROBLEMATIC
    return verdicts


def score(
    predictions: ArrayLike,
    references: References,
    *,
    imagenet_m: bool = False,
    allow_partial: bool = False,
) -> dict[str, Any]:
    """Score top-1 (N,) or top-k (N, k) class ids, row-aligned with ``references``.

    Every number is an aggregate of ``judge``'s verdicts. Per-class keys
    (``multilabel_accuracy``, ``multilabel_accuracy_strict``, ``top1_accuracy_original`` and with
    k >= 5 ``multilabel_accuracy_top5``, ``top5_accuracy_original``) average per original class,
    then over classes, all on the same non-problematic images. With fewer than 1,000 classes
    covered that mean is not the official number: it raises ``PartialCoverageError`` unless
    ``allow_partial`` (then ``partial`` is True). ``imagenet_m`` scores the 68-image ImageNet-M
    split: a count, no per-class keys.
    """
    num_rows = len(references)
    if num_rows == 0:
        raise ReferencesError("references are empty: nothing to score")
    matrix = prediction_matrix(predictions, num_rows)
    scored = ~references.is_problematic
    num_scored = int(np.count_nonzero(scored))
    if num_scored == 0:
        raise ReferencesError(
            f"all {num_rows} reference rows are problematic: no image is left to score"
        )
    # (k, N): one contiguous row per rank, rank 0 the top-1 prediction, over all images.
    ranks = np.ascontiguousarray(matrix[:, :TOP_K].T)
    verdicts = _judge_ranks(ranks, references)
    accepted = (verdicts == CORRECT) | (verdicts == UNCLEAR)
    top1 = verdicts[0]
    num_accepted = int(np.count_nonzero(accepted[0]))
    outside_rows = np.flatnonzero(top1 == OUTSIDE_LABEL_SET)

    results: dict[str, Any] = {}
    if not imagenet_m:
        # Problematic images go to an extra bin past the last class, which is then dropped.
        bins = np.where(scored, references.original_label, NUM_CLASSES)
        images = np.bincount(bins, minlength=NUM_CLASSES + 1)[:NUM_CLASSES]
        covered = images > 0
        images = images[covered]
        num_covered = len(images)
        if num_covered < NUM_CLASSES and not allow_partial:
            raise PartialCoverageError(
                f"the {num_scored} scored images cover {num_covered} of {NUM_CLASSES} classes, so "
                f"the per-class mean is not the official score; pass allow_partial=True to get "
                f"the mean over the covered classes, marked partial"
            )

        def class_mean(hits: np.ndarray) -> float:
            """Mean over the covered classes of the per-class accuracy of per-image ``hits``."""
            per_class = np.bincount(bins, weights=hits, minlength=NUM_CLASSES + 1)[:NUM_CLASSES]
            return math.fsum(per_class[covered] / images) / num_covered

        results["multilabel_accuracy"] = class_mean(accepted[0])
    results["multilabel_accuracy_micro"] = num_accepted / num_scored
    if imagenet_m:
        results["imagenet_m_correct"] = num_accepted
        results["imagenet_m_total"] = num_scored
    else:
        original_hit = (ranks == references.original_label) & scored
        results["multilabel_accuracy_strict"] = class_mean(top1 == CORRECT)
        results["top1_accuracy_original"] = class_mean(original_hit[0])
        if len(ranks) == TOP_K:
            results["multilabel_accuracy_top5"] = class_mean(accepted.any(axis=0))
            results["top5_accuracy_original"] = class_mean(original_hit.any(axis=0))
        results["num_classes_covered"] = num_covered
        results["partial"] = num_covered < NUM_CLASSES
    results["num_scored"] = num_scored
    results["num_problematic_skipped"] = num_rows - num_scored
    results["num_mistakes"] = int(np.count_nonzero(top1 == WRONG))
    results["num_outside_label_set"] = int(outside_rows.size)
    results["num_rejected"] = results["num_mistakes"] + results["num_outside_label_set"]
    results["outside_label_set"] = [
        {"file_name": file_name, "prediction": prediction}
        for file_name, prediction in zip(
            references.file_names[outside_rows].tolist(),
            matrix[outside_rows, 0].tolist(),
            strict=True,
        )
    ]
    return results


# ---------------------------------------------------------------------------------------------
# All 50,000 validation images: the original single labels, and the label sets that accept a set
# of classes per image (`label_sets.AcceptedSet`)


def score_original(predictions: ArrayLike, original_label: ArrayLike) -> dict[str, Any]:
    """Top-1 (and with k >= 5 top-5) accuracy against the one original label of each image, as a
    plain mean over images: on all 50,000 validation images, the number timm's results tables
    and model cards report."""
    labels = np.asarray(original_label)
    if labels.ndim != 1 or labels.size == 0 or labels.dtype.kind not in "iu":
        raise ReferencesError(
            f"original labels: expected a non-empty 1-d array of integer class ids, got shape "
            f"{labels.shape} of dtype {labels.dtype}"
        )
    labels = class_ids_in_range(labels, "original labels", np.arange(labels.size))
    matrix = prediction_matrix(predictions, labels.size)
    hits = matrix[:, :TOP_K] == labels[:, None]
    results: dict[str, Any] = {"top1_accuracy": int(np.count_nonzero(hits[:, 0])) / labels.size}
    if hits.shape[1] == TOP_K:
        results["top5_accuracy"] = int(np.count_nonzero(hits.any(axis=1))) / labels.size
    results["num_scored"] = int(labels.size)
    return results


def score_accepted(predictions: ArrayLike, references: SetReferences) -> dict[str, Any]:
    """Accuracy against a set of accepted classes per image: a top-1 prediction is correct when it
    is in the image's set, averaged over the images that have one (the others are counted in
    ``num_left_out``); with k >= 5 also top-5 (any of the first five in the set), as timm reports
    for such sets. The keys are generic; each label set names them (`label_sets.AcceptedSet`)."""
    num_rows = len(references)
    if num_rows == 0:
        raise ReferencesError("references are empty: nothing to score")
    matrix = prediction_matrix(predictions, num_rows)
    labelled = np.zeros(num_rows, dtype=bool)
    labelled[references.labels.rows] = True
    num_scored = int(np.count_nonzero(labelled))
    if num_scored == 0:
        raise ReferencesError(
            f"none of the {num_rows} images has an accepted class: nothing to score"
        )
    hits = references.labels.contains(np.ascontiguousarray(matrix[:, :TOP_K].T))
    results: dict[str, Any] = {"accuracy": int(np.count_nonzero(hits[0])) / num_scored}
    if len(hits) == TOP_K:
        results["accuracy_top5"] = int(np.count_nonzero(hits.any(axis=0))) / num_scored
    results["num_scored"] = num_scored
    results["num_left_out"] = num_rows - num_scored
    return results


# ---------------------------------------------------------------------------------------------
# Inputs as given to the ``evaluate`` module, before its casting

# The keys of one reference row, exactly: the labels dataset's columns (image_id included).
ROW_KEYS = tuple(LABEL_COLUMNS)


def check_raw_inputs(predictions: Any, references: Any, *, column: str | None = None) -> None:
    """Refuse the inputs that a cast would change, before the ``evaluate`` module casts them.

    ``evaluate`` encodes every batch to the module's Arrow features before the scorer sees it:
    0.9 becomes class 0, ``"false"`` a problematic image, 2**70 an OverflowError, a missing or
    extra key a bare KeyError. So the batch is checked as given, by the scorer's own rules:
    rows with exactly ``ROW_KEYS`` (``file_name`` and ``column`` for a label set's column of
    accepted classes), class ids that are ints in 0..999 (not floats, strings or bools), distinct
    within a top-k row, flags that are bools, image ids in 1..50,000.
    """
    if predictions is None or references is None:
        raise PredictionsError("pass predictions and references together, one per image")
    if len(references) == 0:
        raise ReferencesError("references are empty: nothing to score")
    _check_row_keys(references, ROW_KEYS if column is None else ("file_name", column))
    if column is not None:
        SetReferences.from_rows(references, column)
    else:
        References.from_rows(references)
        image_ids = [row["image_id"] for row in references]
        bad = [row for row, image_id in enumerate(image_ids) if not _is_image_id(image_id)]
        if bad:
            expected = f"an int in 1..{NUM_VALIDATION_IMAGES:,}"
            raise values_error("references 'image_id'", expected, "other", image_ids, bad, bad)
    _check_distinct_ids(prediction_matrix(predictions, len(references)))
    if isinstance(predictions, list | tuple):  # numpy would make [True, 2] an int array
        flags = np.vectorize(is_bool, otypes=[bool])(np.asarray(predictions, dtype=object))
        bad = _rows_where(flags)
        if bad.size:
            raise PredictionsError(
                f"predictions: expected integer class ids, got booleans in {bad.size} row(s), "
                f"first: {first_rows(bad)}"
            )


def _check_row_keys(rows: Sequence[Any], keys: Sequence[str]) -> None:
    """Every row a mapping with exactly ``keys``."""
    expected = set(keys)
    bad = [
        row
        for row, mapping in enumerate(rows)
        if not isinstance(mapping, Mapping) or mapping.keys() != expected
    ]
    if bad:
        first = rows[bad[0]]
        if isinstance(first, Mapping):
            missing = [key for key in keys if key not in first]
            extra = sorted(map(str, first.keys() - expected))
            found = f"missing {missing}, extra {first_few(map(repr, extra))}"
        else:
            found = f"a {type(first).__name__}, not a mapping"
        raise ReferencesError(
            f"references: {len(bad)} row(s) lack the exact keys {list(keys)}; first offending "
            f"rows: {first_rows(bad)} (row {bad[0]}: {found})"
        )


def _is_image_id(value: Any) -> bool:
    return is_int(value) and 1 <= value <= NUM_VALIDATION_IMAGES

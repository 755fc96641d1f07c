"""The one scoring implementation of the ImageNet multi-label metric, in vectorised numpy.

Official rule (Shankar et al. 2020; Vasudevan et al. 2022): skip images marked problematic; a
top-1 prediction is correct when it is in ``correct_multi_labels`` or ``unclear_multi_labels``;
average per ORIGINAL class, then over the classes. This file imports only numpy because it is
uploaded to the Hub Space next to the ``evaluate`` module, which imports it as ``.scoring``.

Each label-set column is stored flat (``LabelSets``: image ``rows[i]`` holds ``classes[i]``), so
"is row r's prediction in row r's set" for every row at once is one gather, one comparison and
one scatter over the labels, with no per-row Python and no search.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

NUM_CLASSES = 1000
TOP_K = 5
LABEL_SET_COLUMNS = ("correct_multi_labels", "wrong_multi_labels", "unclear_multi_labels")
REQUIRED_COLUMNS = ("file_name", "original_label", *LABEL_SET_COLUMNS, "is_problematic")
_SHOWN = 5


class ReferencesError(ValueError):
    """The labels handed to the scorer break the labels column contract."""


class PredictionsError(ValueError):
    """The predictions are not top-1/top-k class ids aligned with the references."""


class PartialCoverageError(ValueError):
    """The scored images do not cover all classes, so the per-class mean is not official."""


def _first(indices: Iterable[int]) -> str:
    """The first few offending positions, for error messages."""
    return ", ".join(str(int(index)) for index in itertools.islice(indices, _SHOWN))


def _rows_where(mask: np.ndarray) -> np.ndarray:
    """Row indices where a per-row (or per-row-and-column) mask is true."""
    return np.flatnonzero(mask.any(axis=1) if mask.ndim == 2 else mask)


def _integer_array(values: list[Any], what: str, rows_of_values: np.ndarray) -> np.ndarray:
    """Class ids as int64 in 0..NUM_CLASSES-1; ``rows_of_values`` maps each value to its row."""
    if not values:
        return np.zeros(0, dtype=np.int64)
    try:
        array = np.array(values)
    except ValueError:  # ragged nesting: some values are themselves lists
        array = None
    if array is None or array.ndim != 1 or array.dtype.kind not in "iu":
        bad = [i for i, value in enumerate(values) if not _is_int(value)]
        if bad:
            raise ReferencesError(
                f"{what}: expected integer class ids, got {len(bad)} non-integer value(s), e.g. "
                f"{values[bad[0]]!r}; first offending rows: {_first(rows_of_values[bad])}"
            )
        # Only Python ints too large for int64 get here.
        array = np.array([min(max(value, -1), NUM_CLASSES) for value in values])
    out_of_range = np.flatnonzero((array < 0) | (array >= NUM_CLASSES))
    if out_of_range.size:
        rows = np.unique(rows_of_values[out_of_range])
        raise ReferencesError(
            f"{what}: class ids must be in 0..{NUM_CLASSES - 1}; {out_of_range.size} value(s) "
            f"outside (e.g. {values[out_of_range[0]]}) in {rows.size} row(s); "
            f"first offending rows: {_first(rows)}"
        )
    return array.astype(np.int64, copy=False)


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


@dataclass(frozen=True)
class LabelSets:
    """One label-set column in flat form: image ``rows[i]`` has class ``classes[i]``."""

    rows: np.ndarray
    classes: np.ndarray

    def __or__(self, other: LabelSets) -> LabelSets:
        """Row-wise union (a class listed twice for a row changes no membership)."""
        return LabelSets(
            rows=np.concatenate([self.rows, other.rows]),
            classes=np.concatenate([self.classes, other.classes]),
        )

    def contains_any(self, queries: np.ndarray) -> np.ndarray:
        """Per row, whether any of its class ids (an (N,) or (N, k) array) is in its set."""
        columns = queries.reshape(len(queries), -1)
        matches = columns[self.rows, 0] == self.classes
        for column in range(1, columns.shape[1]):
            matches |= columns[self.rows, column] == self.classes
        hits = np.zeros(len(queries), dtype=bool)
        hits[self.rows[matches]] = True
        return hits


def _label_sets(column: Sequence[Any], name: str) -> LabelSets:
    """Flatten one ragged label-set column (a list of class ids per row)."""
    num_rows = len(column)
    try:
        lengths = np.fromiter(map(len, column), dtype=np.int64, count=num_rows)
    except TypeError:
        bad = [row for row, labels in enumerate(column) if not hasattr(labels, "__len__")]
        raise ReferencesError(
            f"column {name!r}: expected a list of class ids per row, got "
            f"{type(column[bad[0]]).__name__} in {len(bad)} row(s); first offending rows: "
            f"{_first(bad)}"
        ) from None
    rows = np.repeat(np.arange(num_rows, dtype=np.int64), lengths)
    classes = _integer_array(list(itertools.chain.from_iterable(column)), f"column {name!r}", rows)
    return LabelSets(rows=rows, classes=classes)


@dataclass(frozen=True)
class References:
    """One split's labels, row-aligned, as arrays (see ``from_columns`` for the contract)."""

    file_names: np.ndarray
    original_label: np.ndarray
    is_problematic: np.ndarray
    correct: LabelSets
    wrong: LabelSets
    unclear: LabelSets

    def __len__(self) -> int:
        return len(self.file_names)

    @classmethod
    def from_columns(cls, columns: Mapping[str, Sequence[Any]]) -> References:
        """Build from the labels column contract of docs/ARCHITECTURE.md.

        Needs ``file_name``, ``original_label``, ``correct_multi_labels``,
        ``wrong_multi_labels``, ``unclear_multi_labels`` and ``is_problematic``; other columns
        (``image_id``) are ignored.
        """
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            raise ReferencesError(
                f"labels are missing column(s) {missing}; got {sorted(columns)}, "
                f"expected {list(REQUIRED_COLUMNS)}"
            )
        lengths = {name: len(columns[name]) for name in REQUIRED_COLUMNS}
        if len(set(lengths.values())) > 1:
            raise ReferencesError(f"labels columns differ in length: {lengths}")
        file_names = _file_names(columns["file_name"])
        row_index = np.arange(len(file_names))
        original_label = _integer_array(
            list(columns["original_label"]), "column 'original_label'", row_index
        )
        is_problematic = np.array(list(columns["is_problematic"]))
        if is_problematic.size and is_problematic.dtype != np.bool_:
            bad = [i for i, flag in enumerate(columns["is_problematic"]) if not _is_bool(flag)]
            raise ReferencesError(
                f"column 'is_problematic': expected booleans, got {len(bad)} other value(s), "
                f"e.g. {columns['is_problematic'][bad[0]]!r}; first offending rows: {_first(bad)}"
            )
        correct, wrong, unclear = (_label_sets(columns[name], name) for name in LABEL_SET_COLUMNS)
        return cls(
            file_names=file_names,
            original_label=original_label,
            is_problematic=is_problematic.astype(bool, copy=False),
            correct=correct,
            wrong=wrong,
            unclear=unclear,
        )

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]]) -> References:
        """Build from one mapping per image (what the ``evaluate`` module receives)."""
        columns: dict[str, list[Any]] = {}
        for name in REQUIRED_COLUMNS:
            try:
                columns[name] = list(map(itemgetter(name), rows))
            except (KeyError, TypeError):
                bad = [
                    row
                    for row, mapping in enumerate(rows)
                    if not isinstance(mapping, Mapping) or name not in mapping
                ]
                raise ReferencesError(
                    f"references: {len(bad)} row(s) lack key {name!r}; first offending rows: "
                    f"{_first(bad)}; every row needs {list(REQUIRED_COLUMNS)}"
                ) from None
        return cls.from_columns(columns)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def _file_names(column: Sequence[Any]) -> np.ndarray:
    """File names as a str array; non-strings and duplicates are errors."""
    names = list(column)
    if not all(issubclass(kind, str) for kind in set(map(type, names))):
        bad = [row for row, name in enumerate(names) if not isinstance(name, str)]
        raise ReferencesError(
            f"column 'file_name': expected strings, got {len(bad)} other value(s), e.g. "
            f"{names[bad[0]]!r}; first offending rows: {_first(bad)}"
        )
    if len(set(names)) != len(names):
        seen: set[str] = set()
        duplicates = [name for name in names if name in seen or seen.add(name)]
        raise ReferencesError(
            f"column 'file_name': {len(set(duplicates))} file name(s) appear more than once "
            f"({len(duplicates)} extra rows), e.g. {sorted(set(duplicates))[:_SHOWN]}; every "
            f"image must appear once"
        )
    return np.array(names, dtype=str)


def _prediction_matrix(predictions: ArrayLike, num_rows: int) -> np.ndarray:
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
        else:
            bad = _rows_where(np.vectorize(lambda value: not _is_int(value), otypes=[bool])(matrix))
        shown = f"; {bad.size} offending row(s), first: {_first(bad)}" if bad.size else ""
        raise PredictionsError(
            f"predictions: expected integer class ids, got dtype {matrix.dtype}{shown}"
        )
    bad = _rows_where((matrix < 0) | (matrix >= NUM_CLASSES))
    if bad.size:
        raise PredictionsError(
            f"predictions: class ids must be in 0..{NUM_CLASSES - 1}; {bad.size} row(s) hold ids "
            f"outside, first: {_first(bad)} (row {bad[0]}: {matrix[bad[0]].tolist()})"
        )
    return matrix.astype(np.int64, copy=False)


def _mean_over_classes(hits: np.ndarray, classes: np.ndarray, covered: np.ndarray) -> float:
    """Per-class accuracy, then the mean over the covered classes (exactly rounded sum)."""
    images = np.bincount(classes, minlength=NUM_CLASSES)[covered]
    correct = np.bincount(classes, weights=hits, minlength=NUM_CLASSES)[covered]
    return math.fsum(correct / images) / int(covered.sum())


def score(
    predictions: ArrayLike,
    references: References,
    *,
    imagenet_m: bool = False,
    allow_partial: bool = False,
) -> dict[str, Any]:
    """Score top-1 (N,) or top-k (N, k) class ids, row-aligned with ``references``.

    Per-class keys (``multilabel_accuracy``, ``multilabel_accuracy_strict``,
    ``top1_accuracy_original`` and with k >= 5 ``multilabel_accuracy_top5``,
    ``top5_accuracy_original``) average per original class, then over classes, all on the same
    non-problematic images. With fewer than 1,000 classes covered that mean is not the official
    number: it raises ``PartialCoverageError`` unless ``allow_partial`` (then ``partial`` is
    True). ``imagenet_m`` scores the 68-image ImageNet-M split: a count, no per-class keys.
    """
    num_rows = len(references)
    if num_rows == 0:
        raise ReferencesError("references are empty: nothing to score")
    matrix = _prediction_matrix(predictions, num_rows)
    scored = ~references.is_problematic
    num_scored = int(scored.sum())
    if num_scored == 0:
        raise ReferencesError(
            f"all {num_rows} reference rows are problematic: no image is left to score"
        )
    accepted_sets = references.correct | references.unclear
    top1 = matrix[:, 0]
    accepted = accepted_sets.contains_any(top1)[scored]
    correct = references.correct.contains_any(top1)[scored]
    wrong = references.wrong.contains_any(top1)[scored]
    unreviewed_rows = np.flatnonzero(scored)[~accepted & ~wrong]

    results: dict[str, Any] = {}
    if not imagenet_m:
        classes = references.original_label[scored]
        covered = np.bincount(classes, minlength=NUM_CLASSES) > 0
        num_covered = int(covered.sum())
        if num_covered < NUM_CLASSES and not allow_partial:
            raise PartialCoverageError(
                f"the {num_scored} scored images cover {num_covered} of {NUM_CLASSES} classes, so "
                f"the per-class mean is not the official score; pass allow_partial=True to get "
                f"the mean over the covered classes, marked partial"
            )
        results["multilabel_accuracy"] = _mean_over_classes(accepted, classes, covered)
    results["multilabel_accuracy_micro"] = int(accepted.sum()) / num_scored
    if imagenet_m:
        results["imagenet_m_correct"] = int(accepted.sum())
        results["imagenet_m_total"] = num_scored
    else:
        original_hit = matrix[scored, :TOP_K] == classes[:, None]
        results["multilabel_accuracy_strict"] = _mean_over_classes(correct, classes, covered)
        results["top1_accuracy_original"] = _mean_over_classes(original_hit[:, 0], classes, covered)
        if matrix.shape[1] >= TOP_K:
            accepted_top5 = accepted_sets.contains_any(matrix[:, :TOP_K])[scored]
            results["multilabel_accuracy_top5"] = _mean_over_classes(
                accepted_top5, classes, covered
            )
            results["top5_accuracy_original"] = _mean_over_classes(
                original_hit.any(axis=1), classes, covered
            )
        results["num_classes_covered"] = num_covered
        results["partial"] = num_covered < NUM_CLASSES
    results["num_scored"] = num_scored
    results["num_problematic_skipped"] = num_rows - num_scored
    results["num_mistakes"] = int((wrong & ~accepted).sum())
    results["num_unreviewed"] = int(unreviewed_rows.size)
    results["unreviewed"] = [
        {"file_name": file_name, "prediction": prediction}
        for file_name, prediction in zip(
            references.file_names[unreviewed_rows].tolist(),
            top1[unreviewed_rows].tolist(),
            strict=True,
        )
    ]
    return results

"""The one scoring implementation of the ImageNet multi-label metric, in vectorised numpy.

Official rule (Shankar et al. 2020; Vasudevan et al. 2022): skip images marked problematic; a
top-1 prediction is correct when it is in ``correct_multi_labels`` or ``unclear_multi_labels``;
average per ORIGINAL class, then over the classes. This file imports only numpy because it is
uploaded to the Hub Space next to the ``evaluate`` module, which imports it as ``.scoring``;
``References.from_arrow`` reads Arrow tables by duck typing, so pyarrow is never imported.

Each label-set column is stored flat (``LabelSets``: image ``rows[i]`` holds ``classes[i]``), so
"is row r's prediction in row r's set" for every row at once is one gather, one comparison and
one scatter over the labels, with no per-row Python and no search. ``References.from_arrow``
builds that flat form straight from Arrow list buffers, without a Python object per label.
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

from .errors import ToolkitError, brief_repr, first_few

NUM_CLASSES = 1000
TOP_K = 5
# The labels contract, declared here once: the columns of one split of the labels, in order, with
# the kind of value each holds. The labels dataset's Features, the evaluate module's features,
# the raw-input checks and the scorer all derive from it (docs/ARCHITECTURE.md explains it).
LABEL_COLUMNS = {
    "file_name": "file name",  # str, ILSVRC2012_val_%08d.JPEG, unique; everything joins on it
    "image_id": "image id",  # int, 1-based
    "original_label": "class id",  # int 0..999, the original single label
    "correct_multi_labels": "class ids",  # list of int 0..999
    "wrong_multi_labels": "class ids",
    "unclear_multi_labels": "class ids",
    "is_problematic": "flag",  # bool: skipped by the official score
}
LABEL_SET_COLUMNS = tuple(name for name, kind in LABEL_COLUMNS.items() if kind == "class ids")
# What scoring reads (image_id only identifies the row).
REQUIRED_COLUMNS = tuple(name for name in LABEL_COLUMNS if name != "image_id")


class ReferencesError(ToolkitError):
    """The labels handed to the scorer break the labels column contract."""


class PredictionsError(ToolkitError):
    """The predictions are not top-1/top-k class ids aligned with the references."""


class PartialCoverageError(ToolkitError):
    """The scored images do not cover all classes, so the per-class mean is not official."""


def _first(indices: Iterable[int]) -> str:
    """The first few offending positions, for error messages."""
    return first_few(int(index) for index in indices)


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
    # numpy makes [True, 2] an int array: a bool is no class id, so it goes the slow way too.
    if array is None or array.ndim != 1 or array.dtype.kind not in "iu" or _holds_bool(values):
        bad = [i for i, value in enumerate(values) if not _is_int(value)]
        if bad:
            raise ReferencesError(
                f"{what}: expected integer class ids, got {len(bad)} non-integer value(s), e.g. "
                f"{brief_repr(values[bad[0]])}; first offending rows: "
                f"{_first(rows_of_values[bad])}"
            )
        # Only Python ints too large for int64 get here.
        array = np.array([min(max(value, -1), NUM_CLASSES) for value in values])
    return _class_ids_in_range(array, what, rows_of_values, shown=values)


def _class_ids_in_range(
    array: np.ndarray, what: str, rows_of_values: np.ndarray, shown: Sequence[Any] | None = None
) -> np.ndarray:
    """``array`` as int64, or an error naming the rows of ids outside 0..NUM_CLASSES-1.

    ``shown`` holds the values as given, for the message (``array`` may have clamped them).
    """
    if array.size and (array.min() < 0 or array.max() >= NUM_CLASSES):
        out_of_range = np.flatnonzero((array < 0) | (array >= NUM_CLASSES))
        rows = np.unique(rows_of_values[out_of_range])
        example = array[out_of_range[0]].item() if shown is None else shown[out_of_range[0]]
        raise ReferencesError(
            f"{what}: class ids must be in 0..{NUM_CLASSES - 1}; {out_of_range.size} value(s) "
            f"outside (e.g. {brief_repr(example)}) in {rows.size} row(s); first offending rows: "
            f"{_first(rows)}"
        )
    return array.astype(np.int64, copy=False)


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _holds_bool(values: Iterable[Any]) -> bool:
    return not {bool, np.bool_}.isdisjoint(map(type, values))


def _is_class_id(value: Any) -> bool:
    return _is_int(value) and 0 <= value < NUM_CLASSES


@dataclass(frozen=True)
class LabelSets:
    """One label-set column in flat form: image ``rows[i]`` has class ``classes[i]``."""

    rows: np.ndarray
    classes: np.ndarray

    def contains(self, ranks: np.ndarray) -> np.ndarray:
        """Per rank and row of a (k, N) array of class ids, whether it is in that row's set.

        Ranks lead so that each is contiguous and reducing over them is fast. One gather,
        comparison and scatter per rank (``take`` and ``compress`` beat fancy indexing here);
        a class listed twice for a row is harmless.
        """
        hits = np.zeros(ranks.shape, dtype=bool)
        for ids, rank_hits in zip(ranks, hits, strict=True):
            rank_hits[self.rows.compress(ids.take(self.rows) == self.classes)] = True
        return hits

    def moved(self, new_position: np.ndarray) -> LabelSets:
        """The labels of the rows that ``new_position`` maps to a position (>= 0), renumbered."""
        rows = new_position[self.rows]
        kept = rows >= 0
        return LabelSets(rows=rows[kept], classes=self.classes[kept])


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
    """One split's labels, row-aligned, as arrays (see ``from_columns`` for the contract).

    ``file_names`` is an object array of str: it costs no conversion from Python lists or from
    Arrow, and ``tolist()`` hands those same strings back for joining predictions by file name.
    """

    file_names: np.ndarray
    original_label: np.ndarray
    is_problematic: np.ndarray
    correct: LabelSets
    wrong: LabelSets
    unclear: LabelSets

    def __len__(self) -> int:
        return len(self.file_names)

    def take(self, rows: ArrayLike) -> References:
        """The references of ``rows`` (positions, in that order), e.g. the predicted images."""
        rows = np.asarray(rows, dtype=np.int64)
        new_position = np.full(len(self), -1, dtype=np.int64)
        new_position[rows] = np.arange(len(rows))
        return References(
            file_names=self.file_names[rows],
            original_label=self.original_label[rows],
            is_problematic=self.is_problematic[rows],
            correct=self.correct.moved(new_position),
            wrong=self.wrong.moved(new_position),
            unclear=self.unclear.moved(new_position),
        )

    def label_lists(self, name: str) -> list[list[int]]:
        """One label-set column (``correct``, ``wrong`` or ``unclear``) as a list per row."""
        label_sets: LabelSets = getattr(self, name)
        order = np.argsort(label_sets.rows, kind="stable")
        bounds = np.searchsorted(label_sets.rows[order], np.arange(len(self) + 1))
        values = label_sets.classes[order].tolist()
        return [values[start:end] for start, end in itertools.pairwise(bounds.tolist())]

    @classmethod
    def from_columns(cls, columns: Mapping[str, Sequence[Any]]) -> References:
        """Build from the labels column contract of docs/ARCHITECTURE.md.

        Needs ``file_name``, ``original_label``, ``correct_multi_labels``,
        ``wrong_multi_labels``, ``unclear_multi_labels`` and ``is_problematic``; other columns
        (``image_id``) are ignored.
        """
        _check_column_names(list(columns))
        _check_lengths({name: len(columns[name]) for name in REQUIRED_COLUMNS})
        file_names = _file_names(list(columns["file_name"]))
        row_index = np.arange(len(file_names))
        original_label = _integer_array(
            list(columns["original_label"]), "column 'original_label'", row_index
        )
        is_problematic = _flags(columns["is_problematic"])
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
    def from_arrow(cls, table: Any) -> References:
        """Build from an Arrow table of the labels columns, from its buffers, not Python lists.

        ``table`` needs ``column_names`` and ``column(name)`` returning a pyarrow Array or
        ChunkedArray: a ``pyarrow.Table`` (sliced or in many chunks), a ``RecordBatch``,
        ``dataset.data.table`` of a ``datasets.Dataset``, or ``dataset.with_format("arrow")[:]``
        (use that one after ``select``/``filter``/``shuffle``: ``data.table`` ignores their
        indices mapping). Duck-typed, so this module imports no pyarrow. Equal to
        ``from_columns`` on the same labels, with the same checks and errors, and a null
        anywhere is an error; the class id arrays may be read-only views of the table's memory.
        """
        _check_column_names(list(table.column_names))
        columns = {name: _one_array(table.column(name)) for name in REQUIRED_COLUMNS}
        _check_lengths({name: len(array) for name, array in columns.items()})
        for name, array in columns.items():
            if array.null_count:
                rows = np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))
                raise ReferencesError(
                    f"column {name!r}: {rows.size} null value(s); first offending rows: "
                    f"{_first(rows)}"
                )
        names = columns["file_name"]
        if len(names) and str(names.type) not in _ARROW_STRING_TYPES:
            raise ReferencesError(
                f"column 'file_name': expected strings, got Arrow type {names.type}"
            )
        file_names = names.to_numpy(zero_copy_only=False)
        _check_distinct(file_names)
        original_label = _arrow_class_ids(
            columns["original_label"], "column 'original_label'", np.arange(len(file_names))
        )
        flags = columns["is_problematic"]
        is_problematic = flags.to_numpy(zero_copy_only=False)
        if is_problematic.size and is_problematic.dtype != np.bool_:
            raise ReferencesError(
                f"column 'is_problematic': expected booleans, got Arrow type {flags.type}"
            )
        correct, wrong, unclear = (
            _arrow_label_sets(columns[name], name) for name in LABEL_SET_COLUMNS
        )
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
        return cls.from_columns(_columns_of_rows(rows, REQUIRED_COLUMNS))


def _columns_of_rows(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, list]:
    """The ``names`` columns of one mapping per image; a row lacking one is an error."""
    columns: dict[str, list[Any]] = {}
    for name in names:
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
                f"{_first(bad)}; every row needs {list(names)}"
            ) from None
    return columns


def _check_column_names(names: list[str]) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise ReferencesError(
            f"labels are missing column(s) {missing}; got {len(names)}: "
            f"{first_few(sorted(names), shown=10)}; "
            f"expected {list(REQUIRED_COLUMNS)}"
        )


def _check_lengths(lengths: Mapping[str, int]) -> None:
    if len(set(lengths.values())) > 1:
        raise ReferencesError(f"labels columns differ in length: {dict(lengths)}")


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def _flags(values: Sequence[Any]) -> np.ndarray:
    """``is_problematic`` as a bool array, each value a bool: judged by its dtype, the column
    would take ``[True]`` (a 2-D bool array) and refuse ``[True, 1]`` only by luck."""
    if isinstance(values, np.ndarray) and values.dtype == np.bool_ and values.ndim == 1:
        return values
    flags = list(values)
    bad = [row for row, flag in enumerate(flags) if not _is_bool(flag)]
    if bad:
        raise ReferencesError(
            f"column 'is_problematic': expected booleans, got {len(bad)} other value(s), "
            f"e.g. {brief_repr(flags[bad[0]])}; first offending rows: {_first(bad)}"
        )
    return np.array(flags, dtype=bool)


def _file_names(names: list[Any]) -> np.ndarray:
    """File names as an object array of str; non-strings and duplicates are errors."""
    if not all(issubclass(kind, str) for kind in set(map(type, names))):
        bad = [row for row, name in enumerate(names) if not isinstance(name, str)]
        raise ReferencesError(
            f"column 'file_name': expected strings, got {len(bad)} other value(s), e.g. "
            f"{brief_repr(names[bad[0]])}; first offending rows: {_first(bad)}"
        )
    _check_distinct(names)
    file_names = np.empty(len(names), dtype=object)
    file_names[:] = names
    return file_names


def _check_distinct(names: Sequence[str] | np.ndarray) -> None:
    """Every image once: a duplicate row would count one image twice in its class mean."""
    if len(set(names)) != len(names):
        seen: set[str] = set()
        duplicates = [name for name in names if name in seen or seen.add(name)]
        raise ReferencesError(
            f"column 'file_name': {len(set(duplicates))} file name(s) appear more than once "
            f"({len(duplicates)} extra rows), e.g. {first_few(sorted(set(duplicates)))}; every "
            f"image must appear once"
        )


# Arrow types whose values numpy hands back as Python str (``str(pyarrow.DataType)``).
_ARROW_STRING_TYPES = frozenset({"string", "large_string", "string_view"})


def _one_array(column: Any) -> Any:
    """A pyarrow ChunkedArray as one Array (an Array is returned as is)."""
    if not hasattr(column, "combine_chunks"):
        return column
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _arrow_class_ids(array: Any, what: str, rows_of_values: np.ndarray) -> np.ndarray:
    """An Arrow array of class ids as int64 (zero-copy when it is int64 already)."""
    if len(array) == 0:  # an all-empty list column may have Arrow type null
        return np.zeros(0, dtype=np.int64)
    ids = array.to_numpy(zero_copy_only=False)
    if ids.dtype.kind not in "iu":
        raise ReferencesError(f"{what}: expected integer class ids, got Arrow type {array.type}")
    return _class_ids_in_range(ids, what, rows_of_values)


def _arrow_label_sets(array: Any, name: str) -> LabelSets:
    """Flatten an Arrow list column from its lengths and values (slice offsets included)."""
    if not hasattr(array, "value_lengths"):
        raise ReferencesError(
            f"column {name!r}: expected a list of class ids per row, got Arrow type {array.type}"
        )
    lengths = array.value_lengths().to_numpy(zero_copy_only=False)
    rows = np.repeat(np.arange(len(array), dtype=np.int64), lengths)
    values = array.flatten()
    if values.null_count:
        bad = np.unique(rows[values.is_null().to_numpy(zero_copy_only=False)])
        raise ReferencesError(
            f"column {name!r}: null class ids in {bad.size} row(s); first offending rows: "
            f"{_first(bad)}"
        )
    return LabelSets(rows=rows, classes=_arrow_class_ids(values, f"column {name!r}", rows))


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
        else:  # object: also ints too large for int64
            bad = _rows_where(
                np.vectorize(lambda value: not _is_class_id(value), otypes=[bool])(matrix)
            )
        shown = (
            f"; {bad.size} offending row(s), first: {_first(bad)} "
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
            f"outside, first: {_first(bad)} (row {bad[0]}: {matrix[bad[0]].tolist()})"
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
            f"an id, first: {_first(repeated)} (row {repeated[0]}: {matrix[repeated[0]].tolist()})"
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
    matrix = _prediction_matrix(predictions, num_rows)
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
    matrix = _prediction_matrix(predictions, num_rows)
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
# All 50,000 validation images: the original single labels and ReaL (Beyer et al. 2020)

REAL_COLUMNS = ("file_name", "real_labels")


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
    labels = _class_ids_in_range(labels, "original labels", np.arange(labels.size))
    matrix = _prediction_matrix(predictions, labels.size)
    hits = matrix[:, :TOP_K] == labels[:, None]
    results: dict[str, Any] = {"top1_accuracy": int(np.count_nonzero(hits[:, 0])) / labels.size}
    if hits.shape[1] == TOP_K:
        results["top5_accuracy"] = int(np.count_nonzero(hits.any(axis=1))) / labels.size
    results["num_scored"] = int(labels.size)
    return results


@dataclass(frozen=True)
class RealReferences:
    """The ReaL label set of each image, row-aligned; an empty set means the raters found no
    ImageNet class that fits, and the image is left out of ReaL accuracy."""

    file_names: np.ndarray
    labels: LabelSets

    def __len__(self) -> int:
        return len(self.file_names)

    @classmethod
    def from_columns(cls, file_names: Sequence[str], real_labels: Sequence[Any]) -> RealReferences:
        """Unique file names and, row by row, their ReaL class ids (a list, set or array)."""
        if len(file_names) != len(real_labels):
            raise ReferencesError(
                f"ReaL references: {len(file_names)} file names but {len(real_labels)} label sets"
            )
        return cls(_file_names(list(file_names)), _label_sets(real_labels, "real_labels"))

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]]) -> RealReferences:
        """Build from ``{"file_name", "real_labels"}`` mappings (what the module receives)."""
        columns = _columns_of_rows(rows, REAL_COLUMNS)
        return cls.from_columns(columns["file_name"], columns["real_labels"])


def score_real(predictions: ArrayLike, references: RealReferences) -> dict[str, Any]:
    """ReaL accuracy: a top-1 prediction is correct when it is in the image's ReaL set, averaged
    over the images that have one (the others are counted in ``num_real_left_out``); with
    k >= 5 also top-5 (any of the first five in the set), as timm reports both."""
    num_rows = len(references)
    if num_rows == 0:
        raise ReferencesError("ReaL references are empty: nothing to score")
    matrix = _prediction_matrix(predictions, num_rows)
    labelled = np.zeros(num_rows, dtype=bool)
    labelled[references.labels.rows] = True
    num_scored = int(np.count_nonzero(labelled))
    if num_scored == 0:
        raise ReferencesError(f"none of the {num_rows} images has a ReaL label: nothing to score")
    hits = references.labels.contains(np.ascontiguousarray(matrix[:, :TOP_K].T))
    results: dict[str, Any] = {"real_accuracy": int(np.count_nonzero(hits[0])) / num_scored}
    if len(hits) == TOP_K:
        results["real_accuracy_top5"] = int(np.count_nonzero(hits.any(axis=0))) / num_scored
    results["num_real_scored"] = num_scored
    results["num_real_left_out"] = num_rows - num_scored
    return results


# ---------------------------------------------------------------------------------------------
# Inputs as given to the ``evaluate`` module, before its casting

# The keys of one reference row, exactly: the labels dataset's columns (image_id included).
ROW_KEYS = tuple(LABEL_COLUMNS)
NUM_VALIDATION_IMAGES = 50_000


def check_raw_inputs(predictions: Any, references: Any, *, real: bool = False) -> None:
    """Refuse the inputs that a cast would change, before the ``evaluate`` module casts them.

    ``evaluate`` encodes every batch to the module's Arrow features before the scorer sees it:
    0.9 becomes class 0, ``"false"`` a problematic image, 2**70 an OverflowError, a missing or
    extra key a bare KeyError. So the batch is checked as given, by the scorer's own rules:
    rows with exactly ``ROW_KEYS`` (``REAL_COLUMNS`` when ``real``), class ids that are ints in
    0..999 (not floats, strings or bools), distinct within a top-k row, flags that are bools,
    image ids in 1..50,000.
    """
    if predictions is None or references is None:
        raise PredictionsError("pass predictions and references together, one per image")
    if len(references) == 0:
        raise ReferencesError("references are empty: nothing to score")
    _check_row_keys(references, REAL_COLUMNS if real else ROW_KEYS)
    if real:
        RealReferences.from_rows(references)
    else:
        References.from_rows(references)
        image_ids = [row["image_id"] for row in references]
        bad = [row for row, image_id in enumerate(image_ids) if not _is_image_id(image_id)]
        if bad:
            raise ReferencesError(
                f"references: 'image_id' must be an int in 1..{NUM_VALIDATION_IMAGES:,}; "
                f"{len(bad)} row(s) hold something else, e.g. {brief_repr(image_ids[bad[0]])}; "
                f"first offending rows: {_first(bad)}"
            )
    _check_distinct_ids(_prediction_matrix(predictions, len(references)))
    if isinstance(predictions, list | tuple):  # numpy would make [True, 2] an int array
        flags = np.vectorize(_is_bool, otypes=[bool])(np.asarray(predictions, dtype=object))
        bad = _rows_where(flags)
        if bad.size:
            raise PredictionsError(
                f"predictions: expected integer class ids, got booleans in {bad.size} row(s), "
                f"first: {_first(bad)}"
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
            f"rows: {_first(bad)} (row {bad[0]}: {found})"
        )


def _is_image_id(value: Any) -> bool:
    return _is_int(value) and 1 <= value <= NUM_VALIDATION_IMAGES

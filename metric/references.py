"""The labels contract and the references the scorer reads, checked and in flat numpy form.

``LABEL_COLUMNS`` declares the columns of one split of the labels once; the labels dataset's
Features, the ``evaluate`` module's features, the raw-input checks and the scorer derive from it.
``References`` (and ``SetReferences`` for the label sets that accept a set of classes per image)
hold one split row-aligned, built from columns, rows or an Arrow table with the same checks and
errors, so that wrong labels never reach a score.

Each label-set column is stored flat (``LabelSets``: image ``rows[i]`` holds ``classes[i]``), so
"is row r's prediction in row r's set" for every row at once is one gather, one comparison and
one scatter over the labels, with no per-row Python and no search. ``References.from_arrow``
builds that flat form straight from Arrow list buffers, without a Python object per label, and
by duck typing, so pyarrow is never imported. Like ``scoring.py`` this file imports only numpy:
it is uploaded to the Hub Space next to the ``evaluate`` module.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .errors import ToolkitError, brief_repr, first_few

NUM_CLASSES = 1000
NUM_VALIDATION_IMAGES = 50_000
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


def first_rows(indices: Iterable[int]) -> str:
    """The first few offending positions, for error messages."""
    return first_few(int(index) for index in indices)


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
        bad = [i for i, value in enumerate(values) if not is_int(value)]
        if bad:
            raise values_error(
                what, "integer class ids", "non-integer", values, bad, rows_of_values[bad]
            )
        # Only Python ints too large for int64 get here.
        array = np.array([min(max(value, -1), NUM_CLASSES) for value in values])
    return class_ids_in_range(array, what, rows_of_values, shown=values)


def values_error(
    what: str, expected: str, found: str, values: Sequence[Any], bad: Sequence[int], rows: ArrayLike
) -> ReferencesError:
    """The error for the values at positions ``bad`` of ``values`` (in ``rows``), which are not
    the ``expected`` kind but ``found``: how many, the first, and where."""
    return ReferencesError(
        f"{what}: expected {expected}, got {len(bad)} {found} value(s), e.g. "
        f"{brief_repr(values[bad[0]])}; first offending rows: {first_rows(rows)}"
    )


def class_ids_in_range(
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
            f"{first_rows(rows)}"
        )
    return array.astype(np.int64, copy=False)


def is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _holds_bool(values: Iterable[Any]) -> bool:
    return not {bool, np.bool_}.isdisjoint(map(type, values))


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

    def lists(self, num_rows: int) -> list[list[int]]:
        """The classes of each of ``num_rows`` rows as a list (empty for a row without any)."""
        order = np.argsort(self.rows, kind="stable")
        bounds = np.searchsorted(self.rows[order], np.arange(num_rows + 1))
        values = self.classes[order].tolist()
        return [values[start:end] for start, end in itertools.pairwise(bounds.tolist())]

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
            f"{first_rows(bad)}"
        ) from None
    rows = np.repeat(np.arange(num_rows, dtype=np.int64), lengths)
    classes = _integer_array(list(itertools.chain.from_iterable(column)), f"column {name!r}", rows)
    return LabelSets(rows=rows, classes=classes)


def _taken(num_rows: int, rows: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` (positions, in the order taken) as int64, and each of the ``num_rows`` rows' new
    position among them (-1: not taken), by which their label sets move."""
    rows = np.asarray(rows, dtype=np.int64)
    new_position = np.full(num_rows, -1, dtype=np.int64)
    new_position[rows] = np.arange(len(rows))
    return rows, new_position


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
        rows, new_position = _taken(len(self), rows)
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
        return getattr(self, name).lists(len(self))

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
        label_sets = (_label_sets(columns[name], name) for name in LABEL_SET_COLUMNS)
        return cls._assembled(file_names, original_label, is_problematic, label_sets)

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
                    f"{first_rows(rows)}"
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
        label_sets = (_arrow_label_sets(columns[name], name) for name in LABEL_SET_COLUMNS)
        return cls._assembled(file_names, original_label, is_problematic, label_sets)

    @classmethod
    def _assembled(
        cls,
        file_names: np.ndarray,
        original_label: np.ndarray,
        is_problematic: np.ndarray,
        label_sets: Iterable[LabelSets],
    ) -> References:
        """The checked columns as one split's references, label sets in LABEL_SET_COLUMNS order."""
        correct, wrong, unclear = label_sets
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
                f"{first_rows(bad)}; every row needs {list(names)}"
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


def is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def _flags(values: Sequence[Any]) -> np.ndarray:
    """``is_problematic`` as a bool array, each value a bool: judged by its dtype, the column
    would take ``[True]`` (a 2-D bool array) and refuse ``[True, 1]`` only by luck."""
    if isinstance(values, np.ndarray) and values.dtype == np.bool_ and values.ndim == 1:
        return values
    flags = list(values)
    bad = [row for row, flag in enumerate(flags) if not is_bool(flag)]
    if bad:
        raise ReferencesError(
            f"column 'is_problematic': expected booleans, got {len(bad)} other value(s), "
            f"e.g. {brief_repr(flags[bad[0]])}; first offending rows: {first_rows(bad)}"
        )
    return np.array(flags, dtype=bool)


def _file_names(names: list[Any]) -> np.ndarray:
    """File names as an object array of str; non-strings and duplicates are errors."""
    if not all(issubclass(kind, str) for kind in set(map(type, names))):
        bad = [row for row, name in enumerate(names) if not isinstance(name, str)]
        raise ReferencesError(
            f"column 'file_name': expected strings, got {len(bad)} other value(s), e.g. "
            f"{brief_repr(names[bad[0]])}; first offending rows: {first_rows(bad)}"
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
    return class_ids_in_range(ids, what, rows_of_values)


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
            f"{first_rows(bad)}"
        )
    return LabelSets(rows=rows, classes=_arrow_class_ids(values, f"column {name!r}", rows))


@dataclass(frozen=True)
class SetReferences:
    """One set of accepted classes per image, row-aligned (the label sets of `label_sets` that
    judge a top-1 by membership); an empty set means the label set does not judge that image,
    which is left out of its accuracy."""

    file_names: np.ndarray
    labels: LabelSets

    def __len__(self) -> int:
        return len(self.file_names)

    def take(self, rows: ArrayLike) -> SetReferences:
        """The references of ``rows`` (positions, in that order), e.g. the predicted images."""
        rows, new_position = _taken(len(self), rows)
        return SetReferences(self.file_names[rows], self.labels.moved(new_position))

    @classmethod
    def from_columns(
        cls, file_names: Sequence[str], sets: Sequence[Any], column: str = "labels"
    ) -> SetReferences:
        """Unique file names and, row by row, their accepted class ids (a list, set or array);
        ``column`` names the sets in error messages."""
        if len(file_names) != len(sets):
            raise ReferencesError(
                f"references: {len(file_names)} file names but {len(sets)} label sets in {column!r}"
            )
        return cls(_file_names(list(file_names)), _label_sets(sets, column))

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]], column: str) -> SetReferences:
        """Build from ``{"file_name", column}`` mappings (what the ``evaluate`` module receives)."""
        columns = _columns_of_rows(rows, ("file_name", column))
        return cls.from_columns(columns["file_name"], columns[column], column)

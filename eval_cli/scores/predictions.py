"""Per-image predictions files: the one format `run` writes and `score` reads.

JSONL (what `run` writes), one object per image::

    {"file_name": "ILSVRC2012_val_00000001.JPEG", "prediction": 65, "top5": [65, 58, ...],
     "top5_probs": [0.91, 0.03, ...]}

CSV with a header: ``file_name,prediction[,top5]`` where ``top5`` holds five class ids separated
by spaces (``65 58 62 54 49``) or as a JSON list (``[65, 58, 62, 54, 49]``). ``prediction`` may be
left out when ``top5`` is given (it is then ``top5[0]``). Class ids are ImageNet indices 0..999
(wnids in sorted order). Every row is keyed by file name, never by position: the name, or the
base name of a path (``val/n01440764/ILSVRC2012_val_00000293.JPEG``, as timm's inference script
writes), with ``.JPEG`` in any case; two rows naming one image are refused, both named.

A file may be huge or hostile (a million rows, a line nested 100,000 deep, a 5,000-digit id), so
rows become compact numpy columns a chunk at a time and are checked all at once, and each kind of
problem is reported as a count and its first lines: time, memory and message stay bounded.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ...dataset_script import classes
from ...metric.errors import SHOWN, ToolkitError, first_few, not_a_regular_file, shorten

TOP_K = 5
_CHUNK_ROWS = 1 << 16  # rows read into Python objects before they become numpy columns
_BLOCK_CHARS = 1 << 20  # characters of a JSONL file split into lines at once


class _Absent:
    """The type of ``_ABSENT``, the value of a column a row does not have."""


_ABSENT = _Absent()
# Codes beside the class ids 0..999 in the int16 columns:
_INVALID = -1  # present, but not an integer class id in 0..999
_MISSING = -2  # absent
# An integer with at most four significant ASCII digits: "²".isdigit() is True, and int() refuses
# strings of over 4,300 digits; neither can be a class id.
_CLASS_ID_TEXT = re.compile(r"\s*-?0*[0-9]{1,4}\s*")


# What a predictions file holds, in words: `score --help` shows it and the README says the same.
FORMATS = (
    'Predictions files: JSONL, one object per line, such as {"file_name": '
    '"ILSVRC2012_val_00000001.JPEG", "prediction": 65, "top5": [65, 58, 62, 54, 49]}; or '
    "CSV with a header file_name,prediction[,top5], top5 as five ids separated by spaces "
    "(65 58 62 54 49) or as a JSON list ([65, 58, 62, 54, 49]). prediction may be left out when "
    "top5 is given. Class ids are ImageNet indices 0..999 (wnids sorted, as timm and torchvision "
    "use). file_name may be a path (val/n01440764/ILSVRC2012_val_00000293.JPEG) and end in .jpeg: "
    "rows join the labels on the base name, never by position."
)
_TOP5_FORMS = (
    "expected five distinct class ids in 0..999, best first: [65, 58, 62, 54, 49] in JSONL; "
    "65 58 62 54 49 or [65, 58, 62, 54, 49] in a CSV"
)


class PredictionsFileError(ToolkitError):
    """A predictions file that cannot be scored as it is; nothing is dropped to make it fit."""


@dataclass(frozen=True)
class Predictions:
    """Validated predictions, one row per image, in file order."""

    file_names: np.ndarray  # (N,) str, canonical ILSVRC2012_val_%08d.JPEG
    top1: np.ndarray  # (N,) int64
    topk: np.ndarray | None  # (N, k) int64 best first, or None when the file has no top5
    source: str

    def __len__(self) -> int:
        return len(self.file_names)

    def ranked(self) -> np.ndarray:
        """(N, k) top-k ids where known, else the top-1 ids as (N,)."""
        return self.topk if self.topk is not None else self.top1

    def rows_for(self, wanted: Sequence[str]) -> np.ndarray:
        """Row of each wanted file name in this table, -1 where it has no prediction."""
        index = self._row_of_file_name
        return np.array([index.get(name, -1) for name in wanted], dtype=np.int64)

    def rows_for_image_ids(self, image_ids: np.ndarray) -> np.ndarray:
        """Row of each wanted image, given by image id, -1 where it has no prediction: one
        gather, for the 50,000 images of a split scored for many models."""
        return self._row_of_image_id[image_ids]

    @cached_property
    def _row_of_image_id(self) -> np.ndarray:
        """Entry ``image_id``: the row of that image's prediction, -1 for none (the file names
        are canonical validation file names)."""
        image_ids = classes.image_ids_by_file_name()
        rows = np.full(classes.NUM_VALIDATION_IMAGES + 1, -1, dtype=np.int64)
        rows[[image_ids[name] for name in self.file_names.tolist()]] = np.arange(len(self))
        return rows

    @cached_property
    def _row_of_file_name(self) -> dict[str, int]:
        """Built once: every split, and the mistake analysis, look rows up."""
        return {name: row for row, name in enumerate(self.file_names.tolist())}


def read_predictions(path: str | os.PathLike) -> Predictions:
    """Read and validate a CSV or JSONL predictions file (chosen by its suffix)."""
    path = Path(path)
    what = not_a_regular_file(path)
    if what is not None:
        raise PredictionsFileError(f"predictions file {str(path)!r} {what}; expected a file")
    suffix = path.suffix.lower()
    readers = {".jsonl": _read_jsonl, ".json": _read_jsonl, ".csv": _read_csv}
    if suffix not in readers:
        raise PredictionsFileError(
            f"{str(path)!r}: unknown predictions format {suffix!r}; expected .csv or .jsonl"
        )
    read = _guarded_reader(path, readers[suffix])
    rows = _Rows()
    read(rows)

    def as_written(lines: Sequence[int]) -> dict[int, Any]:
        """The file names of ``lines`` as the file writes them: a second pass, made only to name
        the rows of a duplicate that are paths or other spellings of one image."""
        spellings = _Spellings(lines)
        read(spellings)
        return spellings.found

    return rows.validated(path, as_written)


def _guarded_reader(path: Path, reader: Callable[[Path, Any], None]) -> Callable[[Any], None]:
    """``reader`` of ``path`` into a collector of rows, its read errors as the file's."""

    def read(collector: _Rows | _Spellings) -> None:
        try:
            reader(path, collector)
        except UnicodeDecodeError as error:
            raise PredictionsFileError(f"{str(path)!r} is not UTF-8 text: {error}") from error
        except OSError as error:
            raise PredictionsFileError(f"cannot read {str(path)!r}: {error}") from error

    return read


class _Problems:
    """Each kind of problem of a file with its count and first lines, so that one error reports
    every kind, and a million bad rows cost no more than a few."""

    def __init__(self) -> None:
        # kind -> [count, the first SHOWN + 1 lines, a note on the first ones or None]
        self._found: dict[str, list[Any]] = {}

    def add(self, kind: str, line: int, note: str | None = None) -> None:
        """One offending line; ``note`` is kept for the first line of this kind only."""
        found = self._found.setdefault(kind, [0, [], note])
        found[0] += 1
        if len(found[1]) <= SHOWN:
            found[1].append(line)

    def add_rows(
        self,
        kind: str,
        offending: np.ndarray,
        lines: np.ndarray,
        note: Callable[[np.ndarray], str] | None = None,
    ) -> None:
        """The rows where the mask ``offending`` holds; ``note(first rows)`` explains them."""
        rows = np.flatnonzero(offending)
        if rows.size:
            first = rows[: SHOWN + 1]
            self._found[kind] = [int(rows.size), lines[first].tolist(), note and note(first)]

    def raise_if_any(self, path: Path) -> None:
        if not self._found:
            return
        details = "; ".join(
            f"{count:,} {kind}, first at line(s) [{first_few(lines)}]"
            + (f" ({shorten(note, 300)})" if note else "")
            for kind, (count, lines, note) in self._found.items()
        )
        raise PredictionsFileError(f"{str(path)!r}: {details}")


class _Rows:
    """The rows of a file, added a chunk at a time as numpy columns."""

    def __init__(self) -> None:
        self.keys: set[str] = set()  # every column any row has
        self.num_spelled = 0  # rows naming their image otherwise than its canonical file name
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add_chunk(
        self, lines: list[int], file_names: list[Any], predictions: list[Any], top5: list[Any]
    ) -> None:
        """Rows as read (values, or ``_ABSENT`` for a column a row lacks), one list per column."""
        if lines:
            image_ids = np.fromiter(map(_image_id, file_names), np.int32, len(file_names))
            spelled = image_ids < 0
            self.num_spelled += int(np.count_nonzero(spelled))
            self._chunks.append(
                (
                    np.array(lines, dtype=np.int64),
                    np.where(spelled, -image_ids, image_ids),
                    _class_ids(predictions),
                    _top5_ids(top5),
                )
            )

    def validated(
        self, path: Path, as_written: Callable[[Sequence[int]], Mapping[int, Any]]
    ) -> Predictions:
        """Check every row at once; raise one error with every kind of problem. ``as_written``:
        the file names of some lines as the file writes them (for the duplicates' message)."""
        if not self._chunks:
            raise PredictionsFileError(
                f"{str(path)!r} holds no predictions: it is empty, its lines are blank, or a CSV "
                "holds its header alone; expected one row per image"
            )
        if "file_name" not in self.keys or not self.keys & {"prediction", "top5"}:
            raise PredictionsFileError(
                f"{str(path)!r}: expected columns 'file_name' and 'prediction' (or 'top5'), found "
                f"{len(self.keys)}: {first_few(sorted(self.keys), shown=10)}"
            )
        lines, image_ids, prediction, top5 = (
            np.concatenate(column) for column in zip(*self._chunks, strict=True)
        )
        self._chunks = []
        problems = _Problems()
        known = image_ids > 0
        problems.add_rows(
            "row(s) with an unknown file name (expected 'ILSVRC2012_val_NNNNNNNN.JPEG', or a "
            "path ending in it)",
            ~known,
            lines,
        )
        first_row = _first_row_of_each_image(image_ids)

        def repeated(rows: np.ndarray) -> str:
            """The lines the first duplicates repeat; where rows are paths or other spellings,
            the first pair by line and name as written."""
            note = f"repeating line(s) [{first_few(lines[first_row[image_ids[rows]]])}]"
            if not self.num_spelled:
                return note
            line, first = int(lines[rows[0]]), int(lines[first_row[image_ids[rows[0]]]])
            names = as_written([line, first])
            return (
                f"{note}; line {line} {shorten(str(names.get(line)), 80)!r} and line {first} "
                f"{shorten(str(names.get(first)), 80)!r} name one image"
            )

        problems.add_rows(
            "row(s) with a duplicate file name",
            known & (first_row[image_ids] != np.arange(len(image_ids))),
            lines,
            repeated,
        )
        has_top5 = "top5" in self.keys
        top5_valid = (top5 >= 0).all(axis=1) & _distinct(top5)
        if has_top5:
            problems.add_rows(
                "row(s) with a 'top5' that is not five distinct class ids in 0..999",
                ~top5_valid,
                lines,
                lambda _: _TOP5_FORMS,
            )
        problems.add_rows(
            "row(s) with a 'prediction' that is not an integer class id in 0..999",
            prediction == _INVALID,
            lines,
        )
        if has_top5:
            problems.add_rows(
                "row(s) with a 'prediction' different from top5[0]",
                top5_valid & (prediction >= 0) & (prediction != top5[:, 0]),
                lines,
            )
        else:
            problems.add_rows("row(s) with no 'prediction'", prediction == _MISSING, lines)
        problems.raise_if_any(path)
        return Predictions(
            file_names=_file_names_by_image_id()[image_ids],
            top1=(top5[:, 0] if has_top5 else prediction).astype(np.int64),
            topk=top5.astype(np.int64) if has_top5 else None,
            source=str(path),
        )


class _Spellings:
    """A second read's collector: the file names, as written, of the lines asked for."""

    def __init__(self, lines: Sequence[int]) -> None:
        self.keys: set[str] = set()
        self.found: dict[int, Any] = {}
        self._wanted = set(lines)

    def add_chunk(self, lines: list[int], file_names: list[Any], *_: list[Any]) -> None:
        self.found.update(
            (line, name)
            for line, name in zip(lines, file_names, strict=True)
            if line in self._wanted
        )


def _image_id(file_name: Any) -> int:
    """The image id of a canonical validation file name; minus it for the base name of a path
    or another case of ``.JPEG`` (``val/n01440764/ILSVRC2012_val_00000293.jpeg``); else 0."""
    if type(file_name) is not str:
        return 0
    image_ids = classes.image_ids_by_file_name()
    image_id = image_ids.get(file_name)
    if image_id is not None:
        return image_id
    base = file_name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    stem, dot, suffix = base.rpartition(".")
    if dot and suffix.lower() == "jpeg":
        base = f"{stem}.JPEG"
    return -image_ids.get(base, 0)


def _class_ids(values: list[Any]) -> np.ndarray:
    """Each value as an int16 class id in 0..999, else ``_INVALID`` (``_MISSING`` if absent).

    Vectorised for what files hold: all Python ints (JSON), or all strings (CSV: few distinct
    ones, each parsed once); anything else value by value.
    """
    kinds = set(map(type, values))
    if kinds == {int}:
        array = np.array(values)  # object dtype when an int exceeds int64
        if array.dtype.kind == "i":
            in_range = (array >= 0) & (array < classes.NUM_CLASSES)
            return np.where(in_range, array, _INVALID).astype(np.int16)
    if kinds == {str}:
        parsed = {text: _class_id(text) for text in set(values)}
        return np.fromiter(map(parsed.__getitem__, values), np.int16, len(values))
    return np.fromiter(map(_class_id, values), np.int16, len(values))


def _class_id(value: Any) -> int:
    """A class id in 0..999 from an int (not a bool or float) or an integer string, else a code."""
    if value is _ABSENT:
        return _MISSING
    if type(value) is str:
        if _CLASS_ID_TEXT.fullmatch(value) is None:
            return _INVALID
        value = int(value)
    if type(value) is int and 0 <= value < classes.NUM_CLASSES:
        return value
    return _INVALID


def _top5_ids(values: list[Any]) -> np.ndarray:
    """(N, 5) int16 class ids of lists of five values; rows of anything else all ``_INVALID``
    (``_MISSING`` where absent)."""
    if set(map(type, values)) == {_Absent}:  # a file without top5: no row to look at
        return np.full((len(values), TOP_K), _MISSING, dtype=np.int16)
    is_five = np.fromiter((type(ids) is list and len(ids) == TOP_K for ids in values), bool)
    ids = np.full((len(values), TOP_K), _INVALID, dtype=np.int16)
    five = itertools.chain.from_iterable(itertools.compress(values, is_five))
    ids[is_five] = _class_ids(list(five)).reshape(-1, TOP_K)
    ids[np.fromiter((value is _ABSENT for value in values), bool, len(values))] = _MISSING
    return ids


def _distinct(ids: np.ndarray) -> np.ndarray:
    """Per row, whether its values all differ."""
    ordered = np.sort(ids, axis=1)
    return (ordered[:, 1:] != ordered[:, :-1]).all(axis=1)


def _first_row_of_each_image(image_ids: np.ndarray) -> np.ndarray:
    """Indexed by image id: the first row holding it."""
    ids, first = np.unique(image_ids, return_index=True)
    first_row = np.full(classes.NUM_VALIDATION_IMAGES + 1, -1, dtype=np.int64)
    first_row[ids] = first
    return first_row


@cache
def _file_names_by_image_id() -> np.ndarray:
    """Indexed by image id: its canonical file name (entry 0, no image, empty)."""
    return np.array([""] + list(classes.validation_file_names()))


def _read_jsonl(path: Path, rows: _Rows | _Spellings) -> None:
    problems = _Problems()
    with open(path, encoding="utf-8-sig") as handle:  # -sig: spreadsheets write a BOM
        numbered = _nonblank_lines(handle)
        while chunk := list(itertools.islice(numbered, _CHUNK_ROWS)):
            lines: list[int] = []
            file_names: list[Any] = []
            predictions: list[Any] = []
            top5: list[Any] = []
            for line, text in chunk:
                unreadable = None
                try:
                    record = _json_line(text)
                except RecursionError:
                    record, unreadable = None, "nested too deeply to read"
                except ValueError as error:  # JSONDecodeError; an int of over 4,300 digits
                    record, unreadable = None, str(error)
                if type(record) is not dict:
                    what = unreadable or f"a JSON {type(record).__name__}"
                    problems.add("line(s) are not JSON objects", line, f"line {line}: {what}")
                    continue
                rows.keys.update(record)
                lines.append(line)
                file_names.append(record.get("file_name"))
                predictions.append(record.get("prediction", _ABSENT))
                top5.append(record.get("top5", _ABSENT))
            rows.add_chunk(lines, file_names, predictions, top5)
    problems.raise_if_any(path)  # rows are checked once every line is a JSON object


def _nonblank_lines(handle: TextIO) -> Iterator[tuple[int, str]]:
    """(line number from 1, text) of each line of ``handle`` that is not blank: what a JSONL
    file's rows are. Blocks are split into lines at once and empty lines dropped by C iterators,
    so that 30 MB of blank lines cost about as much as reading them (each one parsed and refused
    by json.loads took over 90 s)."""
    first = 1  # the number of the block's first line
    cut: list[str] = []  # the start of a line the blocks cut, joined once its end is read
    while block := handle.read(_BLOCK_CHARS):
        if "\n" not in block:  # a line longer than a block
            cut.append(block)
            continue
        lines = "".join([*cut, block]).split("\n")
        cut = [lines.pop()]
        numbered = itertools.compress(enumerate(lines, first), lines)  # drops "" lines
        yield from (item for item in numbered if not item[1].isspace())
        first += len(lines)
    rest = "".join(cut)
    if rest and not rest.isspace():
        yield first, rest


# The C scanner that json.loads wraps: called directly it skips two Python layers and two regex
# matches per line, which make up a third of reading a million lines.
_SCAN_JSON = json.JSONDecoder().scan_once
_JSON_WHITESPACE = " \t\n\r"


def _json_line(text: str) -> Any:
    """``json.loads(text)``, faster for the lines a file holds: one value, then a newline. Any
    other line goes to json.loads itself, for its value or its exact error."""
    try:
        value, end = _SCAN_JSON(text, 0)
    except StopIteration:  # no value at the first character (leading whitespace, or not JSON)
        return json.loads(text)
    if text[end:].strip(_JSON_WHITESPACE):
        return json.loads(text)  # raises "Extra data"
    return value


def _read_csv(path: Path, rows: _Rows | _Spellings) -> None:
    """Strict CSV: a quote never closed is an error, not a field swallowing the file's rest."""
    problems = _Problems()
    with open(path, encoding="utf-8-sig", newline="") as handle:  # -sig: spreadsheets write a BOM
        reader = csv.reader(handle, strict=True)
        header = _csv_row(path, reader, 1)
        if header is None:
            return
        rows.keys.update(header)
        columns = [header.index(name) if name in header else None for name in _CSV_COLUMNS]
        chunk: tuple[list[int], list[Any], list[Any], list[Any]] = ([], [], [], [])
        start = reader.line_num + 1  # the line the next row begins on
        while (fields := _csv_row(path, reader, start)) is not None:
            line, start = start, reader.line_num + 1
            if not fields:  # a blank line
                continue
            if len(fields) != len(header):
                problems.add(
                    f"row(s) with more or fewer fields than the header "
                    f"[{first_few(map(repr, header))}]",
                    line,
                )
                continue
            chunk[0].append(line)
            for values, index in zip(chunk[1:], columns, strict=True):
                values.append((fields[index] or _ABSENT) if index is not None else _ABSENT)
            if len(chunk[0]) == _CHUNK_ROWS:
                rows.add_chunk(*chunk[:3], _split_top5(chunk[3]))
                chunk = ([], [], [], [])
        rows.add_chunk(*chunk[:3], _split_top5(chunk[3]))
    problems.raise_if_any(path)


_CSV_COLUMNS = ("file_name", "prediction", "top5")


def _csv_row(path: Path, reader: Any, start: int) -> list[str] | None:
    """The next row of a strict ``csv.reader``, None at the end; ``start``: its first line."""
    try:
        return next(reader, None)
    except csv.Error as error:
        raise PredictionsFileError(
            f"{str(path)!r}: the CSV row starting at line {start} is malformed ({error}); "
            "expected file_name,prediction[,top5] rows of short fields, every quote closed"
        ) from error


def _split_top5(values: list[Any]) -> list[Any]:
    """CSV ``top5`` fields as lists: ids separated by spaces, or a JSON list (whatever the list
    holds is checked as ids are; a field that is no list is refused)."""
    return [
        value if value is _ABSENT else _json_list(value) if "[" in value else value.split()
        for value in values
    ]


def _json_list(text: str) -> Any:
    """A CSV field holding a JSON list, parsed; anything else as is (not a list: refused)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError; 4,301+ digits; deep nesting
        return text


def prediction_record(file_name: str, top5: Sequence[int], top5_probs: Sequence[float]) -> str:
    """One JSONL line of a predictions file, as `run` writes it; the class names are for the
    reader (scoring reads the ids)."""
    record = {
        "file_name": file_name,
        "prediction": int(top5[0]),
        "prediction_name": classes.CLASS_NAMES[top5[0]],
        "top5": [int(i) for i in top5],
        "top5_probs": [round(float(p), 6) for p in top5_probs],
        "top5_names": [classes.CLASS_NAMES[i] for i in top5],
    }
    return json.dumps(record) + "\n"


def read_top5_probs(predictions: Predictions, rows: np.ndarray) -> np.ndarray | None:
    """The ``top5_probs`` (as `run` writes them) of the given rows of a JSONL predictions file.

    (len(rows), 5) floats, NaN for a row without five finite numbers; None when none has them (a
    CSV, or a JSONL file of another tool). Probabilities are shown beside the mistakes, never
    scored, so they are optional and read apart from ``read_predictions``, only for the rows
    asked for: row ``i`` is the file's ``i``-th non-blank line, as ``read_predictions`` (which
    validated the file) numbers them.
    """
    path = Path(predictions.source)
    if path.suffix.lower() not in (".jsonl", ".json"):
        return None
    position_of = {int(row): position for position, row in enumerate(rows)}
    probs = np.full((len(position_of), TOP_K), np.nan)
    with open(path, encoding="utf-8-sig") as handle:
        for row, (_, text) in enumerate(_nonblank_lines(handle)):
            position = position_of.get(row)
            if position is None:
                continue
            listed = _json_line(text).get("top5_probs")  # the record's own field, parsed
            if isinstance(listed, list) and len(listed) == TOP_K:
                with contextlib.suppress(TypeError, ValueError, OverflowError):
                    probs[position] = [_probability(value) for value in listed]
    known = np.isfinite(probs).all(axis=1)
    probs[~known] = np.nan
    return probs if known.any() else None


def _probability(value: Any) -> float:
    """A number of the record as a float; a bool or a string is no probability."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"not a number: {value!r}")
    return float(value)

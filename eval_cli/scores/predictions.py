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
problem is reported as a count and its first lines: time, memory and message stay bounded. What
scoring, analysis and comparison use of a file comes from one read: the ids, the ``top5_probs``
`run` writes (shown beside mistakes, never scored) and the file's sha256 (`prediction_formats`
reads the bytes, `prediction_values` makes the columns).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ...dataset_script import classes
from ...metric.errors import first_few, not_a_regular_file, shorten
from .prediction_formats import (
    HashedFile,
    PredictionsFileError,
    Problems,
    open_text,
    read_csv,
    read_jsonl,
)
from .prediction_values import (
    INVALID,
    MISSING,
    TOP_K,
    class_ids,
    distinct,
    image_id,
    top5_ids,
    top5_probabilities,
)

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


@dataclass(frozen=True)
class Predictions:
    """Validated predictions, one row per image, in file order."""

    file_names: np.ndarray  # (N,) str, canonical ILSVRC2012_val_%08d.JPEG
    top1: np.ndarray  # (N,) int64
    topk: np.ndarray | None  # (N, k) int64 best first, or None when the file has no top5
    source: str
    sha256: str  # of the bytes read, hashed in the same pass
    # (N, 5) float64 best first, a NaN row where a record has no five numbers; None when no row
    # has them (a CSV, or a JSONL file of another tool)
    top5_probs: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.file_names)

    def top5_probs_of(self, rows: np.ndarray) -> np.ndarray | None:
        """The top-5 probabilities of the given rows ((len(rows), 5), NaN rows unknown), None
        when none of them is known."""
        if self.top5_probs is None:
            return None
        probs = self.top5_probs[np.asarray(rows, dtype=np.int64)]
        return probs if (~np.isnan(probs).any(axis=1)).any() else None

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
    readers = {".jsonl": read_jsonl, ".json": read_jsonl, ".csv": read_csv}
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


class _Rows:
    """The rows of a file, added a chunk at a time as numpy columns, and the file's sha256."""

    def __init__(self) -> None:
        self.keys: set[str] = set()  # every column any row has
        self.num_spelled = 0  # rows naming their image otherwise than its canonical file name
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._probs: list[np.ndarray | None] = []  # per chunk; None: no row of it has them
        self._hashed: HashedFile | None = None

    def open(self, path: Path, newline: str | None = None) -> TextIO:
        """``path`` as text, its bytes hashed as they are read."""
        self._hashed = HashedFile(path)
        return self._hashed.text(newline)

    def add_chunk(
        self,
        lines: list[int],
        file_names: list[Any],
        predictions: list[Any],
        top5: list[Any],
        top5_probs: list[Any] | None = None,
    ) -> None:
        """Rows as read (values, or ``ABSENT`` for a column a row lacks), one list per column."""
        if lines:
            self._probs.append(None if top5_probs is None else top5_probabilities(top5_probs))
            image_ids = np.fromiter(map(image_id, file_names), np.int32, len(file_names))
            spelled = image_ids < 0
            self.num_spelled += int(np.count_nonzero(spelled))
            self._chunks.append(
                (
                    np.array(lines, dtype=np.int64),
                    np.where(spelled, -image_ids, image_ids),
                    class_ids(predictions),
                    top5_ids(top5),
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
        top5_probs = self._top5_probs()
        self._chunks = []
        problems = Problems()
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
        top5_valid = (top5 >= 0).all(axis=1) & distinct(top5)
        if has_top5:
            problems.add_rows(
                "row(s) with a 'top5' that is not five distinct class ids in 0..999",
                ~top5_valid,
                lines,
                lambda _: _TOP5_FORMS,
            )
        problems.add_rows(
            "row(s) with a 'prediction' that is not an integer class id in 0..999",
            prediction == INVALID,
            lines,
        )
        if has_top5:
            problems.add_rows(
                "row(s) with a 'prediction' different from top5[0]",
                top5_valid & (prediction >= 0) & (prediction != top5[:, 0]),
                lines,
            )
        else:
            problems.add_rows("row(s) with no 'prediction'", prediction == MISSING, lines)
        problems.raise_if_any(path)
        return Predictions(
            file_names=_file_names_by_image_id()[image_ids],
            top1=(top5[:, 0] if has_top5 else prediction).astype(np.int64),
            topk=top5.astype(np.int64) if has_top5 else None,
            source=str(path),
            sha256=self._hashed.hexdigest() if self._hashed is not None else "",
            top5_probs=top5_probs,
        )

    def _top5_probs(self) -> np.ndarray | None:
        """Every row's probabilities (NaN rows unknown); None when no row has them."""
        if all(probs is None or np.isnan(probs).all() for probs in self._probs):
            return None
        return np.concatenate(
            [
                np.full((len(chunk[0]), TOP_K), np.nan) if probs is None else probs
                for chunk, probs in zip(self._chunks, self._probs, strict=True)
            ]
        )


class _Spellings:
    """A second read's collector: the file names, as written, of the lines asked for."""

    open = staticmethod(open_text)  # not hashed: read again only to name a duplicate's lines

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

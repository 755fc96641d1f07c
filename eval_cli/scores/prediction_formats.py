"""How each predictions format's bytes become rows (`predictions` checks them): JSONL blocks
split into non-blank lines, each parsed by `json_input.json_line`, strict CSV; every file opened
as UTF-8 (a spreadsheet's BOM dropped), and, for the read that scores, hashed as its bytes are
read, so that the sha256 is of exactly what was scored and the file is read once."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ...dataset_script.json_input import JsonLineError, json_kind, json_line
from ...metric.errors import SHOWN, ToolkitError, first_few, shorten
from .prediction_values import ABSENT

_CHUNK_ROWS = 1 << 16  # rows read into Python objects before they become numpy columns
# Fewer for JSONL: each row keeps its top5 and top5_probs lists alive until its chunk becomes
# columns, and 65,536 rows' lists were traversed by the cyclic collector again and again (a
# sixth of reading a file); 256 rows' lists stay under its first threshold.
_JSONL_CHUNK_ROWS = 1 << 8
_BLOCK_CHARS = 1 << 20  # characters of a JSONL file split into lines at once
_HASHED_BUFFER = 1 << 20


class PredictionsFileError(ToolkitError):
    """A predictions file that cannot be scored as it is; nothing is dropped to make it fit."""


class Problems:
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


def open_text(path: Path, newline: str | None = None) -> TextIO:
    """``path`` as UTF-8 text, a leading BOM dropped (spreadsheets write one)."""
    return open(path, encoding="utf-8-sig", newline=newline)  # noqa: SIM115 (the caller's with)


class HashedFile(io.RawIOBase):
    """A file's bytes, fed to sha256 as they are read."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 (closed with this object)
        self._digest = hashlib.sha256()
        self._ended = False

    def text(self, newline: str | None = None) -> TextIO:
        """This file as UTF-8 text, as `open_text` opens it."""
        buffered = io.BufferedReader(self, buffer_size=_HASHED_BUFFER)
        return io.TextIOWrapper(buffered, encoding="utf-8-sig", newline=newline)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        count = self._file.readinto(buffer)
        if count:
            self._digest.update(memoryview(buffer)[:count])
        else:
            self._ended = True
        return count

    def close(self) -> None:
        self._file.close()
        super().close()

    def hexdigest(self) -> str:
        """The whole file's sha256: the readers read to the end of a file they accept."""
        assert self._ended, "the file was not read to its end"
        return self._digest.hexdigest()


def read_jsonl(path: Path, rows: Any) -> None:
    """JSONL lines into ``rows`` (a collector: ``open``, ``keys``, ``add_chunk``), a chunk at a
    time; lines that are not JSON objects refused together."""
    problems = Problems()
    with rows.open(path) as handle:
        numbered = _nonblank_lines(handle)
        while chunk := list(itertools.islice(numbered, _JSONL_CHUNK_ROWS)):
            lines: list[int] = []
            file_names: list[Any] = []
            predictions: list[Any] = []
            top5: list[Any] = []
            top5_probs: list[Any] = []
            for line, text in chunk:
                unreadable = None
                try:
                    record = json_line(text)
                except JsonLineError as error:
                    record, unreadable = None, str(error)
                if type(record) is not dict:
                    what = unreadable or json_kind(record)
                    problems.add("line(s) are not JSON objects", line, f"line {line}: {what}")
                    continue
                rows.keys.update(record)
                lines.append(line)
                file_names.append(record.get("file_name"))
                predictions.append(record.get("prediction", ABSENT))
                top5.append(record.get("top5", ABSENT))
                top5_probs.append(record.get("top5_probs"))
            rows.add_chunk(lines, file_names, predictions, top5, top5_probs)
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


def read_csv(path: Path, rows: Any) -> None:
    """Strict CSV rows into ``rows`` (as `read_jsonl`): a quote never closed is an error, not a
    field swallowing the file's rest."""
    problems = Problems()
    with rows.open(path, newline="") as handle:
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
                values.append((fields[index] or ABSENT) if index is not None else ABSENT)
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
        value if value is ABSENT else _json_list(value) if "[" in value else value.split()
        for value in values
    ]


def _json_list(text: str) -> Any:
    """A CSV field holding a JSON list, parsed; anything else as is (not a list: refused)."""
    try:
        return json_line(text)
    except JsonLineError:
        return text

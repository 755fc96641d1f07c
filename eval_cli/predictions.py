"""Per-image predictions files: the one format `run` writes and `score` reads.

JSONL (what `run` writes), one object per image::

    {"file_name": "ILSVRC2012_val_00000001.JPEG", "prediction": 65, "top5": [65, 58, ...],
     "top5_probs": [0.91, 0.03, ...]}

CSV with a header: ``file_name,prediction[,top5]`` where ``top5`` holds space-separated class ids.
``prediction`` may be left out when ``top5`` is given (it is then ``top5[0]``). Class ids are
ImageNet indices 0..999 (wnids in sorted order). Every row is keyed by file name, never by position.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.metric.errors import ToolkitError

_SHOWN = 5


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
        index = {name: row for row, name in enumerate(self.file_names.tolist())}
        return np.array([index.get(name, -1) for name in wanted], dtype=np.int64)


def read_predictions(path: str | os.PathLike) -> Predictions:
    """Read and validate a CSV or JSONL predictions file (chosen by its suffix)."""
    path = Path(path)
    if not path.is_file():
        raise PredictionsFileError(f"predictions file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    readers = {".jsonl": _read_jsonl, ".json": _read_jsonl, ".csv": _read_csv}
    if suffix not in readers:
        raise PredictionsFileError(
            f"{str(path)!r}: unknown predictions format {suffix!r}; expected .csv or .jsonl"
        )
    try:
        records = readers[suffix](path)
    except UnicodeDecodeError as error:
        raise PredictionsFileError(f"{str(path)!r} is not UTF-8 text: {error}") from error
    return _validate(path, records)


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    records, bad = [], []
    with open(path, encoding="utf-8-sig") as handle:  # -sig: spreadsheets write a BOM
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                bad.append(line_number)
                continue
            if not isinstance(record, dict):
                bad.append(line_number)
                continue
            records.append((line_number, record))
    if bad:
        raise PredictionsFileError(
            f"{str(path)!r}: {len(bad)} line(s) are not JSON objects, first at line(s) "
            f"{bad[:_SHOWN]}"
        )
    return records


def _read_csv(path: Path) -> list[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:  # -sig: spreadsheets write a BOM
        reader = csv.DictReader(handle)
        records, ragged = [], []
        for record in reader:
            if None in record or None in record.values():
                ragged.append(reader.line_num)
                continue
            if record.get("top5"):
                record["top5"] = record["top5"].split()
            records.append((reader.line_num, {k: v for k, v in record.items() if v != ""}))
    if ragged:
        raise PredictionsFileError(
            f"{str(path)!r}: {len(ragged)} row(s) have more or fewer fields than the header "
            f"{reader.fieldnames}, first at line(s) {ragged[:_SHOWN]}"
        )
    return records


def _as_class_id(value: Any) -> int | None:
    """An integer class id in 0..999 from an int or an integer string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value.lstrip("-").isdigit():
            return None
        value = int(value)
    if isinstance(value, int) and 0 <= value < classes.NUM_CLASSES:
        return value
    return None


class _Problems:
    """Collects every problem of a file so that one error reports counts and first lines."""

    def __init__(self) -> None:
        self.lines: dict[str, list[int]] = {}

    def add(self, kind: str, line: int) -> None:
        self.lines.setdefault(kind, []).append(line)

    def raise_if_any(self, path: Path) -> None:
        if not self.lines:
            return
        details = "; ".join(
            f"{len(lines)} row(s) with {kind} (first at line(s) {lines[:_SHOWN]})"
            for kind, lines in self.lines.items()
        )
        raise PredictionsFileError(f"{str(path)!r}: {details}")


def _validate(path: Path, records: Iterable[tuple[int, dict[str, Any]]]) -> Predictions:
    records = list(records)
    if not records:
        raise PredictionsFileError(f"{str(path)!r} holds no predictions")
    keys = set().union(*(record.keys() for _, record in records))
    if "file_name" not in keys or not keys & {"prediction", "top5"}:
        raise PredictionsFileError(
            f"{str(path)!r}: expected columns 'file_name' and 'prediction' (or 'top5'), found "
            f"{sorted(keys)}"
        )
    problems = _Problems()
    names, top1, ranked = [], [], []
    first_line: dict[str, int] = {}
    has_top5 = "top5" in keys
    for line, record in records:
        name = record.get("file_name")
        canonical = name if isinstance(name, str) and _is_file_name(name) else None
        if canonical is None:
            problems.add("an unknown file name (expected 'ILSVRC2012_val_NNNNNNNN.JPEG')", line)
        elif canonical in first_line:
            problems.add(
                f"a duplicate file name (first seen at line {first_line[canonical]})", line
            )
        else:
            first_line[canonical] = line
        top5 = record.get("top5")
        if has_top5:
            ids = [_as_class_id(v) for v in top5] if isinstance(top5, list) else None
            if ids is None or len(ids) != 5 or None in ids or len(set(ids)) != 5:
                problems.add("a 'top5' that is not five distinct class ids in 0..999", line)
                ids = None
        prediction = _as_class_id(record["prediction"]) if "prediction" in record else None
        if "prediction" in record and prediction is None:
            problems.add("a 'prediction' that is not an integer class id in 0..999", line)
        elif prediction is None and not has_top5:
            problems.add("no 'prediction'", line)
        if has_top5 and ids is not None:
            if prediction is not None and prediction != ids[0]:
                problems.add("a 'prediction' different from top5[0]", line)
            prediction = ids[0]
        names.append(canonical)
        top1.append(prediction if prediction is not None else -1)
        ranked.append(ids if has_top5 and ids is not None else [-1] * 5)
    problems.raise_if_any(path)
    return Predictions(
        file_names=np.array(names),
        top1=np.array(top1, dtype=np.int64),
        topk=np.array(ranked, dtype=np.int64) if has_top5 else None,
        source=str(path),
    )


def _is_file_name(name: str) -> bool:
    try:
        classes.image_id_from_file_name(name)
    except ValueError:
        return False
    return True


def prediction_record(file_name: str, top5: Sequence[int], top5_probs: Sequence[float]) -> str:
    """One JSONL line of a predictions file, as `run` writes it."""
    record = {
        "file_name": file_name,
        "prediction": int(top5[0]),
        "top5": [int(i) for i in top5],
        "top5_probs": [round(float(p), 6) for p in top5_probs],
    }
    return json.dumps(record) + "\n"

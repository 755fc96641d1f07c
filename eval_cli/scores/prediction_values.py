"""The values of a predictions file's rows as compact numpy columns (`predictions` reads them):
class ids as int16 with codes for what is not one, top-5 probabilities as floats with NaN rows
for what is not five numbers. Each converter is vectorised for what files hold and bounded for
what a hostile file holds (a 5,000-digit id, a bool, a string)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import numpy as np

from ...dataset_script import classes

TOP_K = 5


class Absent:
    """The type of ``ABSENT``, the value of a column a row does not have."""


ABSENT = Absent()
# Codes beside the class ids 0..999 in the int16 columns:
INVALID = -1  # present, but not an integer class id in 0..999
MISSING = -2  # absent
# An integer with at most four significant ASCII digits: "²".isdigit() is True, and int() refuses
# strings of over 4,300 digits; neither can be a class id.
_CLASS_ID_TEXT = re.compile(r"\s*-?0*[0-9]{1,4}\s*")


def class_ids(values: list[Any]) -> np.ndarray:
    """Each value as an int16 class id in 0..999, else ``INVALID`` (``MISSING`` if absent).

    Vectorised for what files hold: all Python ints (JSON), or all strings (CSV: few distinct
    ones, each parsed once); anything else value by value.
    """
    kinds = set(map(type, values))
    if kinds == {int}:
        array = np.array(values)  # object dtype when an int exceeds int64
        if array.dtype.kind == "i":
            in_range = (array >= 0) & (array < classes.NUM_CLASSES)
            return np.where(in_range, array, INVALID).astype(np.int16)
    if kinds == {str}:
        parsed = {text: _class_id(text) for text in set(values)}
        return np.fromiter(map(parsed.__getitem__, values), np.int16, len(values))
    return np.fromiter(map(_class_id, values), np.int16, len(values))


def _class_id(value: Any) -> int:
    """A class id in 0..999 from an int (not a bool or float) or an integer string, else a code."""
    if value is ABSENT:
        return MISSING
    if type(value) is str:
        if _CLASS_ID_TEXT.fullmatch(value) is None:
            return INVALID
        value = int(value)
    if type(value) is int and 0 <= value < classes.NUM_CLASSES:
        return value
    return INVALID


def top5_ids(values: list[Any]) -> np.ndarray:
    """(N, 5) int16 class ids of lists of five values; rows of anything else all ``INVALID``
    (``MISSING`` where absent)."""
    if set(map(type, values)) == {Absent}:  # a file without top5: no row to look at
        return np.full((len(values), TOP_K), MISSING, dtype=np.int16)
    is_five = _lists_of_five(values)
    ids = np.full((len(values), TOP_K), INVALID, dtype=np.int16)
    five = itertools.chain.from_iterable(itertools.compress(values, is_five))
    ids[is_five] = class_ids(list(five)).reshape(-1, TOP_K)
    ids[np.fromiter((value is ABSENT for value in values), bool, len(values))] = MISSING
    return ids


def top5_probabilities(values: list[Any]) -> np.ndarray:
    """(N, 5) floats of lists of five finite numbers (ints or floats, not bools or strings); a NaN
    row for anything else. Probabilities are shown beside mistakes, never scored: a row without
    them is unknown, not an error."""
    probs = np.full((len(values), TOP_K), np.nan)
    if set(map(type, values)) == {list} and set(map(len, values)) == {TOP_K}:  # as `run` writes
        is_five = np.ones(len(values), dtype=bool)
        five = list(itertools.chain.from_iterable(values))
    else:
        is_five = _lists_of_five(values)
        five = list(itertools.chain.from_iterable(itertools.compress(values, is_five)))
    if five:
        probs[is_five] = _floats(five).reshape(-1, TOP_K)
        probs[~np.isfinite(probs).all(axis=1)] = np.nan
    return probs


def _lists_of_five(values: list[Any]) -> np.ndarray:
    return np.fromiter((type(v) is list and len(v) == TOP_K for v in values), bool, len(values))


def _floats(values: list[Any]) -> np.ndarray:
    """Each value as a float, NaN where it is no number; at once for what `run` writes."""
    if set(map(type, values)) <= {float, int}:
        try:
            return np.array(values, dtype=np.float64)
        except OverflowError:  # an int beyond a float's range: value by value
            pass
    return np.fromiter(map(_probability, values), np.float64, len(values))


def _probability(value: Any) -> float:
    """A number as a float; NaN for a bool, a string, anything else, or an int beyond float."""
    if type(value) not in (float, int):
        return np.nan
    try:
        return float(value)
    except OverflowError:
        return np.nan


def distinct(ids: np.ndarray) -> np.ndarray:
    """Per row, whether its values all differ."""
    ordered = np.sort(ids, axis=1)
    return (ordered[:, 1:] != ordered[:, :-1]).all(axis=1)


def image_id(file_name: Any) -> int:
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

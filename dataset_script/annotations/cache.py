"""The compact cache of parsed annotations: an ``.npz`` per source sha256, loaded in milliseconds.

What the compact cache trusts: an entry is named by the sha256 of the file it was parsed from and
is written atomically by this module, after that file was verified, so a complete entry is taken
as that file's labels without re-reading 200 MB. It is never trusted blindly to be readable: an
entry that does not load or whose arrays are inconsistent (a truncated, empty or bit-flipped file,
another format version) is discarded and rebuilt from the verified source, with one note on
stderr. The cache is never the reason a command fails, except when it cannot be written at all.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from .. import classes
from .download import describe_error, lock_path
from .parse import LABEL_KINDS

_COMPACT_FORMAT = 1


class UnreadableCacheEntry(Exception):
    """A compact-cache entry that exists but cannot be used; it is rebuilt, never reported as
    an error."""


def cached_arrays(
    compact: Path, parse: Callable[[], dict[str, Any]], source: str
) -> dict[str, Any]:
    """The arrays cached in ``compact``; else ``parse()``'s, written there under a lock.

    An unreadable entry is discarded and rebuilt, with one note on stderr, under the lock: a
    process that wrote it meanwhile is not undone.
    """
    try:
        arrays = read_compact(compact)
    except UnreadableCacheEntry:
        arrays = None  # looked at again, and reported, under the lock
    if arrays is not None:
        return arrays
    compact.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock_path(compact)):
        try:
            arrays = read_compact(compact)  # another process may have written it meanwhile
        except UnreadableCacheEntry as unreadable:
            print(
                f"note: the label cache {compact} is unreadable ({unreadable}); discarded, "
                f"rebuilding it from {source}",
                file=sys.stderr,
            )
            compact.unlink()
        if arrays is None:
            arrays = parse()
            _write_compact(compact, arrays)
    return arrays


def read_compact(path: Path) -> dict[str, Any] | None:
    """The parsed arrays cached for one file's sha256, None when there is no entry.

    Raises ``UnreadableCacheEntry`` for an entry that does not load or does not hold consistent
    arrays of this format: whatever goes wrong here is the file's fault (a zip can fail in many
    ways: BadZipFile, EOFError, a CRC error, an unsupported compression), so every exception of
    the read counts.
    """
    try:
        with np.load(path) as data:
            found_format = int(data["format"])
            if found_format != _COMPACT_FORMAT:
                raise ValueError(f"format {found_format}, expected {_COMPACT_FORMAT}")
            arrays = {
                "image_ids": data["image_ids"],
                "is_problematic": data["is_problematic"],
                "label_offsets": {k: data[f"{k}_offsets"] for k in LABEL_KINDS},
                "label_values": {k: data[f"{k}_values"] for k in LABEL_KINDS},
                "imagenet_m_ids": data["imagenet_m_ids"],
            }
        _check_compact(arrays)
    except FileNotFoundError:
        return None
    except Exception as error:  # noqa: BLE001 - see the docstring
        raise UnreadableCacheEntry(describe_error(error)) from error
    return arrays


def _check_compact(arrays: Mapping[str, Any]) -> None:
    """The invariants ``parse_annotation_json`` guarantees, or ValueError: a loadable entry
    with other contents must not become wrong labels."""
    image_ids, flags = arrays["image_ids"], arrays["is_problematic"]
    problems = []
    if image_ids.ndim != 1 or image_ids.dtype.kind != "i" or not len(image_ids):
        problems.append("image ids are not a non-empty 1-d integer array")
    elif (
        image_ids[0] < 1
        or image_ids[-1] > classes.NUM_VALIDATION_IMAGES
        or (np.diff(image_ids) <= 0).any()
    ):
        problems.append("image ids are not increasing ids of validation images")
    if flags.dtype != np.bool_ or flags.shape != image_ids.shape:
        problems.append("problematic flags do not match the image ids")
    for kind in LABEL_KINDS:
        offsets, values = arrays["label_offsets"][kind], arrays["label_values"][kind]
        if (
            offsets.shape != (len(image_ids) + 1,)
            or offsets.dtype.kind != "i"
            or values.ndim != 1
            or values.dtype.kind != "i"
            or offsets[0] != 0
            or offsets[-1] != len(values)
            or (np.diff(offsets) < 0).any()
            or (values.size and (values.min() < 0 or values.max() >= classes.NUM_CLASSES))
        ):
            problems.append(f"{kind!r} labels are not ragged class ids")
    imagenet_m_ids = arrays["imagenet_m_ids"]
    if (
        imagenet_m_ids.ndim != 1
        or imagenet_m_ids.dtype.kind != "i"
        or (np.diff(imagenet_m_ids) <= 0).any()
    ):
        problems.append("ImageNet-M ids are not increasing, distinct ids in a 1-d array")
    elif not np.isin(imagenet_m_ids, image_ids).all():
        problems.append("ImageNet-M ids are not annotated images")
    if problems:
        raise ValueError("; ".join(problems))


def _write_compact(path: Path, arrays: Mapping[str, Any]) -> None:
    """Write atomically so that a killed run never leaves a half-written cache entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = {
        "format": np.int32(_COMPACT_FORMAT),
        "image_ids": arrays["image_ids"],
        "is_problematic": arrays["is_problematic"],
        "imagenet_m_ids": arrays["imagenet_m_ids"],
    }
    for kind in LABEL_KINDS:
        flat[f"{kind}_offsets"] = arrays["label_offsets"][kind]
        flat[f"{kind}_values"] = arrays["label_values"][kind]
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as handle:
        try:
            np.savez(handle, **flat)
        except BaseException:
            os.unlink(handle.name)  # a full disk must leave no stray temporary file behind
            raise
    shutil.move(handle.name, path)

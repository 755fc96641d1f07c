"""The ReaL labels (Beyer et al. 2020, "Are we done with ImageNet?"), keyed by file name.

``real.json`` of github.com/google-research/reassessed-imagenet (Apache-2.0, commit
bcd006fe12e929f055e0ec7fe39dbf4d64a6881a) is a list of 50,000 lists of class ids: entry ``i``
belongs to ``ILSVRC2012_val_{i + 1:08d}.JPEG``, and an empty list means the raters found no
ImageNet class that fits, so the image is left out of ReaL accuracy. timm (a dependency already)
ships the same bytes as ``timm/data/_info/imagenet_real_labels.json``, which is read by default;
``path`` takes another copy. Either is checked against the published sha256.

The list is turned into file name -> classes once, here, and everything joins on file names from
then on. (timm's own ReaL evaluator matches labels to images by their position in its loader's
order; a folder sorted differently silently scores the wrong labels. We never do that.)
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...metric.errors import ToolkitError, first_few, not_a_regular_file
from ...metric.references import RealReferences
from .. import classes

REAL_LABELS_SHA256 = "d83e9bff374c631aae8439eb064c7019acc56e1b3bc3f56b8380c2a710b0220b"
SOURCE_REPOSITORY = "https://github.com/google-research/reassessed-imagenet"
SOURCE_COMMIT = "bcd006fe12e929f055e0ec7fe39dbf4d64a6881a"
TIMM_COPY = "data/_info/imagenet_real_labels.json"


class RealLabelsError(ToolkitError):
    """A ReaL labels file that is missing, altered or not in the published shape."""


@dataclass(frozen=True)
class RealLabels:
    """The ReaL set of every validation image; an empty set: no ReaL label, left out."""

    by_file_name: Mapping[str, frozenset[int]]
    source: str
    sha256: str
    verified: bool

    def provenance(self) -> dict[str, Any]:
        """Where the labels came from, for the results document."""
        return {
            "source": self.source,
            "sha256": self.sha256,
            "verified": self.verified,
            "published": f"{SOURCE_REPOSITORY} real.json at {SOURCE_COMMIT}",
        }

    def references(self, file_names: Sequence[str]) -> RealReferences:
        """The ReaL sets of ``file_names``, row-aligned with them, for ``score_real``."""
        unknown = [name for name in file_names if name not in self.by_file_name]
        if unknown:
            raise RealLabelsError(
                f"{len(unknown)} file name(s) are not ImageNet validation images, e.g. "
                f"{first_few(map(repr, unknown))}; expected 'ILSVRC2012_val_NNNNNNNN.JPEG'"
            )
        return RealReferences.from_columns(
            file_names, [self.by_file_name[name] for name in file_names]
        )


def timm_copy() -> Path:
    """The copy of ``real.json`` inside the installed timm package.

    Located through timm's import spec rather than ``importlib.resources.files("timm")``, which
    would import timm and so torch (seconds), while scoring a predictions file needs neither.
    """
    spec = importlib.util.find_spec("timm")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder, TIMM_COPY)
        if path.is_file():
            return path
    raise RealLabelsError(
        f"no {TIMM_COPY} in the installed timm (looked in {folders or 'no timm package'}); pass "
        f"`real_labels=PATH` with real.json from {SOURCE_REPOSITORY}"
    )


def load_real_labels(
    path: str | os.PathLike | None = None, *, allow_unverified: bool = False
) -> RealLabels:
    """Read, verify and key by file name the ReaL labels at ``path`` (default: timm's copy).

    A file whose sha256 differs from the published one is refused unless ``allow_unverified``;
    it is then marked ``verified=False``, and its shape is checked all the same.
    """
    path = Path(path) if path is not None else timm_copy()
    what = not_a_regular_file(path)  # a FIFO or device would block the read
    if what is not None:
        raise RealLabelsError(
            f"the ReaL labels file {str(path)!r} {what}; expected a copy of real.json"
        )
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RealLabelsError(f"cannot read the ReaL labels file {str(path)!r}: {error}") from None
    sha256 = hashlib.sha256(data).hexdigest()
    verified = sha256 == REAL_LABELS_SHA256
    if not verified and not allow_unverified:
        raise RealLabelsError(
            f"ReaL labels {str(path)!r} have sha256 {sha256}, not the published "
            f"{REAL_LABELS_SHA256} (real.json of {SOURCE_REPOSITORY} at {SOURCE_COMMIT}); pass "
            f"`allow_unverified_real_labels=True` to use them anyway, marked unverified"
        )
    try:
        sets = json.loads(data)
    except (UnicodeDecodeError, ValueError) as error:  # ValueError: also ints of 4,301+ digits
        raise RealLabelsError(f"ReaL labels {str(path)!r} are not JSON: {error}") from None
    except RecursionError:
        raise RealLabelsError(
            f"ReaL labels {str(path)!r} are JSON nested too deeply to read; expected lists of "
            "class ids"
        ) from None
    return RealLabels(
        by_file_name=_by_file_name(sets, str(path)),
        source=str(path),
        sha256=sha256,
        verified=verified,
    )


def _by_file_name(sets: Any, source: str) -> dict[str, frozenset[int]]:
    """Entry ``i`` of the published list is the image with id ``i + 1``. Checked in bulk (one
    pass over the flat class ids), per entry only to name the offending ones."""
    if not isinstance(sets, list) or len(sets) != classes.NUM_VALIDATION_IMAGES:
        shape = f"{len(sets):,} entries" if isinstance(sets, list) else type(sets).__name__
        raise RealLabelsError(
            f"ReaL labels {source!r}: expected a JSON list of {classes.NUM_VALIDATION_IMAGES:,} "
            f"lists of class ids (one per validation image, in file-name order), got {shape}"
        )
    file_names = [classes.FILE_NAME_PREFIX + f"{i:08d}.JPEG" for i in range(1, len(sets) + 1)]
    if set(map(type, sets)) == {list}:
        flat = list(itertools.chain.from_iterable(sets))
        ids = _int64_array(flat) if set(map(type, flat)) <= {int} else None
        if ids is not None and (
            ids.size == 0 or (ids.min() >= 0 and ids.max() < classes.NUM_CLASSES)
        ):
            return dict(zip(file_names, map(frozenset, sets), strict=True))
    bad = [
        name for name, labels in zip(file_names, sets, strict=True) if not _is_class_list(labels)
    ]
    raise RealLabelsError(
        f"ReaL labels {source!r}: {len(bad)} entr(y/ies) are not lists of class ids in "
        f"0..{classes.NUM_CLASSES - 1}, first for {first_few(bad)}"
    )


def _int64_array(ints: list[int]) -> np.ndarray | None:
    """``ints`` as int64, None when one does not fit (it is then no class id either)."""
    try:
        return np.array(ints, dtype=np.int64)
    except OverflowError:
        return None


def _is_class_list(labels: Any) -> bool:
    return isinstance(labels, list) and all(
        type(value) is int and 0 <= value < classes.NUM_CLASSES for value in labels
    )

"""ReaL (Beyer et al. 2020, "Are we done with ImageNet?"): the set of classes raters accepted for
each validation image, read by file name.

``data/real/real.json`` is the published ``real.json`` of github.com/google-research/reassessed-
imagenet (Apache-2.0, ``LICENSE`` and ``SOURCE.md`` beside it), shipped unchanged: a list of
50,000 lists of class ids, entry ``i`` for ``ILSVRC2012_val_{i + 1:08d}.JPEG``; an empty list
means the raters found no ImageNet class that fits, and the image is left out. Another copy
(``--real-labels PATH``) is read instead when given. Either is checked against the published
sha256 on every load.

The list becomes labels by image row here, once; everything joins on file names from then on.
(timm's own ReaL evaluator matches labels to images by their position in its loader's order; a
folder sorted differently silently scores the wrong labels. We never do that.)
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ...metric.errors import first_few
from .. import classes
from ..json_input import parse_json
from . import (
    LabelSetError,
    LoadedLabelSet,
    LoadRequest,
    ReadFile,
    data_file,
    over_validation_images,
    provenance,
    read_file,
)

PUBLISHED_SHA256 = "d83e9bff374c631aae8439eb064c7019acc56e1b3bc3f56b8380c2a710b0220b"
SOURCE_REPOSITORY = "https://github.com/google-research/reassessed-imagenet"
SOURCE_COMMIT = "bcd006fe12e929f055e0ec7fe39dbf4d64a6881a"
LICENCE = "Apache-2.0"
COPY_HELP = "a copy of the ReaL labels' real.json (default: the copy shipped in the package)"
WHAT = "the ReaL labels file"
_EXPECTED = (
    f"a JSON list of {classes.NUM_VALIDATION_IMAGES:,} lists of class ids (one per validation "
    "image, in file-name order)"
)


def load(request: LoadRequest) -> LoadedLabelSet:
    """The shipped ``real.json``, or the copy ``request.path``, verified and by image row."""
    path = request.path or data_file("real", "real.json")
    read = read_file(
        path,
        WHAT,
        PUBLISHED_SHA256,
        name=request.label_set.name,
        allow_unverified=request.allow_unverified,
    )
    sets = parse_json(read.data, f"{WHAT} {read.source!r}", _EXPECTED, error=LabelSetError)
    rows, accepted = _flattened(sets, read)
    published = f"{SOURCE_REPOSITORY} real.json at {SOURCE_COMMIT}"
    return over_validation_images(request, rows, accepted, provenance(read, published, LICENCE))


def _flattened(sets: Any, read: ReadFile) -> tuple[np.ndarray, np.ndarray]:
    """Entry ``i`` of the published list is image row ``i`` (image id ``i + 1``): (row, class)
    of every label. Checked in bulk (one pass over the flat class ids), per entry only to name
    the offending ones."""
    if not isinstance(sets, list) or len(sets) != classes.NUM_VALIDATION_IMAGES:
        shape = f"{len(sets):,} entries" if isinstance(sets, list) else type(sets).__name__
        raise LabelSetError(f"{WHAT} {read.source!r}: expected {_EXPECTED}, got {shape}")
    if set(map(type, sets)) == {list}:
        flat = list(itertools.chain.from_iterable(sets))
        ids = _int64_array(flat) if set(map(type, flat)) <= {int} else None
        if ids is not None and (
            ids.size == 0 or (ids.min() >= 0 and ids.max() < classes.NUM_CLASSES)
        ):
            lengths = np.fromiter(map(len, sets), dtype=np.int64, count=len(sets))
            return np.repeat(np.arange(len(sets), dtype=np.int64), lengths), ids
    bad = [
        classes.file_name_from_image_id(row + 1)
        for row, labels in enumerate(sets)
        if not _is_class_list(labels)
    ]
    raise LabelSetError(
        f"{WHAT} {read.source!r}: {len(bad)} entr(y/ies) are not lists of class ids in "
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

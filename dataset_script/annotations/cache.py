"""The compact cache of parsed annotations: an ``.npz`` per source sha256, loaded in milliseconds.

What the compact cache trusts: nothing by its name. Each entry records the sha256 of the file it
was parsed from and a digest of its own arrays, and both are checked on every load; an entry for
the published file must also hold the published counts of images, problematic images and
ImageNet-M images. So an entry copied under another file's name, edited, or forged with a
recomputed digest but another shape is never scored: it is discarded and rebuilt from its source
(one note on stderr), and where the caller has no source at hand the caller refuses. The same
holds for an entry that does not load or whose arrays are inconsistent (a truncated, empty or
bit-flipped file, an older format). An entry that is not a regular file (a FIFO, a device) is
never opened for reading, so it cannot hang a command. The cache is never the reason a command
fails, except when it cannot be written at all or a bad entry has no source to be rebuilt from.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np
from filelock import FileLock

from ...metric.errors import not_a_regular_file
from .. import classes
from .download import describe_error, lock_path
from .parse import LABEL_KINDS, AnnotationError

_COMPACT_FORMAT = 2  # 2: records the source's sha256 and the arrays' digest


class LabelCounts(NamedTuple):
    """The shape of an annotation file's labels: what an entry claiming that file must hold."""

    images: int
    problematic: int
    imagenet_m: int

    def __str__(self) -> str:
        return (
            f"{self.images:,} images, {self.problematic:,} problematic, {self.imagenet_m:,} "
            "ImageNet-M"
        )


class UnusableCacheEntry(Exception):
    """A compact-cache entry that exists but must not be used (unreadable, another format, or not
    what it claims to be); it is rebuilt from its source, never scored."""


def cached_arrays(
    compact: Path,
    source_sha256: str,
    parse: Callable[[], dict[str, Any]],
    source: str,
    *,
    counts: LabelCounts | None = None,
) -> dict[str, Any]:
    """The arrays cached in ``compact`` for the file with ``source_sha256`` (holding ``counts``
    when given); else ``parse()``'s, written there under a lock.

    An unusable entry is discarded and rebuilt, with one note on stderr, under the lock: a
    process that wrote it meanwhile is not undone.
    """
    try:
        arrays = read_compact(compact, source_sha256, counts=counts)
    except UnusableCacheEntry:
        arrays = None  # looked at again, and reported, under the lock
    if arrays is not None:
        return arrays
    compact.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock_path(compact)):
        try:
            arrays = read_compact(compact, source_sha256, counts=counts)  # written meanwhile?
        except UnusableCacheEntry as unusable:
            print(
                f"note: the label cache {compact} is unusable ({unusable}); discarded, "
                f"rebuilding it from {source}",
                file=sys.stderr,
            )
            compact.unlink()
        if arrays is None:
            arrays = parse()
            found = counts_of(arrays)
            if counts is not None and found != counts:
                raise AnnotationError(
                    f"{source} has {found}, not the published file's {counts}; its labels are "
                    "not the published ones"
                )
            _write_compact(compact, arrays, source_sha256)
    return arrays


def read_compact(
    path: Path, source_sha256: str, *, counts: LabelCounts | None = None
) -> dict[str, Any] | None:
    """The parsed arrays cached for the file with ``source_sha256``, None when there is no entry.

    Raises ``UnusableCacheEntry`` for an entry that is not a regular file, does not load, is of
    another format, was built from another file, whose arrays differ from its recorded digest or
    are inconsistent, or which lacks ``counts``: whatever goes wrong here is the entry's fault (a
    zip can fail in many ways: BadZipFile, EOFError, a CRC error, an unsupported compression), so
    every exception of the read counts.
    """
    try:
        with _open_regular(path) as handle, np.load(handle) as data:
            found_format = int(data["format"]) if "format" in data else 0
            if found_format != _COMPACT_FORMAT:
                by = (
                    "an older version, which did not record its source"
                    if found_format < _COMPACT_FORMAT
                    else "another version"
                )
                raise UnusableCacheEntry(
                    f"format {found_format}, expected {_COMPACT_FORMAT}: written by {by}"
                )
            recorded_source = str(data["source_sha256"])
            recorded_digest = str(data["arrays_digest"])
            flat = {name: data[name] for name in _array_names()}
        if recorded_source != source_sha256:
            raise UnusableCacheEntry(
                f"built from the file with sha256 {recorded_source}, not {source_sha256}"
            )
        if _arrays_digest(flat) != recorded_digest:
            raise UnusableCacheEntry("its arrays differ from the digest recorded with them")
        arrays = _nested(flat)
        _check_compact(arrays)
        found = counts_of(arrays)
        if counts is not None and found != counts:
            raise UnusableCacheEntry(f"it holds {found}; the file it claims has {counts}")
    except FileNotFoundError:
        return None
    except UnusableCacheEntry:
        raise
    except Exception as error:  # noqa: BLE001 - see the docstring
        raise UnusableCacheEntry(describe_error(error)) from error
    return arrays


def counts_of(arrays: Mapping[str, Any]) -> LabelCounts:
    """How many images, problematic images and ImageNet-M images ``arrays`` hold."""
    return LabelCounts(
        images=len(arrays["image_ids"]),
        problematic=int(np.count_nonzero(arrays["is_problematic"])),
        imagenet_m=len(arrays["imagenet_m_ids"]),
    )


@contextlib.contextmanager
def _open_regular(path: Path) -> Iterator[BinaryIO]:
    """``path`` opened for reading if it is a regular file (or a link to one); opening never
    blocks (``O_NONBLOCK``: a FIFO would wait for a writer for ever), and anything else is an
    ``UnusableCacheEntry`` saying what it is."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise UnusableCacheEntry(f"it {not_a_regular_file(path) or 'is not a regular file'}")
        handle: BinaryIO = os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
    with handle:
        yield handle


def _array_names() -> tuple[str, ...]:
    """The arrays of an entry, in the order their digest reads them."""
    per_kind = (f"{kind}_{part}" for kind in LABEL_KINDS for part in ("offsets", "values"))
    return ("image_ids", "is_problematic", "imagenet_m_ids", *per_kind)


def _flat(arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The parsed arrays as an entry stores them, by `_array_names`."""
    flat = {name: arrays[name] for name in ("image_ids", "is_problematic", "imagenet_m_ids")}
    for kind in LABEL_KINDS:
        flat[f"{kind}_offsets"] = arrays["label_offsets"][kind]
        flat[f"{kind}_values"] = arrays["label_values"][kind]
    return flat


def _nested(flat: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """An entry's arrays as ``parse_annotation_json`` returns them."""
    return {
        "image_ids": flat["image_ids"],
        "is_problematic": flat["is_problematic"],
        "label_offsets": {kind: flat[f"{kind}_offsets"] for kind in LABEL_KINDS},
        "label_values": {kind: flat[f"{kind}_values"] for kind in LABEL_KINDS},
        "imagenet_m_ids": flat["imagenet_m_ids"],
    }


def _arrays_digest(flat: Mapping[str, np.ndarray]) -> str:
    """sha256 of every array's name, type, shape and bytes: a changed entry does not match."""
    digest = hashlib.sha256()
    for name in _array_names():
        array = np.ascontiguousarray(flat[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}\n".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _check_compact(arrays: Mapping[str, Any]) -> None:
    """The invariants ``parse_annotation_json`` guarantees, or UnusableCacheEntry: a loadable
    entry with other contents (forged with a matching digest) must not become wrong labels."""
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
        raise UnusableCacheEntry("; ".join(problems))


def _write_compact(path: Path, arrays: Mapping[str, Any], source_sha256: str) -> None:
    """Write atomically so that a killed run never leaves a half-written cache entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = _flat(arrays)
    record = {
        "format": np.int32(_COMPACT_FORMAT),
        "source_sha256": np.str_(source_sha256),
        "arrays_digest": np.str_(_arrays_digest(flat)),
    }
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as handle:
        try:
            np.savez(handle, **record, **flat)
        except BaseException:
            os.unlink(handle.name)  # a full disk must leave no stray temporary file behind
            raise
    os.replace(handle.name, path)

"""The published multi-label annotation file: download, cache, verification, parsing, validation.

The file (version 3.0.0, ~200 MB of JSON) is fetched once into the Hugging Face cache with a
progress bar and resume, checked against its published sha256, parsed once, and kept as a compact
``.npz`` keyed by that sha256, so that later runs load the labels in milliseconds. Every rank of a
multi-node job may call this at once, so the download and the compact-cache write each happen
under a file lock next to their target; whoever gets a lock second reuses the first's file. A
local copy (``--annotations PATH``) must have the published sha256 unless the caller explicitly
accepts an unverified file; every result then records ``verified: False`` and the file's own
sha256.

What the compact cache trusts: an entry is named by the sha256 of the file it was parsed from and
is written atomically by this module, after that file was verified, so a complete entry is taken
as that file's labels without re-reading 200 MB. It is never trusted blindly to be readable: an
entry that does not load or whose arrays are inconsistent (a truncated, empty or bit-flipped file,
another format version) is discarded and rebuilt from the verified source, with one note on
stderr. The cache is never the reason a command fails, except when it cannot be written at all.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.metric.errors import (
    ToolkitError,
    brief_repr,
    first_few,
    not_a_regular_file,
)
from tqdm.auto import tqdm

PUBLISHED_URL = (
    "https://storage.googleapis.com/brain-car-datasets/imagenet-mistakes/human_accuracy_v3.0.0.json"
)
PUBLISHED_SHA256 = "d5b2b6111fc9efea16aaebd21bc5a401d16ad18285d3fd99635d8b32ebdb6287"
PUBLISHED_SIZE = 200_417_830
PUBLISHED_VERSION = "3.0.0"
LABEL_KINDS = ("correct", "wrong", "unclear")
SPLITS = ("validation", "imagenet_m")
_COMPACT_FORMAT = 1
_CHUNK = 1 << 20
_TIMEOUT_S = 60


class AnnotationError(ToolkitError):
    """The annotation file is unusable; the message names the file and what was expected."""


@dataclass(frozen=True)
class Annotations:
    """Validated annotations of the ImageNet validation images, rows sorted by image id.

    Label sets are ragged arrays: the classes of row ``i`` for kind ``k`` are
    ``label_values[k][label_offsets[k][i]:label_offsets[k][i + 1]]`` (class indices 0..999).
    """

    image_ids: np.ndarray  # (N,) int32, 1-based, strictly increasing
    is_problematic: np.ndarray  # (N,) bool
    label_offsets: dict[str, np.ndarray]  # kind -> (N + 1,) int64
    label_values: dict[str, np.ndarray]  # kind -> (M,) int16
    imagenet_m_ids: np.ndarray  # (68,) int32, sorted
    sha256: str
    source: str
    verified: bool

    @property
    def version(self) -> str:
        return PUBLISHED_VERSION if self.verified else "unverified"

    def provenance(self) -> dict[str, Any]:
        """What every result records about its labels."""
        return {
            "source": self.source,
            "sha256": self.sha256,
            "version": self.version,
            "verified": self.verified,
            "num_annotated_images": int(len(self.image_ids)),
        }

    def split_columns(self, split: str) -> dict[str, list]:
        """Columns of one split, named and typed as in the Hub labels dataset."""
        if split not in SPLITS:
            raise ToolkitError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        rows = np.arange(len(self.image_ids))
        if split == "imagenet_m":
            if not len(self.imagenet_m_ids):  # the annotation file's fault, not the predictions'
                raise AnnotationError(
                    f"{self.source!r}: 'imagenet_m' lists no image, so the imagenet_m split is "
                    "empty; expected the 68 ImageNet-M images (or score --split validation)"
                )
            rows = np.searchsorted(self.image_ids, self.imagenet_m_ids)
        image_ids = self.image_ids[rows]
        columns: dict[str, list] = {
            "file_name": [classes.validation_file_names()[i - 1] for i in image_ids.tolist()],
            "image_id": image_ids.tolist(),
            "original_label": classes.validation_labels()[image_ids - 1].tolist(),
        }
        for kind in LABEL_KINDS:
            offsets, values = self.label_offsets[kind], self.label_values[kind].tolist()
            columns[f"{kind}_multi_labels"] = [values[offsets[r] : offsets[r + 1]] for r in rows]
        columns["is_problematic"] = self.is_problematic[rows].tolist()
        return columns


def default_cache_dir() -> Path:
    """``$HF_HOME/imagenet_multilabel`` (``~/.cache/huggingface/imagenet_multilabel``)."""
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "imagenet_multilabel"


def load_annotations(
    path: str | os.PathLike | None = None,
    *,
    allow_unverified: bool = False,
    cache_dir: str | os.PathLike | None = None,
    url: str | None = None,
    expected_sha256: str | None = None,
) -> Annotations:
    """The annotations from a local file (``path``) or from the published URL via the cache.

    A local file whose sha256 differs from the published one is refused unless
    ``allow_unverified``; the checksum, not a count of images, is what proves the published file.
    ``url`` and ``expected_sha256`` default to the published ones.
    """
    url = url or PUBLISHED_URL
    expected_sha256 = expected_sha256 or PUBLISHED_SHA256
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if path is None:
        # The compact form of the published file is trusted by its name: no 200 MB re-read.
        source, sha256, raw = url, expected_sha256, None
    else:
        raw = Path(path)
        what = not_a_regular_file(raw)
        if what is not None:
            raise AnnotationError(
                f"annotation file {str(raw)!r} {what}; expected the JSON file "
                "human_accuracy_v3.0.0.json"
            )
        try:
            source, sha256 = str(raw), sha256_of_file(raw)
        except OSError as error:
            raise AnnotationError(f"cannot read annotation file {str(raw)!r}: {error}") from error
        if sha256 != expected_sha256 and not allow_unverified:
            raise AnnotationError(
                f"{str(raw)!r} has sha256 {sha256}, not the published v{PUBLISHED_VERSION} "
                f"checksum {expected_sha256}. Pass --allow-unverified-annotations to use it "
                "anyway; results will then be marked unverified with this file's sha256."
            )

    def parse() -> dict[str, Any]:
        local = (
            raw
            if raw is not None
            else _download_verified(url, expected_sha256, cache / "downloads")
        )
        return parse_annotation_json(local)

    try:
        arrays = _cached_arrays(cache / "compact" / f"{sha256}.npz", parse, source)
    except OSError as error:  # the cache's own files: read and network errors are reported apart
        raise AnnotationError(
            f"cannot write the annotation cache in {str(cache)!r} ({_describe(error)}); nothing "
            f"was lost: {source} is untouched and nothing was scored. Make that directory "
            "writable, or set HF_HOME to a writable directory"
        ) from error
    verified = sha256 == expected_sha256
    return Annotations(**arrays, sha256=sha256, source=source, verified=verified)


def cached_published_annotations(cache_dir: str | os.PathLike | None = None) -> Annotations | None:
    """The published annotations when this machine's cache already holds them (the compact
    entry, or the verified download it is rebuilt from), else None; never downloads. What a
    labels dataset's rows are checked against (``dataset_script.labels_dataset``)."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    compact = cache / "compact" / f"{PUBLISHED_SHA256}.npz"
    download = cache / "downloads" / PUBLISHED_SHA256 / Path(PUBLISHED_URL).name
    try:
        arrays = _read_compact(compact)
    except _UnreadableCacheEntry:
        arrays = None  # rebuilt below from the download, when there is one
    if arrays is None:
        if not download.is_file() or sha256_of_file(download) != PUBLISHED_SHA256:
            return None
        try:
            arrays = _cached_arrays(compact, lambda: parse_annotation_json(download), PUBLISHED_URL)
        except OSError as error:
            raise AnnotationError(
                f"cannot write the annotation cache in {str(cache)!r} ({_describe(error)})"
            ) from error
    return Annotations(**arrays, sha256=PUBLISHED_SHA256, source=PUBLISHED_URL, verified=True)


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _lock_path(target: Path) -> Path:
    return target.with_name(target.name + ".lock")


def _download_verified(url: str, expected_sha256: str, directory: Path) -> Path:
    """Cached, checksum-verified download; a truncated or corrupt cached file is fetched again.

    The whole check-and-fetch runs under a lock, so concurrent processes sharing the cache
    download once and never append to the same ``.incomplete`` file.
    """
    target = directory / expected_sha256 / Path(url).name
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(_lock_path(target)):
        if target.is_file():
            if sha256_of_file(target) == expected_sha256:
                return target
            target.unlink()
        partial = target.with_name(target.name + ".incomplete")
        _fetch(url, partial)
        actual = sha256_of_file(partial)
        if actual != expected_sha256:
            partial.unlink()
            raise AnnotationError(
                f"download of {url} has sha256 {actual}, expected {expected_sha256}; the corrupt "
                "file was removed, run again to fetch it anew"
            )
        partial.replace(target)
    return target


def _fetch(url: str, partial: Path) -> None:
    """Download ``url`` into ``partial``, resuming from its current size with an HTTP Range.

    A connection that fails or ends early raises ``AnnotationError`` and keeps what arrived, so
    that a rerun resumes instead of starting over.
    """
    start = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        response = urllib.request.urlopen(request, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code != 416:  # 416: the partial file already holds every byte
            raise AnnotationError(f"could not download {url}: HTTP {error.code}") from error
        return
    except urllib.error.URLError as error:
        raise AnnotationError(
            f"could not download {url} ({error.reason}); on an offline machine pass a local copy "
            "with --annotations PATH"
        ) from error
    except (OSError, http.client.HTTPException) as error:  # e.g. dropped before the headers
        raise _interrupted(url, partial, _describe(error), start) from error
    with response:
        resumed = start > 0 and response.status == 206
        length = int(response.headers.get("Content-Length", 0)) or None
        total = (start + length if resumed else length) if length else None
        with (
            open(partial, "ab" if resumed else "wb") as out,
            tqdm(
                total=total,
                initial=start if resumed else 0,
                unit="B",
                unit_scale=True,
                desc=f"Downloading {Path(url).name}",
            ) as progress,
        ):
            received = start if resumed else 0
            while True:
                try:  # only the network read: a local write error is not an interruption
                    chunk = response.read(_CHUNK)
                except (OSError, http.client.HTTPException) as error:
                    raise _interrupted(url, partial, _describe(error), received) from error
                if not chunk:
                    break
                out.write(chunk)
                received += len(chunk)
                progress.update(len(chunk))
    if total is not None and received < total:
        # http.client ends a body cut short by the server with b"", not with IncompleteRead.
        cause = f"connection closed after {received:,} of {total:,} bytes"
        raise _interrupted(url, partial, cause, received)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _interrupted(url: str, partial: Path, cause: str, kept: int) -> AnnotationError:
    return AnnotationError(
        f"download of {url} was interrupted ({cause}); the {kept:,} bytes received so far are "
        f"kept in {str(partial)!r} and running again resumes from there"
    )


class _UnreadableCacheEntry(Exception):
    """A compact-cache entry that exists but cannot be used; it is rebuilt, never reported as
    an error."""


def _cached_arrays(
    compact: Path, parse: Callable[[], dict[str, Any]], source: str
) -> dict[str, Any]:
    """The arrays cached in ``compact``; else ``parse()``'s, written there under a lock.

    An unreadable entry is discarded and rebuilt, with one note on stderr, under the lock: a
    process that wrote it meanwhile is not undone.
    """
    try:
        arrays = _read_compact(compact)
    except _UnreadableCacheEntry:
        arrays = None  # looked at again, and reported, under the lock
    if arrays is not None:
        return arrays
    compact.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(_lock_path(compact)):
        try:
            arrays = _read_compact(compact)  # another process may have written it meanwhile
        except _UnreadableCacheEntry as unreadable:
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


def _read_compact(path: Path) -> dict[str, Any] | None:
    """The parsed arrays cached for one file's sha256, None when there is no entry.

    Raises ``_UnreadableCacheEntry`` for an entry that does not load or does not hold consistent
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
        raise _UnreadableCacheEntry(_describe(error)) from error
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


def parse_annotation_json(path: Path) -> dict[str, Any]:
    """Parse and validate the published schema; ImageNetV2 images (other prefixes) are left out."""
    try:
        with open(path, "rb") as handle:
            data = json.load(handle)
    except (ValueError, UnicodeDecodeError) as error:  # ValueError: also ints of 4,301+ digits
        raise AnnotationError(f"{str(path)!r} is not valid JSON: {error}") from error
    except RecursionError as error:
        raise AnnotationError(f"{str(path)!r} is JSON nested too deeply to read") from error
    except OSError as error:
        raise AnnotationError(f"cannot read annotation file {str(path)!r}: {error}") from error
    if not isinstance(data, dict):
        raise AnnotationError(f"{str(path)!r}: expected a JSON object, found {type(data).__name__}")
    required = ("initial_annots", "problematic_images", "imagenet_m")
    missing = [key for key in required if key not in data]
    if missing:
        raise AnnotationError(
            f"{str(path)!r} lacks the key(s) {', '.join(missing)}; expected the published schema "
            "with 'initial_annots', 'problematic_images' and 'imagenet_m'"
        )
    annotated = _validation_entries(path, _expect_mapping(path, data, "initial_annots"))
    image_ids = np.array(sorted(annotated), dtype=np.int32)
    if len(image_ids) == 0:
        raise AnnotationError(f"{str(path)!r} annotates no ILSVRC2012_val_ images")
    problematic_names = data["problematic_images"]
    if not isinstance(problematic_names, dict | list):
        raise AnnotationError(
            f"{str(path)!r}: 'problematic_images' must map image names to reasons (or list the "
            f"names), found {brief_repr(problematic_names)}"
        )
    problematic = set(_validation_ids(path, "problematic_images", problematic_names))
    imagenet_m = _imagenet_m_ids(path, data["imagenet_m"], annotated)
    offsets, values = {}, {}
    for kind in LABEL_KINDS:
        offsets[kind], values[kind] = _ragged(path, kind, (annotated[i] for i in image_ids))
    return {
        "image_ids": image_ids,
        "is_problematic": np.isin(image_ids, list(problematic)),
        "label_offsets": offsets,
        "label_values": values,
        "imagenet_m_ids": imagenet_m,
    }


def _expect_mapping(path: Path, data: Mapping, key: str) -> Mapping:
    value = data[key]
    if not isinstance(value, dict):
        raise AnnotationError(
            f"{str(path)!r}: {key!r} must map image names to annotations, found "
            f"{type(value).__name__}"
        )
    return value


def _is_validation_name(name: str) -> bool:
    return name.startswith(classes.FILE_NAME_PREFIX)


def _validation_ids(path: Path, key: str, names: Iterable[str]) -> list[int]:
    """Image ids of the ILSVRC2012_val_ names; malformed ones are an error listing the first."""
    ids, malformed = [], []
    for name in names:
        if not isinstance(name, str) or not _is_validation_name(name):
            continue  # ImageNetV2 images share the file; they are not ours to score
        try:
            ids.append(classes.image_id_from_file_name(name))
        except ValueError:
            malformed.append(name)
    if malformed:
        raise AnnotationError(
            f"{str(path)!r}: {len(malformed)} malformed image name(s) in {key!r}, first "
            f"{first_few(map(repr, malformed))}; expected 'ILSVRC2012_val_NNNNNNNN.JPEG'"
        )
    return ids


def _validation_entries(path: Path, initial: Mapping[str, Any]) -> dict[int, Mapping]:
    names = [name for name in initial if _is_validation_name(name)]
    ids = _validation_ids(path, "initial_annots", names)
    bad = [name for name in names if not isinstance(initial[name], dict)]
    if bad:
        raise AnnotationError(
            f"{str(path)!r}: {len(bad)} annotation(s) in 'initial_annots' are not objects, first "
            f"{first_few(map(repr, bad))}; expected "
            "{'correct': [wnid, ...], 'wrong': [...], 'unclear': [...]}"
        )
    return {image_id: initial[name] for image_id, name in zip(ids, names, strict=True)}


def _imagenet_m_ids(path: Path, names: Any, annotated: Mapping[int, Any]) -> np.ndarray:
    if not isinstance(names, list):
        raise AnnotationError(
            f"{str(path)!r}: 'imagenet_m' must be a list of image names, found "
            f"{type(names).__name__}"
        )
    foreign = [name for name in names if not isinstance(name, str) or not _is_validation_name(name)]
    if foreign:
        raise AnnotationError(
            f"{str(path)!r}: {len(foreign)} 'imagenet_m' entr(y/ies) are not ImageNet validation "
            f"names, first {first_few(map(repr, foreign))}"
        )
    ids = _validation_ids(path, "imagenet_m", names)
    if len(set(ids)) != len(ids):
        raise AnnotationError(f"{str(path)!r}: 'imagenet_m' lists an image more than once")
    unannotated = [name for name, i in zip(names, ids, strict=True) if i not in annotated]
    if unannotated:
        raise AnnotationError(
            f"{str(path)!r}: {len(unannotated)} ImageNet-M image(s) have no entry in "
            f"'initial_annots', first {first_few(map(repr, unannotated))}"
        )
    return np.array(sorted(ids), dtype=np.int32)


def _ragged(path: Path, kind: str, entries: Iterable[Mapping]) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and class indices of one label kind; unknown wnids are an error."""
    lengths: list[int] = []
    values: list[int] = []
    unknown: list[str] = []
    for entry in entries:
        wnids = entry.get(kind, [])
        if not isinstance(wnids, list):
            raise AnnotationError(
                f"{str(path)!r}: {kind!r} labels must be lists of wnids, found {brief_repr(wnids)}"
            )
        lengths.append(len(wnids))
        for wnid in wnids:
            index = classes.WNID_TO_INDEX.get(wnid) if isinstance(wnid, str) else None
            if index is None:
                unknown.append(repr(wnid))
            else:
                values.append(index)
    if unknown:
        raise AnnotationError(
            f"{str(path)!r}: {len(unknown)} unknown wnid(s) in {kind!r} labels, first "
            f"{first_few(unknown)}; expected ILSVRC-2012 wnids such as 'n01440764'"
        )
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets, np.array(values, dtype=np.int16)

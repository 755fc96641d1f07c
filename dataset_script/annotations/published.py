"""The published multi-label annotation file: download, cache, verification, parsing, validation.

The file (version 3.0.0, ~200 MB of JSON) is fetched once into the Hugging Face cache with a
progress bar and resume, checked against its published sha256, parsed once, and kept as a compact
``.npz`` keyed by that sha256, so that later runs load the labels in milliseconds. Every rank of a
multi-node job may call this at once, so the download and the compact-cache write each happen
under a file lock next to their target; whoever gets a lock second reuses the first's file. A
local copy (``annotations``) must have the published sha256 unless the caller explicitly
accepts an unverified file; every result then records ``verified: False`` and the file's own
sha256.

The work is split by concern: ``annotation_download`` (fetch and verify), ``annotation_json``
(parse and validate), ``annotation_cache`` (the compact cache); this module ties them together
and owns the published file's identity and the ``Annotations`` the rest of the toolkit reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...metric.errors import ToolkitError, named, not_a_regular_file
from .. import classes
from .cache import LabelCounts, UnusableCacheEntry, cached_arrays, read_compact
from .download import describe_error, download_verified, sha256_of_file
from .parse import LABEL_KINDS, AnnotationError, parse_annotation_json

PUBLISHED_URL = (
    "https://storage.googleapis.com/brain-car-datasets/imagenet-mistakes/human_accuracy_v3.0.0.json"
)
PUBLISHED_SHA256 = "d5b2b6111fc9efea16aaebd21bc5a401d16ad18285d3fd99635d8b32ebdb6287"
PUBLISHED_SIZE = 200_417_830
PUBLISHED_VERSION = "3.0.0"
# What the published file holds (Shankar et al. 2020; 18,692 images are not problematic, as in
# Peychev et al.'s tables): a cache entry that claims its sha256 must hold the same.
PUBLISHED_COUNTS = LabelCounts(images=20_000, problematic=1_308, imagenet_m=68)
SPLITS = ("validation", "imagenet_m")


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

    def lists_images_of(self, split: str) -> bool:
        """Whether the file lists any image of ``split`` (an ``imagenet_m`` list may be empty)."""
        return split != "imagenet_m" or bool(len(self.imagenet_m_ids))

    def split_columns(self, split: str) -> dict[str, list]:
        """Columns of one split, named and typed as in the Hub labels dataset."""
        if split not in SPLITS:
            raise ToolkitError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        rows = np.arange(len(self.image_ids))
        if split == "imagenet_m":
            if not len(self.imagenet_m_ids):  # the annotation file's fault, not the predictions'
                raise AnnotationError(
                    f"{self.source!r}: 'imagenet_m' lists no image, so the imagenet_m split is "
                    "empty; expected the 68 ImageNet-M images (or score "
                    f"`{named('split', 'validation')}`)"
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
        # The compact form of the published file records its source's sha256 and its arrays'
        # digest, which are checked instead of re-reading 200 MB.
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
            # Recorded resolved: a later `analyze --run-dir` finds it from any directory.
            source, sha256 = str(raw.resolve()), sha256_of_file(raw)
        except OSError as error:
            raise AnnotationError(f"cannot read annotation file {str(raw)!r}: {error}") from error
        if sha256 != expected_sha256 and not allow_unverified:
            raise AnnotationError(
                f"{str(raw)!r} has sha256 {sha256}, not the published v{PUBLISHED_VERSION} "
                f"checksum {expected_sha256}. Pass `{named('allow_unverified', True)}` to use it "
                "anyway; results will then be marked unverified with this file's sha256."
            )

    def parse() -> dict[str, Any]:
        local = (
            raw if raw is not None else download_verified(url, expected_sha256, cache / "downloads")
        )
        return parse_annotation_json(local)

    try:
        arrays = cached_arrays(
            compact_path(cache, sha256), sha256, parse, source, counts=_claimed_counts(sha256)
        )
    except OSError as error:  # the cache's own files: read and network errors are reported apart
        raise AnnotationError(
            f"cannot write the annotation cache in {str(cache)!r} ({describe_error(error)}); "
            f"nothing was lost: {source} is untouched and nothing was scored. Make that directory "
            "writable, or set HF_HOME to a writable directory"
        ) from error
    verified = sha256 == expected_sha256
    return Annotations(**arrays, sha256=sha256, source=source, verified=verified)


def cached_published_annotations(cache_dir: str | os.PathLike | None = None) -> Annotations | None:
    """The published annotations when this machine's cache already holds them (the compact
    entry, or the verified download it is rebuilt from), else None; never downloads. What a
    labels dataset's rows are checked against (``dataset_script.labels_dataset``). An unusable
    entry with no download to rebuild it from is an error: it is never taken as the labels."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    compact = compact_path(cache, PUBLISHED_SHA256)
    download = cache / "downloads" / PUBLISHED_SHA256 / Path(PUBLISHED_URL).name
    try:
        arrays = read_compact(compact, PUBLISHED_SHA256, counts=PUBLISHED_COUNTS)
    except UnusableCacheEntry as unusable:
        arrays, problem = None, unusable  # rebuilt below from the download, when there is one
    else:
        problem = None
    if arrays is None:
        if not download.is_file() or sha256_of_file(download) != PUBLISHED_SHA256:
            if problem is None:
                return None
            raise AnnotationError(
                f"the label cache {compact} is unusable ({problem}) and the verified download "
                f"it is rebuilt from is not in {str(cache)!r}; nothing was checked against it. "
                "Remove that entry, or give a local copy of the published annotation file "
                "(human_accuracy_v3.0.0.json) as the annotations"
            )
        try:
            arrays = cached_arrays(
                compact,
                PUBLISHED_SHA256,
                lambda: parse_annotation_json(download),
                PUBLISHED_URL,
                counts=PUBLISHED_COUNTS,
            )
        except OSError as error:
            raise AnnotationError(
                f"cannot write the annotation cache in {str(cache)!r} ({describe_error(error)})"
            ) from error
    return Annotations(**arrays, sha256=PUBLISHED_SHA256, source=PUBLISHED_URL, verified=True)


def compact_path(cache: Path, sha256: str) -> Path:
    """Where the parsed form of the file with ``sha256`` is cached."""
    return cache / "compact" / f"{sha256}.npz"


def _claimed_counts(sha256: str) -> LabelCounts | None:
    """The counts an entry for the file with ``sha256`` must hold: the published file's."""
    return PUBLISHED_COUNTS if sha256 == PUBLISHED_SHA256 else None

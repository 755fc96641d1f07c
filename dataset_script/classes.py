"""The ILSVRC-2012 class index, readable class names and original validation labels.

Everything in the project maps classes by index (0..999, the wnids in sorted order, as timm,
torchvision and the Hub's imagenet-1k do) or by wnid, never by readable name: "crane" names two
classes. The tables ship as package data:

- ``data/imagenet_classes.tsv``: ``wnid<TAB>name`` in index order. Names are the WordNet lemmas;
  a lemma shared by two classes gets its wnid appended so that every name is unique (a
  ``datasets.ClassLabel`` requires that).
- ``data/ilsvrc2012_validation_wnids.txt``: the ILSVRC-2012 devkit's 50,000 validation labels as
  wnids, line ``i`` for image ``ILSVRC2012_val_{i:08d}.JPEG``.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import numpy as np

from ..metric.errors import ToolkitError, brief_repr

NUM_CLASSES = 1000
NUM_VALIDATION_IMAGES = 50_000
FILE_NAME_PREFIX = "ILSVRC2012_val_"
_FILE_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG")
_STEM = re.compile(r"ILSVRC2012_val_(\d{8})(?!\d)")


def _read_lines(name: str) -> list[str]:
    text = resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8")
    return text.splitlines()


def _load_class_table() -> tuple[tuple[str, ...], tuple[str, ...]]:
    rows = [line.split("\t") for line in _read_lines("imagenet_classes.tsv")]
    return tuple(row[0] for row in rows), tuple(row[1] for row in rows)


WNIDS, CLASS_NAMES = _load_class_table()
WNID_TO_INDEX: dict[str, int] = {wnid: index for index, wnid in enumerate(WNIDS)}


@cache
def validation_labels() -> np.ndarray:
    """Original (single) label of every validation image; entry ``image_id - 1``."""
    wnids = _read_lines("ilsvrc2012_validation_wnids.txt")
    return np.array([WNID_TO_INDEX[wnid] for wnid in wnids], dtype=np.int16)


def image_id_from_file_name(file_name: str) -> int:
    """1-based image id of ``ILSVRC2012_val_%08d.JPEG``; ValueError for anything else."""
    match = _FILE_NAME.fullmatch(file_name)
    if match is None or not 1 <= int(match.group(1)) <= NUM_VALIDATION_IMAGES:
        raise ToolkitError(
            f"{brief_repr(file_name)} is not an ImageNet validation file name: expected "
            f"'ILSVRC2012_val_NNNNNNNN.JPEG' with NNNNNNNN in 00000001..{NUM_VALIDATION_IMAGES:08d}"
        )
    return int(match.group(1))


@cache
def validation_file_names() -> tuple[str, ...]:
    """Every validation file name, entry ``image_id - 1``: built once, then indexed."""
    return tuple(f"{FILE_NAME_PREFIX}{i:08d}.JPEG" for i in range(1, NUM_VALIDATION_IMAGES + 1))


@cache
def image_ids_by_file_name() -> dict[str, int]:
    """Every validation file name -> its image id: a lookup instead of a parse per row."""
    return {name: index for index, name in enumerate(validation_file_names(), start=1)}


def file_name_from_image_id(image_id: int) -> str:
    if not 1 <= image_id <= NUM_VALIDATION_IMAGES:
        raise ToolkitError(f"image id {image_id} is outside 1..{NUM_VALIDATION_IMAGES}")
    return f"{FILE_NAME_PREFIX}{image_id:08d}.JPEG"


def file_name_from_any(name: str) -> str | None:
    """Canonical file name for any string that embeds a validation stem, else None.

    Image sources name images in many ways (``ILSVRC2012_val_00000001.JPEG``, a Hub path
    ``ILSVRC2012_val_00000001_n01751748.JPEG``, a webdataset ``__key__``); all join on the stem.
    """
    match = _STEM.search(name)
    if match is None:
        return None
    image_id = int(match.group(1))
    return file_name_from_image_id(image_id) if 1 <= image_id <= NUM_VALIDATION_IMAGES else None

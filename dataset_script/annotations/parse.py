"""The annotation file's JSON: parsed and validated against the published schema into arrays.

Every way the file can be wrong (not JSON, missing keys, malformed names, unknown wnids, an
ImageNet-M image without annotations) is an ``AnnotationError`` naming the file and what was
expected, so a bad file never becomes wrong labels. ImageNetV2 images share the file and are left
out: they are not ours to score.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...metric.errors import ToolkitError, brief_repr, first_few
from .. import classes
from ..json_input import read_json

LABEL_KINDS = ("correct", "wrong", "unclear")


class AnnotationError(ToolkitError):
    """The annotation file is unusable; the message names the file and what was expected."""


def parse_annotation_json(path: Path) -> dict[str, Any]:
    """Parse and validate the published schema; ImageNetV2 images (other prefixes) are left out."""
    data = read_json(
        path,
        f"annotation file {str(path)!r}",
        "a JSON object in the published schema",
        top=dict,
        error=AnnotationError,
    )
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

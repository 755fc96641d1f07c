"""The labels that predictions are scored against: ``Labels`` and ``load_labels``.

Two sources give the same ``Labels`` (per split a ``metric.scoring.References``, plus provenance):
the annotation file (``dataset_script.annotations``: the published one through the cache, or a
local copy) and a built or published labels dataset (``dataset_script.labels_dataset``, imported
only when one is asked for, since it imports ``datasets``). Label patches
(``dataset_script.patches``) apply on top of either.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from imagenet_multilabel.dataset_script.annotations import SPLITS, load_annotations
from imagenet_multilabel.dataset_script.patches import (
    apply_patches,
    patched_provenance,
    read_patch,
)
from imagenet_multilabel.metric.errors import ToolkitError
from imagenet_multilabel.metric.scoring import References


@dataclass(frozen=True)
class Labels:
    """The labels of each loaded split, and where they came from (recorded in every result)."""

    splits: dict[str, References]
    provenance: dict[str, Any]

    def split(self, name: str) -> References:
        if name not in self.splits:
            raise ToolkitError(
                f"split {name!r} was not loaded from the labels {self.provenance.get('source')!r}"
                f"; loaded: {', '.join(self.splits)}. Pass it to load_labels(splits=...)"
            )
        return self.splits[name]


def load_labels(
    splits: Sequence[str] = SPLITS,
    *,
    annotations: str | os.PathLike | None = None,
    dataset: str | None = None,
    allow_unverified: bool = False,
    patches: Sequence[str | os.PathLike] = (),
) -> Labels:
    """The labels of ``splits`` (``validation``, ``imagenet_m``) from one source.

    ``annotations``: a local copy of the annotation file (refused unless its sha256 is the
    published one or ``allow_unverified``); ``dataset``: a labels dataset folder or Hub id;
    neither: the published annotation file, downloaded once into the Hugging Face cache.
    ``patches``: label patch files (``dataset_script.patches``) applied in memory; the labels
    then carry a patched version and are never the official ones.
    """
    unknown = [split for split in splits if split not in SPLITS]
    if unknown:
        raise ToolkitError(f"unknown split(s) {unknown}; expected some of {', '.join(SPLITS)}")
    if dataset is not None and (annotations is not None or allow_unverified):
        raise ToolkitError(
            "labels come from one source: pass either a labels dataset or an annotation file "
            "(allow_unverified applies to the annotation file only)"
        )
    # A patch is checked against every annotated image: the validation split.
    loaded_splits = (
        tuple(splits) if not patches or "validation" in splits else (*splits, "validation")
    )
    if dataset is not None:
        from imagenet_multilabel.dataset_script.labels_dataset import load_labels_dataset

        references, provenance = load_labels_dataset(dataset, loaded_splits)
    else:
        loaded = load_annotations(annotations, allow_unverified=allow_unverified)
        references = {s: References.from_columns(loaded.split_columns(s)) for s in loaded_splits}
        provenance = loaded.provenance()
    if not patches:
        return Labels(references, provenance)
    read = [read_patch(path) for path in patches]
    patched = {
        split: apply_patches(
            references[split],
            read,
            base_sha256=provenance["sha256"],
            annotated=references["validation"],
        )
        for split in splits
    }
    return Labels(patched, patched_provenance(provenance, read))


def given_or_loaded(
    labels: Labels | None,
    *,
    annotations: str | os.PathLike | None = None,
    dataset: str | None = None,
    allow_unverified: bool = False,
    patches: Sequence[str | os.PathLike] = (),
) -> Labels:
    """``labels`` as the caller loaded them, else every split loaded from the source given (the
    mistake analysis marks the ImageNet-M images, so both splits are loaded). Patches belong
    with the loading: given with ready labels they would be silently ignored, so they are refused.
    """
    if labels is not None:
        if patches:
            raise ToolkitError("pass label patches to load_labels(patches=...) with the labels")
        return labels
    return load_labels(
        SPLITS,
        annotations=annotations,
        dataset=dataset,
        allow_unverified=allow_unverified,
        patches=patches,
    )

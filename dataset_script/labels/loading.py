"""The labels that predictions are scored against: ``Labels`` and ``load_labels``.

Two sources give the same ``Labels`` (per split a ``metric.references.References``, plus
provenance): the annotation file (``dataset_script.annotations``: the published one through the
cache, or a local copy) and a built or published labels dataset (``dataset_script.labels_dataset``,
imported only when one is asked for, since it imports ``datasets``). Label patches
(``dataset_script.patches``) apply on top of either; ``LabelSource`` gathers these options.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from ...metric.errors import (
    PATH_TYPES,
    ToolkitError,
    brief_repr,
    expect_flag,
    expect_items,
    expect_path,
    named,
)
from ...metric.references import References
from ..annotations.published import (
    SPLITS,
    Annotations,
    cached_published_annotations,
    load_annotations,
)
from .patches import apply_patches, patched_provenance, read_patch


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


@dataclass(frozen=True)
class LabelSource:
    """Where the labels come from: the label options every command shares, gathered once, and
    the rule between them.

    ``annotations``: a local copy of the annotation file (with ``dataset``, the published file
    that checks it); ``dataset``: a labels dataset folder or Hub id; neither: the published
    annotation file through the cache; ``allow_unverified``: an annotation file whose sha256 is
    not the published one is accepted (never with ``dataset``, which only the published file
    checks). ``patches``: label patch files applied on top. The API takes one (or ready
    ``Labels``) as ``labels=``; the command line builds one from its options of the same names
    (``--annotations``, ``--labels``, ``--allow-unverified-annotations``, ``--label-patch``).
    """

    annotations: str | os.PathLike | None = None
    dataset: str | os.PathLike | None = None
    allow_unverified: bool = False
    patches: tuple[str | os.PathLike, ...] = ()

    def __post_init__(self) -> None:
        for name in ("annotations", "dataset"):
            expect_path(getattr(self, name), name, optional=True)
        expect_flag(self.allow_unverified, "allow_unverified")
        patches = expect_items(self.patches, "patches", PATH_TYPES, "a patch path")
        object.__setattr__(self, "patches", patches)
        if self.dataset is not None and self.allow_unverified:
            raise ToolkitError(
                f"{named('allow_unverified')} applies to {named('annotations')} as the labels' "
                f"source; with {named('dataset')} an annotation file only checks the labels "
                "dataset, and must be the published one"
            )

    @property
    def given(self) -> bool:
        """Whether any label option was given (else: the published labels, by default)."""
        return self != LabelSource()

    def load(self, splits: str | Sequence[str] = SPLITS, optional: Collection[str] = ()) -> Labels:
        """The labels of ``splits`` from this source (see ``load_labels``); a split also in
        ``optional`` is left out when the annotation file lists none of its images."""
        splits = expect_items(splits, "splits", (str,), "a split name")
        unknown = [split for split in splits if split not in SPLITS]
        if unknown:
            raise ToolkitError(
                f"unknown split(s) {brief_repr(unknown)}; expected some of {', '.join(SPLITS)}"
            )
        # A patch is checked against every annotated image: the validation split.
        patches = self.patches
        loaded = splits if not patches or "validation" in splits else (*splits, "validation")
        if self.dataset is not None:
            from .dataset import load_labels_dataset

            published = _published_to_check_against(self.annotations)
            references, provenance = load_labels_dataset(
                os.fspath(self.dataset), loaded, published=published
            )
        else:
            annotations = load_annotations(self.annotations, allow_unverified=self.allow_unverified)
            references = {
                s: References.from_columns(annotations.split_columns(s))
                for s in loaded
                if s not in optional or annotations.lists_images_of(s)
            }
            provenance = annotations.provenance()
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

    def files(self) -> dict[str, Any]:
        """The label files this source reads, as a result records them (``label_files``), so a
        later command finds them from any directory: the annotation file and each patch
        resolved, a local labels dataset folder resolved (a Hub id as given)."""
        dataset = self.dataset
        if dataset is not None and os.path.isdir(dataset):
            dataset = os.path.realpath(dataset)
        return {
            "annotations": None if self.annotations is None else os.path.realpath(self.annotations),
            "dataset": None if dataset is None else os.fspath(dataset),
            "patches": [os.path.realpath(patch) for patch in self.patches],
        }


def resolve_labels(labels: Labels | LabelSource | None, needed: Collection[str] = SPLITS) -> Labels:
    """Ready ``Labels`` as given, else every split loaded from the ``LabelSource`` (the published
    file when None): the mistake analysis marks the ImageNet-M images, so both are loaded. A split
    the command does not score (not in ``needed``, the command's chosen splits) is left out when
    the annotation file lists none of its images, so an empty ImageNet-M list only stops the
    commands that score it."""
    if isinstance(labels, Labels):
        return labels
    return label_source(labels).load(SPLITS, optional=[s for s in SPLITS if s not in needed])


def label_source(labels: LabelSource | None) -> LabelSource:
    """The ``LabelSource`` a ``labels=`` argument names (None: the published file); anything else
    but ready ``Labels`` is an error naming the parameter, before any file is read."""
    if labels is None:
        return LabelSource()
    if isinstance(labels, LabelSource):
        return labels
    raise ToolkitError(
        f"{named('labels')}: expected Labels, a LabelSource or None, got {type(labels).__name__} "
        f"{brief_repr(labels)}"
    )


def load_labels(
    splits: str | Sequence[str] = SPLITS,
    *,
    annotations: str | os.PathLike | None = None,
    dataset: str | os.PathLike | None = None,
    allow_unverified: bool = False,
    patches: str | os.PathLike | Sequence[str | os.PathLike] = (),
) -> Labels:
    """The labels of ``splits`` (``validation``, ``imagenet_m``; one name alone is one split).

    ``annotations``: a local copy of the annotation file (refused unless its sha256 is the
    published one or ``allow_unverified``); ``dataset``: a labels dataset folder or Hub id;
    neither: the published annotation file, downloaded once into the Hugging Face cache.
    A labels dataset is ``verified`` (official) only when its rows equal the published file's:
    that file is taken from ``annotations`` (which must then be the published one) or from the
    cache, never downloaded for this; without it the labels are ``verification: "unchecked"``.
    ``patches``: label patch files (``dataset_script.patches``; one path alone is one patch)
    applied in memory; the labels then carry a patched version and are never the official ones.
    """
    patches = expect_items(patches, "patches", PATH_TYPES, "a label patch path")
    expect_path(annotations, "annotations", optional=True)
    expect_path(dataset, "dataset", optional=True)
    expect_flag(allow_unverified, "allow_unverified")
    source = LabelSource(annotations, dataset, allow_unverified, patches)
    return source.load(splits)


def _published_to_check_against(annotations: str | os.PathLike | None) -> Annotations | None:
    """The published annotations a labels dataset is checked against: ``annotations`` (which
    must be the published file), else the cache's copy, else None (the check is left undone)."""
    if annotations is None:
        return cached_published_annotations()
    published = load_annotations(annotations, allow_unverified=True)
    if not published.verified:
        raise ToolkitError(
            f"the annotation file {str(annotations)!r} given to check the labels dataset has "
            f"sha256 {published.sha256}, not the published one; pass the published "
            "human_accuracy_v3.0.0.json, or no annotation file (the cache's copy is used when "
            "there is one)"
        )
    return published

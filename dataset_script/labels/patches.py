"""Label patches: reviewed verdicts on (image, class) pairs, applied on top of the official labels.

A patch is a versioned JSON file (what the review page's "Download label patch" saves)::

    {"format": "imagenet-multilabel-label-patch", "format_version": 1,
     "base": "<sha256 of the annotation file it applies to>",
     "created": "2026-01-31T12:00:00Z", "reviewer": "free text",
     "decisions": [{"file_name": "ILSVRC2012_val_00000001.JPEG", "class_id": 65,
                    "verdict": "correct",            # or "unclear", "wrong"
                    "category": "fine-grained",      # optional, as dataset_script.mistakes
                    "severity": "minor",             # optional
                    "note": "free text"}]}           # optional

Applying a decision moves its class into the verdict's set of that image and out of the other
two; nothing else changes. ``apply_patches`` is the one implementation, used by ``load_labels``
(``LabelSource.patches``, ``--label-patch`` of every command) and by ``build``. Patched labels
get the version ``<base version>+patch.<first 8 hex of the combined sha256>``, are marked
``verified: False`` and ``patched: True`` (never the official labels; ``base_verified`` keeps
whether the annotation file itself is the published one), and nothing is ever
written into the cached annotation file: patches work on the in-memory ``References``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...metric.errors import ToolkitError, brief_repr, named, read_regular_file
from ...metric.references import LabelSets, References
from .. import classes
from ..json_input import parse_json
from ..taxonomy.experts import normalize_category, normalize_severity

PATCH_FORMAT = "imagenet-multilabel-label-patch"
PATCH_FORMAT_VERSION = 1
# A verdict names the References label set the class moves into.
PATCH_VERDICTS = ("correct", "unclear", "wrong")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHOWN = 5


class LabelPatchError(ToolkitError):
    """A label patch that cannot be read or applied; the message names the file and decisions."""


@dataclass(frozen=True)
class Decision:
    """One reviewed (image, class): ``class_id`` belongs in the ``verdict`` set of the image."""

    index: int  # position in the patch's ``decisions`` list, for error messages
    file_name: str
    class_id: int
    verdict: str
    category: str | None = None
    severity: str | None = None
    note: str | None = None

    def describe(self) -> str:
        return f"#{self.index} ({self.file_name}, class {self.class_id}, {self.verdict})"


@dataclass(frozen=True)
class LabelPatch:
    """A validated patch file; ``sha256`` is that of its bytes."""

    source: str
    sha256: str
    base: str
    created: str
    reviewer: str
    decisions: tuple[Decision, ...]

    def summary(self) -> dict[str, Any]:
        """What results and the dataset card record about the patch (the file by name only)."""
        return {
            "file": Path(self.source).name,
            "sha256": self.sha256,
            "reviewer": self.reviewer,
            "created": self.created,
            "num_decisions": len(self.decisions),
        }


def read_patch(path: str | os.PathLike) -> LabelPatch:
    """Read and validate a patch file; every problem names the file and the first decisions.

    Values are quoted cut short (``brief_repr``), so a hostile file gives a message a person can
    read; a FIFO or device is refused before it is opened (reading it would block).
    """
    path = Path(path)
    source = str(path)
    raw = read_regular_file(path, f"label patch {source!r}", LabelPatchError)
    document = parse_json(
        raw,
        f"label patch {source!r}",
        f"a JSON object of format {PATCH_FORMAT!r}",
        top=dict,
        error=LabelPatchError,
    )
    version = document.get("format_version")
    # type(): true == 1 and 1.0 == 1 in Python, but neither is version 1 of the format.
    known_version = type(version) is int and version == PATCH_FORMAT_VERSION
    if document.get("format") != PATCH_FORMAT or not known_version:
        raise LabelPatchError(
            f"label patch {source!r}: format {brief_repr(document.get('format'))} version "
            f"{brief_repr(version)}; expected {PATCH_FORMAT!r} version {PATCH_FORMAT_VERSION} "
            "(an integer)"
        )
    base = document.get("base")
    if not isinstance(base, str) or not _SHA256.fullmatch(base):
        raise LabelPatchError(
            f"label patch {source!r}: 'base' is {brief_repr(base)}; expected the 64 lower-case "
            "hex digits of the sha256 of the annotation file the patch applies to"
        )
    texts = {key: document.get(key) for key in ("created", "reviewer")}
    not_text = [key for key, value in texts.items() if not isinstance(value, str)]
    decisions = document.get("decisions")
    if not_text or not isinstance(decisions, list):
        raise LabelPatchError(
            f"label patch {source!r}: expected 'created' and 'reviewer' strings and a "
            f"'decisions' list; got created={brief_repr(texts['created'])}, "
            f"reviewer={brief_repr(texts['reviewer'])}, decisions of type "
            f"{type(decisions).__name__}"
        )
    parsed, bad = [], []
    for index, entry in enumerate(decisions):
        try:
            parsed.append(_decision(index, entry))
        except ToolkitError as error:
            bad.append(str(error))
    if bad:
        raise LabelPatchError(
            f"label patch {source!r}: {len(bad)} invalid decision(s); first: "
            f"{'; '.join(bad[:_SHOWN])}"
        )
    patch = LabelPatch(
        source=source,
        sha256=hashlib.sha256(raw).hexdigest(),
        base=base,
        created=texts["created"],
        reviewer=texts["reviewer"],
        decisions=tuple(parsed),
    )
    _merged_decisions([patch])  # disagreement within one file
    return patch


def _decision(index: int, entry: Any) -> Decision:
    where = f"decision #{index}"
    if not isinstance(entry, dict):
        raise LabelPatchError(f"{where} is {type(entry).__name__}, expected an object")
    file_name, class_id, verdict = (entry.get(key) for key in ("file_name", "class_id", "verdict"))
    if not isinstance(file_name, str):
        raise LabelPatchError(f"{where}: file_name {brief_repr(file_name)} is not a string")
    try:
        classes.image_id_from_file_name(file_name)
    except ToolkitError as error:
        raise LabelPatchError(f"{where}: {error}") from None
    is_int = isinstance(class_id, int) and not isinstance(class_id, bool)
    if not is_int or not 0 <= class_id < classes.NUM_CLASSES:
        raise LabelPatchError(
            f"{where} ({file_name}): class_id {brief_repr(class_id)} is not a class index 0..999"
        )
    if verdict not in PATCH_VERDICTS:
        raise LabelPatchError(
            f"{where} ({file_name}, class {class_id}): verdict {brief_repr(verdict)}; expected "
            "one of "
            f"{', '.join(PATCH_VERDICTS)}"
        )
    optional = {key: entry.get(key) or None for key in ("category", "severity", "note")}
    if optional["note"] is not None and not isinstance(optional["note"], str):
        raise LabelPatchError(
            f"{where} ({file_name}): note {brief_repr(optional['note'])} is not a string"
        )
    return Decision(
        index=index,
        file_name=file_name,
        class_id=class_id,
        verdict=verdict,
        category=optional["category"] and normalize_category(optional["category"], source=where),
        severity=optional["severity"] and normalize_severity(optional["severity"], source=where),
        note=optional["note"],
    )


def combined_sha256(patches: Sequence[LabelPatch]) -> str:
    """One digest of a set of patches: order and repeats do not change the patched labels."""
    return hashlib.sha256("\n".join(sorted({p.sha256 for p in patches})).encode()).hexdigest()


def patched_version(base_version: str, patches: Sequence[LabelPatch]) -> str:
    return f"{base_version}+patch.{combined_sha256(patches)[:8]}"


def patched_provenance(
    provenance: Mapping[str, Any], patches: Sequence[LabelPatch]
) -> dict[str, Any]:
    """The labels' provenance after ``patches``: a patched version, never the official labels."""
    if provenance.get("patched"):
        raise LabelPatchError(
            f"the labels {provenance.get('source')!r} are patched already (version "
            f"{provenance['version']}); apply every patch to the official labels at once"
        )
    return {
        **provenance,
        "version": patched_version(provenance["version"], patches),
        "verified": False,
        "base_verified": provenance["verified"],
        "patched": True,
        "patches": [patch.summary() for patch in _distinct(patches)],
    }


def _distinct(patches: Sequence[LabelPatch]) -> list[LabelPatch]:
    """Each patch once (the same file given twice is a no-op), in the order given."""
    unique: dict[str, LabelPatch] = {}
    for patch in patches:
        unique.setdefault(patch.sha256, patch)
    return list(unique.values())


def _merged_decisions(patches: Sequence[LabelPatch]) -> dict[tuple[str, int], Decision]:
    """Decisions by (file name, class); two verdicts for one pair are an error naming both."""
    merged: dict[tuple[str, int], tuple[Decision, LabelPatch]] = {}
    conflicts: list[str] = []
    for patch in _distinct(patches):
        for decision in patch.decisions:
            key = (decision.file_name, decision.class_id)
            earlier = merged.setdefault(key, (decision, patch))
            if earlier[0].verdict != decision.verdict:
                conflicts.append(
                    f"{earlier[1].source} {earlier[0].describe()} vs. "
                    f"{patch.source} {decision.describe()}"
                )
    if conflicts:
        raise LabelPatchError(
            f"label patches disagree on {len(conflicts)} (image, class) pair(s); first: "
            f"{'; '.join(conflicts[:_SHOWN])}; expected one verdict per pair: merge the "
            f"reviewers' patches into one consensus patch with `{named('merge_patches')}` and "
            "apply that"
        )
    return {key: decision for key, (decision, _) in merged.items()}


def apply_patches(
    references: References,
    patches: Sequence[LabelPatch],
    *,
    base_sha256: str,
    annotated: References | None = None,
) -> References:
    """``references`` with every decision applied: the class moves into the verdict's set.

    ``annotated`` holds every annotated image (the ``validation`` split; default
    ``references``): a decision must name one of them that is not problematic. Decisions on
    annotated images outside ``references`` (another split) leave it unchanged.
    """
    wrong_base = [patch for patch in patches if patch.base != base_sha256]
    if wrong_base:
        raise LabelPatchError(
            f"label patch {wrong_base[0].source!r} applies to the annotation file with sha256 "
            f"{wrong_base[0].base}, but the labels come from {base_sha256}; expected a patch "
            "made on these labels"
        )
    decisions = _merged_decisions(patches)
    _check_images(decisions.values(), patches, annotated if annotated is not None else references)
    row_of = {name: row for row, name in enumerate(references.file_names.tolist())}
    applied = [d for d in decisions.values() if d.file_name in row_of]
    if not applied:
        return references
    rows = np.array([row_of[d.file_name] for d in applied], dtype=np.int64)
    class_ids = np.array([d.class_id for d in applied], dtype=np.int64)
    verdicts = np.array([d.verdict for d in applied])
    keys = rows * classes.NUM_CLASSES + class_ids
    moved = {}
    for name in PATCH_VERDICTS:
        label_sets: LabelSets = getattr(references, name)
        kept = ~np.isin(label_sets.rows * classes.NUM_CLASSES + label_sets.classes, keys)
        into = verdicts == name
        all_rows = np.concatenate([label_sets.rows[kept], rows[into]])
        all_classes = np.concatenate([label_sets.classes[kept], class_ids[into]])
        order = np.argsort(all_rows, kind="stable")  # a row's kept labels keep their order
        moved[name] = LabelSets(rows=all_rows[order], classes=all_classes[order])
    return References(
        file_names=references.file_names,
        original_label=references.original_label,
        is_problematic=references.is_problematic,
        **moved,
    )


def patch_split_columns(
    split_columns: Mapping[str, Mapping[str, list]],
    patches: Sequence[LabelPatch],
    *,
    base_sha256: str,
) -> dict[str, dict[str, list]]:
    """The builder's columns of every split (``validation`` among them) with ``patches`` applied.

    Columns -> ``References`` -> ``apply_patches`` -> columns, so that the build and the scorer
    share one implementation of a patch.
    """
    annotated = References.from_columns(split_columns["validation"])
    patched = {}
    for split, columns in split_columns.items():
        references = annotated if split == "validation" else References.from_columns(columns)
        result = apply_patches(references, patches, base_sha256=base_sha256, annotated=annotated)
        patched[split] = {
            **columns,
            **{f"{name}_multi_labels": result.label_lists(name) for name in PATCH_VERDICTS},
        }
    return patched


def _check_images(
    decisions: Collection[Decision], patches: Sequence[LabelPatch], annotated: References
) -> None:
    """Every decision names an annotated, non-problematic image; errors name file and decisions."""
    problematic = dict(
        zip(annotated.file_names.tolist(), annotated.is_problematic.tolist(), strict=True)
    )
    source_of = {id(d): patch.source for patch in patches for d in patch.decisions}
    for kind, test in (
        ("unknown file name(s): not among the annotated images", lambda d: d not in problematic),
        ("problematic image(s), which no score counts", lambda d: problematic.get(d, False)),
    ):
        bad = [d for d in decisions if test(d.file_name)]
        if bad:
            shown = ", ".join(f"{source_of[id(d)]} {d.describe()}" for d in bad[:_SHOWN])
            raise LabelPatchError(
                f"label patches name {len(bad)} {kind}; first: {shown}; expected decisions on "
                f"the {len(annotated):,} annotated images that are not problematic"
            )

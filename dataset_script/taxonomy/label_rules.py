"""The automatic taxonomy's rules that need no image (`categories` runs them in order with the
image rules): each reads the rejected predictions, their accepted labels (correct ∪ unclear) and
the shipped class relations (`class_relations`), and says which undecided mistakes it decides,
with an evidence sentence for each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...metric.references import References
from .. import classes
from . import class_relations
from .class_relations import short_name

__all__ = ["LABEL_RULES", "MIN_CO_OCCURRENCE", "Mistakes"]

# A pair seen together in one other ReaL image already is an association (chosen on ViT-3B's
# mistakes: docs/TAXONOMY.md).
MIN_CO_OCCURRENCE = 1
_LABEL_KINDS = ("correct", "unclear")
_LABELS_SHOWN = 3


@dataclass(frozen=True)
class Mistakes:
    """The rejected predictions, row-aligned with their references, and, flat, their accepted
    labels (``label_mistake[i]`` holds ``label[i]``, of kind ``label_kind[i]``: 0 correct, 1
    unclear)."""

    references: References  # of the mistakes, row-aligned
    predictions: np.ndarray
    image_ids: np.ndarray  # 0 for a name that is no validation file name
    label_mistake: np.ndarray
    label: np.ndarray
    label_kind: np.ndarray

    @classmethod
    def of(cls, top1: np.ndarray, references: References, rows: np.ndarray) -> Mistakes:
        taken = references.take(rows)
        ids = classes.image_ids_by_file_name()
        parts = [(taken.correct, 0), (taken.unclear, 1)]
        return cls(
            references=taken,
            predictions=top1[rows],
            image_ids=np.array(
                [ids.get(name, 0) for name in taken.file_names.tolist()], dtype=np.int64
            ),
            label_mistake=np.concatenate([sets.rows for sets, _ in parts]),
            label=np.concatenate([sets.classes for sets, _ in parts]),
            label_kind=np.concatenate([np.full(len(sets.rows), k, np.int8) for sets, k in parts]),
        )

    def label_phrase(self, pair: int) -> str:
        label = int(self.label[pair])
        return f"the {_LABEL_KINDS[self.label_kind[pair]]} label {label} {short_name(label)}"


def _deciding_pairs(
    mistakes: Mistakes, undecided: np.ndarray, eligible: np.ndarray, rank: np.ndarray
) -> np.ndarray:
    """The (mistake, label) pair that decides each undecided mistake with an ``eligible`` pair:
    the lowest ``rank``, then a correct label before an unclear one, then the smaller class id.
    Returned in mistake order."""
    owner = mistakes.label_mistake
    candidate = np.flatnonzero(eligible & undecided[owner])
    keys = (mistakes.label, mistakes.label_kind, rank, owner)
    ranked = candidate[np.lexsort(tuple(key[candidate] for key in keys))]
    _, first = np.unique(owner[ranked], return_index=True)
    return ranked[first]


def _decided_by_label(
    mistakes: Mistakes,
    undecided: np.ndarray,
    eligible: np.ndarray,
    rank: np.ndarray,
    evidence: Callable[[int], str],
) -> tuple[np.ndarray, list[str]]:
    """The mistakes a rule over (mistake, label) pairs decides, and the ``evidence`` of each
    deciding pair (`_deciding_pairs`), in mistake order."""
    pairs = _deciding_pairs(mistakes, undecided, eligible, rank)
    hits = np.zeros(len(undecided), dtype=bool)
    hits[mistakes.label_mistake[pairs]] = True
    return hits, [evidence(pair) for pair in pairs.tolist()]


def _overlapping(mistakes: Mistakes, undecided: np.ndarray) -> tuple[np.ndarray, list[str]]:
    relations = class_relations.overlapping_classes()
    original = mistakes.references.original_label
    pair = relations.pair_of[original, mistakes.predictions]
    hits = undecided & (pair >= 0)
    sentences = [
        f"overlaps with the original label {t} {short_name(t)}: {relations.reasons[i]}"
        for t, i in zip(original[hits].tolist(), pair[hits].tolist(), strict=True)
    ]
    return hits, sentences


def _fine_grained(mistakes: Mistakes, undecided: np.ndarray) -> tuple[np.ndarray, list[str]]:
    superclasses = class_relations.superclasses()
    shared = superclasses.finest_shared[
        mistakes.predictions[mistakes.label_mistake], mistakes.label
    ].astype(np.int64)
    # The most specific superclass shared with any label decides.
    return _decided_by_label(
        mistakes,
        undecided,
        shared >= 0,
        superclasses.sizes[shared],
        lambda pair: (
            f"shares the superclass '{superclasses.names[shared[pair]]}' with "
            f"{mistakes.label_phrase(pair)}"
        ),
    )


def _spurious(mistakes: Mistakes, undecided: np.ndarray) -> tuple[np.ndarray, list[str]]:
    owner = mistakes.label_mistake
    counts = class_relations.co_occurrence().counts_without(
        mistakes.predictions[owner], mistakes.label, mistakes.image_ids[owner]
    )
    # The strongest association decides.
    return _decided_by_label(
        mistakes,
        undecided,
        counts >= MIN_CO_OCCURRENCE,
        -counts,
        lambda pair: (
            f"co-occurs with {mistakes.label_phrase(pair)} in {counts[pair]} other "
            f"ReaL image{'s' if counts[pair] != 1 else ''}"
        ),
    )


def _model_failure(mistakes: Mistakes, undecided: np.ndarray) -> tuple[np.ndarray, list[str]]:
    labels: list[list[int]] = [[] for _ in range(len(undecided))]
    for mistake, label in zip(
        mistakes.label_mistake.tolist(), mistakes.label.tolist(), strict=True
    ):
        labels[mistake].append(label)
    sentences = []
    for position in np.flatnonzero(undecided).tolist():
        shown = sorted(labels[position])
        if not shown:
            sentences.append("the image has no correct or unclear label to relate it to")
            continue
        listed = ", ".join(f"{label} {short_name(label)}" for label in shown[:_LABELS_SHOWN])
        more = f" (+{len(shown) - _LABELS_SHOWN} more)" if len(shown) > _LABELS_SHOWN else ""
        sentences.append(
            f"no overlap, shared superclass or ReaL co-occurrence with its labels {listed}{more}"
        )
    return undecided.copy(), sentences


# Each rule by its category; the image rules are the caller's (`categories.ImageRule`).
LABEL_RULES = {
    "overlapping-classes": _overlapping,
    "fine-grained": _fine_grained,
    "spurious-correlation": _spurious,
    "model-failure": _model_failure,
}

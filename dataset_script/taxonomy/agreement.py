"""How well the automatic categories agree with the paper's experts, on the mistakes they reviewed.

Any model's rejected predictions include some (file name, predicted class) pairs that the experts
reviewed for ViT-3B or Greedy Soups; on those the automatic category can be checked against
theirs. Both are compared at the family level (minor, explainable, failure) and the category
level by Cohen's kappa, with the confusion counts it rests on. The experts' "fine-grained with
multilabel options" is a fine-grained mistake whose image has several valid labels.

ViT-3B's reviewed mistakes were the image-free rules' tuning set (docs/TAXONOMY.md), so an
agreement measured on them flatters the rules; the mistakes reviewed for Greedy Soups only are
reported apart as ``held_out``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..labels.consensus import cohen_kappa
from . import categories, experts

__all__ = ["EXPERT_CATEGORY", "LEVELS", "TUNING_MODEL", "level_agreement", "reviewed_agreement"]

# The experts' vocabulary (`experts.CATEGORIES`) in the automatic one.
EXPERT_CATEGORY = {
    "fine-grained": "fine-grained",
    "fine-grained-multilabel": "fine-grained",
    "fine-grained-oov": "fine-grained-oov",
    "spurious-correlation": "spurious-correlation",
    "non-prototypical": "non-prototypical",
}
# The paper model whose reviewed mistakes the image-free rules were designed on.
TUNING_MODEL = "vit3b"
LEVELS = {"family": tuple(categories.FAMILIES), "category": categories.CATEGORIES}


def level_agreement(expert: Sequence[str], auto: Sequence[str]) -> dict[str, Any]:
    """Cohen's kappa of the experts' and the automatic categories (both in the automatic
    vocabulary) at each level, with the confusion counts: ``confusion[e][a]`` mistakes the
    experts put in ``e`` and the rules in ``a``, every row and column of the level listed."""
    result = {}
    for level, vocabulary in LEVELS.items():
        to_level = categories.family if level == "family" else str
        first, second = [to_level(c) for c in expert], [to_level(c) for c in auto]
        counts = Counter(zip(first, second, strict=True))
        result[level] = {
            **cohen_kappa(first, second),
            "confusion": {e: {a: counts[e, a] for a in vocabulary} for e in vocabulary},
        }
    return result


def reviewed_agreement(
    file_names: Sequence[str], predictions: Sequence[int], auto: Sequence[str]
) -> dict[str, Any]:
    """The agreement on the rejected predictions the experts reviewed (``file_names``,
    ``predictions`` and ``auto`` row-aligned, one row per rejected prediction): over all of
    them, and over those not reviewed for ViT-3B (``held_out``)."""
    reviewed = experts.expert_mistakes()
    found = [
        (reviewed[key], category)
        for key, category in zip(zip(file_names, predictions, strict=True), auto, strict=True)
        if key in reviewed
    ]
    held_out = [(mistake, category) for mistake, category in found if mistake.model != TUNING_MODEL]

    def measured(chosen: list[tuple[experts.ExpertMistake, str]]) -> dict[str, Any]:
        return {
            "num_reviewed": len(chosen),
            **level_agreement(
                [EXPERT_CATEGORY[m.category] for m, _ in chosen], [c for _, c in chosen]
            ),
        }

    return {**measured(found), "held_out": measured(held_out)}

"""What ``compare`` counts of the models' mistakes: the pool of every model's mistakes with its
automatic category and what each model solves of the others' (`solved_auto_categories`), what
each solves of the paper's reviewed mistakes (`solved_paper_mistakes`), the mistakes each pair
shares (`shared_mistakes`) and the major-mistake slice candidates (`major_mistake_candidates`)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...dataset_script import classes
from ...dataset_script.taxonomy import experts as mistakes
from ...dataset_script.taxonomy.agreement import reviewed_agreement
from ...dataset_script.taxonomy.categories import (
    CATEGORIES,
    AutoCategories,
    ImageRules,
    categorize_mistakes,
)
from ...metric.references import NUM_CLASSES
from ...metric.scoring import WRONG
from .aligned import Aligned
from .inputs import ModelInput


@dataclass(frozen=True)
class MistakePool:
    """Every distinct (image, class) that some model predicts top-1 and the labels reject, with
    its automatic category (which depends on the image and the class alone, not on the model)."""

    keys: np.ndarray  # sorted row * NUM_CLASSES + class id
    made: np.ndarray  # (models, pairs) bool: the model predicts it
    auto: AutoCategories  # aligned with ``keys``

    def position(self, row: int, class_id: int) -> int:
        return int(np.searchsorted(self.keys, row * NUM_CLASSES + class_id))


def mistake_pool(aligned: Aligned, image_rules: ImageRules | None) -> MistakePool:
    """The pool of every model's mistakes, each categorised once (image rules included when
    given: each image is looked at once, whichever models got it wrong)."""
    model_index, rows = np.nonzero(aligned.rejected)
    made_keys = rows * NUM_CLASSES + aligned.top1[model_index, rows]
    keys, pair = np.unique(made_keys, return_inverse=True)
    made = np.zeros((len(aligned.top1), len(keys)), dtype=bool)
    made[model_index, pair.reshape(-1)] = True
    pair_rows, pair_classes = np.divmod(keys, NUM_CLASSES)
    auto = categorize_mistakes(
        pair_classes,
        aligned.references.take(pair_rows),
        image_rules=None if image_rules is None else image_rules.rules,
    )
    return MistakePool(keys=keys, made=made, auto=auto)


def solved_auto_categories(
    models: Sequence[ModelInput],
    aligned: Aligned,
    pool: MistakePool,
    image_rules: ImageRules | None,
) -> dict[str, Any]:
    """Per model and automatic category: its own mistakes, and of the other models' mistakes on
    images it was scored on, how many it solves (its top-1 is accepted); and the categories'
    agreement with the experts on the distinct mistakes they reviewed."""
    rows = pool.keys // NUM_CLASSES
    others = (pool.made.sum(axis=0)[None, :] - pool.made) > 0
    counted = others & aligned.scored[:, rows]
    solved = counted & aligned.accepted[:, rows]
    codes = pool.auto.codes
    by_model = {}
    for m, model in enumerate(models):
        by_model[model.name] = {
            category: {
                "mistakes": int((pool.made[m] & (codes == code)).sum()),
                "others_mistakes": int((counted[m] & (codes == code)).sum()),
                "solved": int((solved[m] & (codes == code)).sum()),
            }
            for code, category in enumerate(CATEGORIES)
        }
    return {
        "num_pairs": len(pool.keys),
        **pool.auto.summary(),
        "image_rules": None if image_rules is None else dict(image_rules.provenance),
        "agreement_with_experts": reviewed_agreement(
            aligned.references.file_names[rows].tolist(),
            (pool.keys % NUM_CLASSES).tolist(),
            pool.auto.categories,
        ),
        "by_model": by_model,
    }


def solved_paper_mistakes(models: Sequence[ModelInput], aligned: Aligned) -> dict[str, Any]:
    """Per paper model's reviewed mistakes: how many each model gets right (``solved``) and how
    many it repeats exactly (``same_mistake``), of those it was scored on, in total and by
    category x severity."""
    row_of = {name: row for row, name in enumerate(aligned.references.file_names.tolist())}
    scored, accepted = aligned.scored, aligned.accepted
    report = {}
    for paper_model, name in mistakes.MODEL_NAMES.items():
        reviewed = [
            m for m in mistakes.model_mistakes(paper_model).values() if m.file_name in row_of
        ]
        rows = np.array([row_of[m.file_name] for m in reviewed], dtype=np.int64)
        paper_prediction = np.array([m.prediction for m in reviewed], dtype=np.int64)
        category = np.array([m.category for m in reviewed])
        severity = np.array([m.severity for m in reviewed])
        counted = scored[:, rows]
        solved = counted & accepted[:, rows]
        same = counted & (aligned.top1[:, rows] == paper_prediction)
        cells = {
            (c, s): (category == c) & (severity == s)
            for c in mistakes.CATEGORIES
            for s in mistakes.SEVERITIES
        }
        report[paper_model] = {
            "paper_model": name,
            "num_reviewed": len(mistakes.model_mistakes(paper_model)),
            "num_in_labels": len(reviewed),
            "by_model": {
                model.name: {
                    "scored": int(counted[m].sum()),
                    "solved": int(solved[m].sum()),
                    "same_mistake": int(same[m].sum()),
                    "by_category_severity": {
                        c: {
                            s: {
                                "scored": int(counted[m, cells[c, s]].sum()),
                                "solved": int(solved[m, cells[c, s]].sum()),
                            }
                            for s in mistakes.SEVERITIES
                        }
                        for c in mistakes.CATEGORIES
                    },
                }
                for m, model in enumerate(models)
            },
        }
    return report


def shared_mistakes(models: Sequence[ModelInput], aligned: Aligned) -> list[dict[str, Any]]:
    """Per pair of models, on the images both were scored on: mistakes in common, with the same
    wrong class, and unique to each (the other gets the image right)."""
    scored, rejected, top1 = aligned.scored, aligned.rejected, aligned.top1
    pairs = []
    for a, b in itertools.combinations(range(len(models)), 2):
        both_scored = scored[a] & scored[b]
        mistaken_a, mistaken_b = rejected[a] & both_scored, rejected[b] & both_scored
        common = mistaken_a & mistaken_b
        pairs.append(
            {
                "models": [models[a].name, models[b].name],
                "images_compared": int(both_scored.sum()),
                "common": int(common.sum()),
                "same_wrong_class": int((common & (top1[a] == top1[b])).sum()),
                "only_first": int((mistaken_a & ~mistaken_b).sum()),
                "only_second": int((mistaken_b & ~mistaken_a).sum()),
            }
        )
    return pairs


def major_mistake_candidates(
    models: Sequence[ModelInput],
    aligned: Aligned,
    min_models: int,
    imagenet_m_file_names: set[str] | None,
) -> dict[str, Any]:
    """Images that at least ``min_models`` models get wrong with a major mistake: the experts'
    (collapsed) severity of that very (image, prediction) when they reviewed it, else the labels'
    ``wrong`` verdict. ImageNet-M images are marked (None when that split was not loaded)."""
    references = aligned.references
    row_of = {name: row for row, name in enumerate(references.file_names.tolist())}
    verdicts = [m for key, m in mistakes.expert_mistakes().items() if key[0] in row_of]
    expert_keys = np.array(
        [row_of[m.file_name] * NUM_CLASSES + m.prediction for m in verdicts], dtype=np.int64
    )
    expert_major = np.array([m.severity_collapsed == "major" for m in verdicts], dtype=bool)
    keys = np.arange(len(references)) * NUM_CLASSES + aligned.top1
    reviewed = np.isin(keys, expert_keys)
    by_experts = np.isin(keys, expert_keys[expert_major])
    major = aligned.rejected & (by_experts | (~reviewed & (aligned.verdicts == WRONG)))
    count = major.sum(axis=0)
    images = []
    for row in np.flatnonzero(count >= min_models).tolist():
        file_name = references.file_names[row]
        images.append(
            {
                "file_name": file_name,
                "original_label": int(references.original_label[row]),
                "num_models": int(count[row]),
                "in_imagenet_m": None
                if imagenet_m_file_names is None
                else file_name in imagenet_m_file_names,
                "models": [
                    {
                        "model": models[m].name,
                        "prediction": int(aligned.top1[m, row]),
                        "prediction_name": classes.CLASS_NAMES[aligned.top1[m, row]],
                        "major_by": "expert" if reviewed[m, row] else "label-set",
                    }
                    for m in np.flatnonzero(major[:, row]).tolist()
                ],
            }
        )
    images.sort(key=lambda image: (-image["num_models"], image["file_name"]))
    imagenet_m = None
    if imagenet_m_file_names is not None:
        imagenet_m = {
            "total": len(imagenet_m_file_names),
            "among_candidates": sum(bool(image["in_imagenet_m"]) for image in images),
        }
    return {
        "min_models": min_models,
        "num_candidates": len(images),
        "imagenet_m": imagenet_m,
        "images": images,
    }

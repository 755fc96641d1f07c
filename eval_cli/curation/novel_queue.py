"""The novel-prediction queue of ``compare``: every (image, class) that some model predicts top-1
and that is in none of the image's correct/unclear/wrong sets, in review order. The paper found
that a novel prediction one model makes and the others don't is a right new label almost half
the time, so those come first, then by that model's accuracy, then by its probability."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...dataset_script import classes
from ...dataset_script.taxonomy import experts as mistakes
from ...metric.references import NUM_CLASSES
from ...metric.scoring import OUTSIDE_LABEL_SET
from .aligned import Aligned
from .inputs import ModelInput
from .solved import MistakePool


def novel_prediction_queue(
    models: Sequence[ModelInput], aligned: Aligned, accuracies: np.ndarray, pool: MistakePool
) -> list[dict[str, Any]]:
    """Every (image, class) some model predicts top-1 outside the image's label set, in review
    order: predicted by exactly one model first, then by the best accuracy among the models
    predicting it, then by their highest probability (unknown last), then by image and class.
    ``expert``: the paper's verdict where its experts reviewed that very (image, class);
    ``auto_category`` and ``auto_evidence``: its automatic category (``pool``)."""
    model_index, rows = np.nonzero(aligned.verdicts == OUTSIDE_LABEL_SET)
    class_ids = aligned.top1[model_index, rows]
    probabilities = np.full(len(rows), np.nan)
    for position, model in enumerate(models):
        chosen = np.flatnonzero(model_index == position)
        file_rows = model.predictions.rows_for(aligned.references.file_names[rows[chosen]].tolist())
        probs = model.predictions.top5_probs_of(file_rows) if chosen.size else None
        if probs is not None:
            probabilities[chosen] = probs[:, 0]
    keys, item = np.unique(rows * NUM_CLASSES + class_ids, return_inverse=True)
    item = item.reshape(-1)
    num_models = np.bincount(item, minlength=len(keys))
    best_accuracy = np.full(len(keys), -np.inf)
    np.maximum.at(best_accuracy, item, accuracies[model_index])
    best_probability = np.full(len(keys), -1.0)
    np.maximum.at(best_probability, item, np.nan_to_num(probabilities, nan=-1.0))
    order = np.lexsort((keys, -best_probability, -best_accuracy, num_models != 1))
    rank_of = np.empty(len(keys), dtype=np.int64)
    rank_of[order] = np.arange(1, len(keys) + 1)
    by_item = np.argsort(item, kind="stable")  # each item's models in input order
    bounds = np.searchsorted(item[by_item], np.arange(len(keys) + 1))
    file_names = aligned.references.file_names
    experts = mistakes.expert_mistakes()
    auto_categories = pool.auto.categories  # a list built per access: once, not per item
    queue = []
    for position in order.tolist():
        members = by_item[bounds[position] : bounds[position + 1]]
        row, class_id = divmod(int(keys[position]), NUM_CLASSES)
        in_pool = pool.position(row, class_id)
        queue.append(
            {
                "file_name": file_names[row],
                "class_id": class_id,
                "class_name": classes.CLASS_NAMES[class_id],
                "models": [models[m].name for m in model_index[members].tolist()],
                "probabilities": [
                    None if np.isnan(p) else float(p) for p in probabilities[members].tolist()
                ],
                "rank": int(rank_of[position]),
                "expert": _expert_verdict(experts.get((file_names[row], class_id))),
                "auto_category": auto_categories[in_pool],
                "auto_evidence": pool.auto.evidence[in_pool],
            }
        )
    return queue


def _expert_verdict(mistake: mistakes.ExpertMistake | None) -> dict[str, str] | None:
    """The paper's experts' verdict on a queued (image, class), which they reviewed as a mistake
    of one of their models (Greedy Soups made some outside the label set); None if they did not."""
    if mistake is None:
        return None
    return {
        "paper_model": mistake.model,
        "category": mistake.category,
        "severity": mistake.severity,
    }

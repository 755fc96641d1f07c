"""The models of ``compare`` aligned once: every model's top-1 on every image of the
``validation`` split (it holds the ImageNet-M images too), matched by file name into
``(models, images)`` int arrays with their verdicts, so that every count of the comparison is a
few numpy operations; and each model's identity, coverage and accuracy on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...metric.errors import first_few
from ...metric.references import References
from ...metric.scoring import CORRECT, OUTSIDE_LABEL_SET, PROBLEMATIC, UNCLEAR, WRONG, judge, score
from .inputs import CompareError, ModelInput

SPLIT = "validation"
_MISSING = -1  # the top-1 of an image a model has no prediction for


@dataclass(frozen=True)
class Aligned:
    """Every model's top-1 on every image of the split, aligned by file name once."""

    references: References
    top1: np.ndarray  # (M, N) int64 class ids, _MISSING where a model has no prediction
    verdicts: np.ndarray  # (M, N) int8 `metric.scoring` verdict codes, -1 where missing

    @property
    def scored(self) -> np.ndarray:
        """(M, N): predicted and not problematic (what the official score counts)."""
        return (self.verdicts >= 0) & (self.verdicts != PROBLEMATIC)

    @property
    def rejected(self) -> np.ndarray:
        """(M, N): top-1 judged wrong or outside the label set."""
        return (self.verdicts == WRONG) | (self.verdicts == OUTSIDE_LABEL_SET)

    @property
    def accepted(self) -> np.ndarray:
        return (self.verdicts == CORRECT) | (self.verdicts == UNCLEAR)


def align(models: Sequence[ModelInput], references: References) -> Aligned:
    """Every model's top-1 on every image of ``references``, and its verdict."""
    file_names = references.file_names.tolist()
    top1 = np.full((len(models), len(references)), _MISSING, dtype=np.int64)
    for position, model in enumerate(models):
        rows = model.predictions.rows_for(file_names)
        present = rows >= 0
        top1[position, present] = model.predictions.top1[rows[present]]
    if not (top1 >= 0).any(axis=1).all():
        empty = [model.source for model, row in zip(models, top1, strict=True) if (row < 0).all()]
        raise CompareError(
            f"{len(empty)} input(s) predict none of the {len(references):,} images of split "
            f"{SPLIT!r}: {first_few(empty)}; expected predictions for the annotated images"
        )
    verdicts = np.stack([judge(np.where(row >= 0, row, 0), references) for row in top1])
    verdicts[top1 < 0] = -1
    return Aligned(references=references, top1=top1, verdicts=verdicts)


def model_summaries(models: Sequence[ModelInput], aligned: Aligned) -> list[dict[str, Any]]:
    """Each model's identity, coverage and multi-label top-1 accuracy on the images it predicted."""
    scored, rejected = aligned.scored, aligned.rejected
    summaries = []
    for position, model in enumerate(models):
        predicted = np.flatnonzero(aligned.top1[position] >= 0)
        metrics = score(
            aligned.top1[position, predicted],
            aligned.references.take(predicted),
            allow_partial=True,
        )
        summaries.append(
            {
                "name": model.name,
                "identity": model.identity,
                "source": model.source,
                "predictions_sha256": model.predictions_sha256,
                "recorded_labels": model.recorded_labels,
                "num_scored": int(scored[position].sum()),
                "num_missing_predictions": int(len(aligned.references) - predicted.size),
                "multilabel_accuracy": metrics["multilabel_accuracy"],
                "partial": metrics["partial"],
                "num_rejected": int(rejected[position].sum()),
                "num_wrong": int((aligned.verdicts[position] == WRONG).sum()),
                "num_outside_label_set": int(
                    (aligned.verdicts[position] == OUTSIDE_LABEL_SET).sum()
                ),
            }
        )
    return summaries

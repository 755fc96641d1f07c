"""``compare --images``: the novel-prediction queue as a review page (``eval_cli.review``'s page,
with queue records), so that reviewers see first what the paper found most often right.

Each queue record carries what ``analyze``'s mistake records carry (image, the queued class as
the prediction, the image's label sets, the paper's verdict, the automatic category) plus its
``rank`` and every compared model's top-1 on the image with its probability where known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...dataset_script.taxonomy.categories import family
from ...metric.references import References
from ..analysis import review
from .inputs import ModelInput

_LABEL_SETS = ("correct", "unclear", "wrong")


def top1_probabilities(
    models: Sequence[ModelInput], references: References, rows: Sequence[int]
) -> np.ndarray:
    """(models, len(rows)): each model's top-1 probability on those rows of ``references``, NaN
    where unknown (no prediction, a CSV, no ``top5_probs``)."""
    probability = np.full((len(models), len(rows)), np.nan)
    file_names = references.file_names[np.asarray(rows, dtype=np.int64)].tolist()
    for position, model in enumerate(models):
        file_rows = model.predictions.rows_for(file_names)
        present = np.flatnonzero(file_rows >= 0)
        probs = model.predictions.top5_probs_of(file_rows[present]) if present.size else None
        if probs is not None:
            probability[position, present] = probs[:, 0]
    return probability


def queue_records(
    models: Sequence[ModelInput],
    references: References,
    top1: np.ndarray,
    queue: Sequence[Mapping[str, Any]],
    imagenet_m_file_names: set[str] | None,
) -> list[dict[str, Any]]:
    """The page's records of ``queue`` (in queue order); ``top1``: (models, images) of
    ``references``, -1 where a model has no prediction."""
    row_of = {name: row for row, name in enumerate(references.file_names.tolist())}
    image_rows = sorted({row_of[item["file_name"]] for item in queue})
    column_of = {row: column for column, row in enumerate(image_rows)}
    shown = references.take(image_rows)
    label_lists = {name: shown.label_lists(name) for name in _LABEL_SETS}
    probability = top1_probabilities(models, references, image_rows)
    records = []
    for item in queue:
        row = row_of[item["file_name"]]
        column = column_of[row]
        expert = item["expert"] or {}
        records.append(
            {
                "file_name": item["file_name"],
                "original_label": int(references.original_label[row]),
                "prediction": item["class_id"],
                **{name: label_lists[name][column] for name in _LABEL_SETS},
                "source": "expert" if item["expert"] else "outside-label-set",
                "outside_label_set": True,
                "category": expert.get("category", ""),
                "severity": expert.get("severity", ""),
                "in_imagenet_m": None
                if imagenet_m_file_names is None
                else item["file_name"] in imagenet_m_file_names,
                "auto_category": item["auto_category"],
                "auto_family": family(item["auto_category"]),
                "auto_evidence": item["auto_evidence"],
                "rank": item["rank"],
                "model_predictions": [
                    {
                        "model": model.name,
                        "class_id": None if top1[m, row] < 0 else int(top1[m, row]),
                        "probability": None
                        if np.isnan(probability[m, column])
                        else float(probability[m, column]),
                    }
                    for m, model in enumerate(models)
                ],
            }
        )
    return records


def write_queue_review(
    output: Path,
    records: Sequence[Mapping[str, Any]],
    *,
    labels: Mapping[str, Any],
    images: str,
    images_split: str | None,
    num_models: int,
) -> Path:
    """Thumbnails from ``images`` and ``review/index.html`` of the queue; the page's path."""
    folder = review.page_path(output).parent
    review.write_thumbnails(
        folder, [record["file_name"] for record in records], images, images_split=images_split
    )
    return review.write_review_page(
        output,
        records,
        labels=labels,
        title=f"Novel-prediction queue of {num_models} models",
        kind="queue",
    )

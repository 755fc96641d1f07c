"""`imagenet-multilabel score`: a predictions file in, the paper's numbers out.

Labels come from the raw annotation file (the published one via the cache, or ``--annotations``)
or from a built or published labels dataset (``--labels``). Predictions join the labels by file
name; the scoring itself is `metric.scoring.score`, the one implementation the `evaluate` module
uses too.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from imagenet_multilabel.dataset_script.annotations import SPLITS, load_annotations, sha256_of_file
from imagenet_multilabel.eval_cli import results
from imagenet_multilabel.eval_cli.predictions import Predictions, read_predictions
from imagenet_multilabel.metric.errors import ToolkitError
from imagenet_multilabel.metric.scoring import References, score


def chosen_splits(split: str) -> tuple[str, ...]:
    return SPLITS if split == "all" else (split,)


def load_label_splits(
    args: argparse.Namespace, splits: Sequence[str]
) -> tuple[dict[str, dict[str, list]], dict[str, Any]]:
    """Columns of each wanted split, and the provenance of the labels."""
    if args.labels:
        from imagenet_multilabel.dataset_script.labels import load_labels_dataset

        return load_labels_dataset(args.labels, splits)
    annotations = load_annotations(
        args.annotations, allow_unverified=args.allow_unverified_annotations
    )
    return {split: annotations.split_columns(split) for split in splits}, annotations.provenance()


def score_predictions(
    predictions: Predictions, label_splits: Mapping[str, Mapping[str, Sequence]]
) -> tuple[dict[str, dict[str, Any]], int]:
    """Metrics per split, and how many predictions lie outside every chosen split."""
    metrics: dict[str, dict[str, Any]] = {}
    in_some_split = np.zeros(len(predictions), dtype=bool)
    for split, columns in label_splits.items():
        rows = predictions.rows_for(columns["file_name"])
        predicted = np.flatnonzero(rows >= 0)
        if predicted.size == 0:
            raise ToolkitError(
                f"{predictions.source!r} has no prediction for any of the {len(rows):,} images of "
                f"split {split!r}"
            )
        in_some_split[rows[predicted]] = True
        subset = {name: [values[i] for i in predicted] for name, values in columns.items()}
        metrics[split] = score(
            predictions.ranked()[rows[predicted]],
            References.from_columns(subset),
            imagenet_m=split == "imagenet_m",
            allow_partial=True,
        )
        metrics[split]["num_missing_predictions"] = int(len(rows) - predicted.size)
    return metrics, int((~in_some_split).sum())


def main(args: argparse.Namespace) -> dict[str, Any]:
    predictions = read_predictions(args.predictions)
    label_splits, label_provenance = load_label_splits(args, chosen_splits(args.split))
    metrics, num_outside = score_predictions(predictions, label_splits)
    document = {
        "metrics": metrics,
        "complete": results.is_complete(metrics),
        "labels": label_provenance,
        "predictions": {
            "source": predictions.source,
            "sha256": sha256_of_file(Path(predictions.source)),
            "num_rows": len(predictions),
            "num_outside_chosen_splits": num_outside,
        },
        "environment": results.environment(),
    }
    print(results.summary_table(metrics))
    if num_outside:
        print(f"Ignored {num_outside:,} predictions for images outside the chosen split(s).")
    if not label_provenance.get("verified", False):
        print(
            f"UNVERIFIED labels: sha256 {label_provenance.get('sha256')} is not the published one."
        )
    if args.output:
        results.write_json(args.output, document)
        print(f"Results written to {args.output}")
    return document

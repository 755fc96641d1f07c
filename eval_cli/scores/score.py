"""Scoring a predictions file: ``score_predictions``, the API behind ``imagenet-multilabel score``.

Predictions join the labels by file name, never by position; the scoring itself is
`metric.scoring.score`, the one implementation the `evaluate` module uses too. `run` scores its
own predictions file through `score_splits` as well, so both commands report identical numbers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...dataset_script import classes
from ...dataset_script.annotations.download import sha256_of_file
from ...dataset_script.annotations.published import SPLITS
from ...dataset_script.labels.loading import Labels, LabelSource, resolve_labels
from ...dataset_script.labels.real import RealLabels, load_real_labels
from ...metric.errors import ToolkitError, expect_count, expect_flag, expect_path, expect_text
from ...metric.references import References
from ...metric.scoring import score, score_original, score_real
from ..analysis.mistakes import MistakeAnalysis, analyze_split
from . import results
from .predictions import Predictions, read_predictions, read_top5_probs

# All 50,000 validation images: top-1/top-5 on the original labels and ReaL accuracy, scored
# together with the label splits (SPLITS) by `--split full`.
FULL_SPLIT = "full"
SPLIT_CHOICES = (*SPLITS, "all", FULL_SPLIT)


def chosen_splits(split: str) -> tuple[str, ...]:
    """The splits a ``--split`` choice scores (``full`` first, then the label splits)."""
    if split not in SPLIT_CHOICES:
        raise ToolkitError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_CHOICES)}")
    if split == FULL_SPLIT:
        return (FULL_SPLIT, *SPLITS)
    return SPLITS if split == "all" else (split,)


def full_split_file_names(limit: int | None = None) -> list[str]:
    """The file names of split ``full`` (all validation images, the first ``limit``)."""
    return list(classes.validation_file_names()[:limit])


def real_labels_for(
    splits: Sequence[str],
    real_labels: RealLabels | str | os.PathLike | None,
    allow_unverified: bool,
) -> RealLabels | None:
    """The ReaL labels that ``splits`` need: with ``full``, ``real_labels`` as given or loaded
    from that path (default: timm's copy), sha256 checked; without, None, and ReaL options are
    an error rather than silently ignored."""
    if FULL_SPLIT not in splits:
        if real_labels is not None or allow_unverified:
            raise ToolkitError(f"ReaL labels are used by split {FULL_SPLIT!r} only")
        return None
    if isinstance(real_labels, RealLabels):
        return real_labels
    return load_real_labels(real_labels, allow_unverified=allow_unverified)


def labels_provenance(labels: Labels, real_labels: RealLabels | None) -> dict[str, Any]:
    """The results' ``labels`` block: the multi-label labels, and ``real`` when scored."""
    if real_labels is None:
        return dict(labels.provenance)
    return {**labels.provenance, "real": real_labels.provenance()}


def score_predictions(
    predictions: str | os.PathLike | Predictions,
    *,
    split: str = "validation",
    labels: Labels | LabelSource | None = None,
    limit: int | None = None,
    real_labels: RealLabels | str | os.PathLike | None = None,
    allow_unverified_real_labels: bool = False,
) -> dict[str, Any]:
    """The results document (`eval_cli.results`) of a predictions file on ``split``.

    ``predictions``: a CSV/JSONL file (see `eval_cli.predictions`) or already read
    ``Predictions``. ``labels``: ready ``Labels`` (`load_labels`), or a ``LabelSource`` loaded
    here (every split, so that the mistake analysis knows the ImageNet-M images); None: the
    published annotation file. ``limit``: score only the first N images of
    each split (a smoke test; the results are marked partial). Split ``full`` also needs the ReaL
    labels: ``real_labels`` (loaded ``RealLabels`` or a path; default timm's copy), another
    sha256 than the published one only with ``allow_unverified_real_labels``.
    """
    expect_text(split, "score_predictions(split=...)")
    expect_count(limit, "score_predictions(limit=...)", optional=True)
    expect_flag(allow_unverified_real_labels, "score_predictions(allow_unverified_real_labels=...)")
    if not isinstance(real_labels, RealLabels):
        expect_path(real_labels, "score_predictions(real_labels=...)", optional=True)
    if not isinstance(predictions, Predictions):
        predictions = read_predictions(
            expect_path(predictions, "score_predictions(predictions=...)")
        )
    splits = chosen_splits(split)
    real = real_labels_for(splits, real_labels, allow_unverified_real_labels)
    labels = resolve_labels(labels)
    metrics, num_outside = score_splits(predictions, labels, splits, limit=limit, real_labels=real)
    return results.document(
        metrics,
        labels=labels_provenance(labels, real),
        predictions={
            "source": predictions.source,
            "sha256": sha256_of_file(Path(predictions.source)),
            "num_rows": len(predictions),
            "num_outside_chosen_splits": num_outside,
        },
        mistakes=analyze_mistakes(predictions, labels, splits, limit=limit).summary,
    )


def score_splits(
    predictions: Predictions,
    labels: Labels,
    splits: Sequence[str],
    *,
    limit: int | None = None,
    real_labels: RealLabels | None = None,
) -> tuple[dict[str, dict[str, Any]], int]:
    """Metrics per split, and how many predictions lie outside every chosen split."""
    metrics: dict[str, dict[str, Any]] = {}
    in_some_split = np.zeros(len(predictions), dtype=bool)
    for split in splits:
        if split == FULL_SPLIT:
            rows, metrics[split] = score_full(predictions, real_labels, limit)
            in_some_split[rows] = True
            continue
        references, rows, num_missing = predicted_references(predictions, labels, split, limit)
        in_some_split[rows] = True
        split_metrics = score(
            predictions.ranked()[rows],
            references,
            imagenet_m=split == "imagenet_m",
            allow_partial=True,
        )
        for entry in split_metrics["outside_label_set"]:
            entry["prediction_name"] = classes.CLASS_NAMES[entry["prediction"]]
        split_metrics["num_missing_predictions"] = num_missing
        if limit is not None:
            split_metrics["limit"] = limit
            split_metrics["partial"] = True
        metrics[split] = split_metrics
    if limit is not None:  # predictions of a chosen split's later images are not outside it
        for split in splits:
            past = _rows_past_limit(predictions, labels, split, limit)
            metrics[split]["num_past_limit"] = int(past.size)
            in_some_split[past] = True
    return metrics, int((~in_some_split).sum())


def _rows_past_limit(
    predictions: Predictions, labels: Labels, split: str, limit: int
) -> np.ndarray:
    """Rows of the predictions of ``split``'s images after its first ``limit`` (id order)."""
    if split == FULL_SPLIT:
        names = full_split_file_names()
    else:
        names = labels.split(split).file_names.tolist()
    rows = predictions.rows_for(names[limit:])
    return rows[rows >= 0]


def score_full(
    predictions: Predictions, real_labels: RealLabels | None, limit: int | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Split ``full``: top-1/top-5 on the original labels and ReaL accuracy over all validation
    images (the first ``limit``) that have a prediction, joined by file name; and the rows of
    the predictions used."""
    if real_labels is None:
        raise ToolkitError(f"split {FULL_SPLIT!r} needs the ReaL labels (load_real_labels)")
    file_names = full_split_file_names(limit)
    rows = predictions.rows_for(file_names)
    predicted = np.flatnonzero(rows >= 0)
    if predicted.size == 0:
        raise ToolkitError(
            f"{predictions.source!r} has no prediction for any of the {len(rows):,} images of "
            f"split {FULL_SPLIT!r}"
        )
    ranked = predictions.ranked()[rows[predicted]]
    # file_names[i] is image i + 1, whose original label is validation_labels()[i].
    metrics = score_original(ranked, classes.validation_labels()[predicted])
    metrics.update(
        score_real(ranked, real_labels.references([file_names[i] for i in predicted.tolist()]))
    )
    metrics["num_missing_predictions"] = int(len(rows) - predicted.size)
    if limit is not None:
        metrics["limit"] = limit
        metrics["partial"] = True
    return rows[predicted], metrics


def predicted_references(
    predictions: Predictions, labels: Labels, split: str, limit: int | None = None
) -> tuple[References, np.ndarray, int]:
    """The references of ``split`` (its first ``limit`` images) that have a prediction, the row
    of each one's prediction, and how many images of the split have none."""
    references = labels.split(split)
    if limit is not None:
        references = references.take(np.arange(min(limit, len(references))))
    rows = predictions.rows_for(references.file_names.tolist())
    predicted = np.flatnonzero(rows >= 0)
    if predicted.size == 0:
        raise ToolkitError(
            f"{predictions.source!r} has no prediction for any of the {len(rows):,} images of "
            f"split {split!r}"
        )
    return references.take(predicted), rows[predicted], int(len(rows) - predicted.size)


def analyze_mistakes(
    predictions: Predictions,
    labels: Labels,
    splits: Sequence[str],
    *,
    limit: int | None = None,
    with_probabilities: bool = False,
) -> MistakeAnalysis:
    """The mistake analysis (`eval_cli.analysis`) of the validation split when chosen (it holds
    the ImageNet-M images too), else of ImageNet-M; ``with_probabilities`` reads the top-5
    probabilities of the rejected predictions from a JSONL file, for the records."""
    split = "validation" if "validation" in splits else "imagenet_m"
    references, rows, _ = predicted_references(predictions, labels, split, limit)
    imagenet_m = labels.splits.get("imagenet_m")
    analysis = analyze_split(
        split,
        predictions.ranked()[rows],
        references,
        imagenet_m_file_names=None if imagenet_m is None else set(imagenet_m.file_names.tolist()),
    )
    if not with_probabilities:
        return analysis
    rejected_rows = predictions.rows_for(analysis.rejected.file_names.tolist())
    return analysis.with_top5_probs(read_top5_probs(predictions, rejected_rows))

"""Scoring a predictions file: ``score_predictions``, the API behind ``imagenet-multilabel score``.

Predictions join the labels by file name, never by position; every registered label set
(`metric.label_sets`) of each chosen split judges them, with the labels its loading half reads
(`dataset_script.label_sets`): the split's images are aligned once and each set scores the
predicted ones; the mistake analysis (`mistakes`) of the same predictions is summarised beside
them. `score`, `analyze` and `run` all make their results document in `score_and_analyze`, from
predictions read once, so the three report identical numbers.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from ...dataset_script import classes
from ...dataset_script.annotations import published
from ...dataset_script.label_sets import LoadedLabelSet, chosen_splits, load_label_sets
from ...dataset_script.labels.loading import Labels, LabelSource, label_source, resolve_labels
from ...dataset_script.taxonomy.categories import ImageRules
from ...metric import label_sets
from ...metric.errors import ToolkitError, expect_count, expect_path, expect_text
from .. import outputs
from ..choices import check_split_options, label_set_options
from ..frame import FILE, LABEL_FILES, Read, Write, command
from . import results, results_document
from .mistakes import MistakeAnalysis, analyze_split
from .predictions import Predictions, read_predictions

PREDICTIONS_EXPECTED = "a predictions file (.jsonl or .csv)"


def labels_provenance(labels: Labels, loaded: Mapping[str, LoadedLabelSet]) -> dict[str, Any]:
    """The results' ``labels`` block: the multi-label labels, and each other label set scored
    under its name."""
    return {
        **labels.provenance,
        **{
            s.label_set.provenance_key: dict(s.provenance)
            for s in loaded.values()
            if s.label_set.provenance_key and s.provenance is not None
        },
    }


@command(
    Read("predictions", FILE, expected=PREDICTIONS_EXPECTED),
    LABEL_FILES,
    Read("label_set_files", FILE, expected="a label set's file", many=True),
    Write("output", FILE),
    plain=("split", "limit", "allow_unverified_label_set_files"),
)
def score_predictions(
    predictions: str | os.PathLike | Predictions,
    *,
    split: str = "validation",
    labels: Labels | LabelSource | None = None,
    limit: int | None = None,
    label_set_files: Mapping[str, str | os.PathLike] | None = None,
    allow_unverified_label_set_files: Collection[str] = (),
    output: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """The results document (`eval_cli.results`) of a predictions file on ``split``, also
    written to ``output`` when given.

    ``predictions``: a CSV/JSONL file (see `eval_cli.predictions`) or already read
    ``Predictions``. ``labels``: ready ``Labels`` (`load_labels`), or a ``LabelSource`` loaded
    here (every split, so that the mistake analysis knows the ImageNet-M images); None: the
    published annotation file. ``limit``: score only the first N images of each split (a smoke
    test; the results are marked partial). The other label sets ship with the package;
    ``label_set_files`` reads another copy of a set's file instead (``{name: PATH}``), one
    whose sha256 is not the published one only when its set is named in
    ``allow_unverified_label_set_files``.
    """
    expect_text(split, "split")
    expect_count(limit, "limit", optional=True)
    label_set_files, allowed = label_set_options(label_set_files, allow_unverified_label_set_files)
    expect_path(output, "output", optional=True)
    check_split_options(split, label_set_files, allowed)
    if not isinstance(predictions, Predictions):
        predictions = read_predictions(expect_path(predictions, "predictions"))
    splits = chosen_splits(split)
    label_files = label_files_of(labels)
    labels = resolve_labels(labels, splits)
    loaded = load_label_sets(splits, labels, label_set_files, allowed)
    document, _ = score_and_analyze(
        predictions, labels, loaded, split, limit=limit, label_files=label_files
    )
    if output is not None:
        outputs.write_json(output, document)
    return document


def score_and_analyze(
    predictions: Predictions,
    labels: Labels,
    loaded: Mapping[str, LoadedLabelSet],
    split: str,
    *,
    limit: int | None = None,
    image_rules: ImageRules | None = None,
    predictions_named: Mapping[str, str] | None = None,
    model: Mapping[str, Any] | None = None,
    run: Mapping[str, Any] | None = None,
    label_files: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], MistakeAnalysis]:
    """The results document of read ``predictions`` on loaded ``labels`` (and the label sets
    ``loaded`` for ``split``), and the mistake analysis it summarises, analysed once: scored,
    then analysed, then assembled, each step on what the one before gave.

    ``image_rules``: the taxonomy's image rules bound to the images (None: image-free rules
    only). ``predictions_named``: how the document names the predictions file (default: its
    path, ``{"source": ...}``). ``model`` and ``run``: `run`'s blocks. ``label_files``: the
    label files read (`label_files_of`), recorded.
    """
    splits = chosen_splits(split)
    metrics, num_outside = score_splits(predictions, loaded, splits, limit=limit)
    analysis = _analyze(predictions, labels, splits, limit=limit, image_rules=image_rules)
    document = results_document.document(
        with_lenient_accuracies(metrics, analysis),
        labels=labels_provenance(labels, loaded),
        predictions={
            **(predictions_named or {"source": predictions.source}),
            "sha256": predictions.sha256,
            "num_rows": len(predictions),
            "num_outside_chosen_splits": num_outside,
        },
        mistakes=analysis.summary,
        model=model,
        run=run,
        label_files=label_files,
    )
    return document, analysis


def label_files_of(labels: Labels | LabelSource | None) -> dict[str, Any] | None:
    """The label files read, as results record them (`LabelSource.files`); None for ready
    ``Labels``, whose files are not known here."""
    if isinstance(labels, Labels):
        return None
    return label_source(labels).files()


def _analyze(
    predictions: Predictions,
    labels: Labels,
    splits: Sequence[str],
    *,
    limit: int | None,
    image_rules: ImageRules | None,
) -> MistakeAnalysis:
    """The mistake analysis (`mistakes`) of the validation split when chosen (it holds the
    ImageNet-M images too), else of ImageNet-M: its first ``limit`` images that have a
    prediction, with their top-5 probabilities where the file has them."""
    split = "validation" if "validation" in splits else "imagenet_m"
    references = labels.split(split)
    if limit is not None:
        references = references.take(np.arange(min(limit, len(references))))
    rows = predictions.rows_for(references.file_names.tolist())
    predicted = np.flatnonzero(rows >= 0)  # score_splits refused a split without any
    rows = rows[predicted]
    imagenet_m = labels.splits.get("imagenet_m")
    return analyze_split(
        split,
        predictions.ranked()[rows],
        references.take(predicted),
        imagenet_m_file_names=None if imagenet_m is None else set(imagenet_m.file_names.tolist()),
        image_rules=image_rules,
        top5_probs=None if predictions.top5_probs is None else predictions.top5_probs[rows],
    )


def score_splits(
    predictions: Predictions,
    loaded: Mapping[str, LoadedLabelSet],
    splits: Sequence[str],
    *,
    limit: int | None = None,
) -> tuple[dict[str, dict[str, Any]], int]:
    """Metrics per split (each registered set of the split scored on its predicted images, the
    first ``limit`` of the split), and how many predictions lie outside every chosen split."""
    metrics: dict[str, dict[str, Any]] = {}
    in_some_split = np.zeros(len(predictions), dtype=bool)
    for split in splits:
        image_ids = split_image_ids(loaded, split)
        rows = predictions.rows_for_image_ids(image_ids[:limit])
        metrics[split] = split_metrics = _score_split(predictions, loaded, split, rows)
        in_some_split[rows[rows >= 0]] = True
        if limit is not None:
            split_metrics["limit"] = limit
            split_metrics["partial"] = True
            past = predictions.rows_for_image_ids(image_ids[limit:])  # past the limit, not outside
            past = past[past >= 0]
            split_metrics["num_past_limit"] = int(past.size)
            in_some_split[past] = True
    return metrics, int((~in_some_split).sum())


def _score_split(
    predictions: Predictions, loaded: Mapping[str, LoadedLabelSet], split: str, rows: np.ndarray
) -> dict[str, Any]:
    """Every set of ``split`` scored on the predicted of its images (``rows``: the row of each
    image's prediction, -1 for none), and how many have none."""
    predicted = np.flatnonzero(rows >= 0)
    if predicted.size == 0:
        raise ToolkitError(
            f"{predictions.source!r} has no prediction for any of the {len(rows):,} images of "
            f"split {split!r}"
        )
    ranked = predictions.ranked()[rows[predicted]]
    metrics: dict[str, Any] = {}
    for label_set in label_sets.in_split(split):
        metrics.update(label_set.score(ranked, loaded[label_set.name].take(predicted)))
    for entry in metrics.get("outside_label_set", ()):
        entry["prediction_name"] = classes.CLASS_NAMES[entry["prediction"]]
    metrics["num_missing_predictions"] = int(len(rows) - predicted.size)
    return metrics


def label_set_scores(
    predictions: Sequence[Predictions], labels: Labels
) -> list[dict[str, dict[str, Any]]]:
    """For each predictions, the registered label sets' column metrics (the leaderboard's), per
    split, for the splits whose images it all predicted: what compare shows beside the
    multi-label accuracy (a number on part of a split is not the set's number)."""
    splits = [  # a multi-label split only when ``labels`` hold it
        split
        for split in label_sets.SPLITS
        if split in labels.splits or split not in published.SPLITS
    ]
    loaded = load_label_sets(splits, labels)
    shown: dict[str, list[str]] = {split: [] for split in splits}
    for split, metric in results.COLUMN_METRICS:
        if split in shown and not metric.from_analysis:  # each model's own set scores only
            shown[split] += [key for key in (metric.total, metric.key) if key is not None]
    scores = []
    for model in predictions:
        scored = {}
        for split in splits:
            rows = model.rows_for_image_ids(split_image_ids(loaded, split))
            if (rows >= 0).all():
                metrics = _score_split(model, loaded, split, rows)
                scored[split] = {key: metrics[key] for key in shown[split]}
        scores.append(scored)
    return scores


def split_image_ids(loaded: Mapping[str, LoadedLabelSet], split: str) -> np.ndarray:
    """The image ids of ``split``'s images (those of its sets, which share them), in order."""
    return loaded[label_sets.in_split(split)[0].name].image_ids


def split_file_names(
    loaded: Mapping[str, LoadedLabelSet], splits: Sequence[str], limit: int | None = None
) -> list[str]:
    """Every image that ``splits`` score (the first ``limit`` of each), in image-id order."""
    image_ids = np.unique(np.concatenate([split_image_ids(loaded, s)[:limit] for s in splits]))
    return [classes.file_name_from_image_id(image_id) for image_id in image_ids.tolist()]


def with_lenient_accuracies(
    metrics: dict[str, dict[str, Any]], analysis: MistakeAnalysis
) -> dict[str, dict[str, Any]]:
    """``metrics`` with Peychev et al.'s lenient accuracies beside the official score of split
    ``validation`` (the same images, the same per-class rule) when the analysis is of it; a
    split's metrics never depend on which other splits were scored."""
    if analysis.summary["split"] != "validation":
        return metrics
    return {**metrics, "validation": {**metrics["validation"], **analysis.accuracies}}

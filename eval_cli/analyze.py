"""``analyze_predictions``, the API behind ``imagenet-multilabel analyze``: look at the mistakes.

Scores a predictions file exactly as ``score`` does (`eval_cli.score`), then writes into the
output folder (the command's default: ``analysis/`` next to the predictions file)::

    results.json      the results document, with its ``mistakes`` block
    mistakes.jsonl    one record per rejected prediction (`eval_cli.analysis`)
    review/index.html the review page (`eval_cli.review`), thumbnails with ``images``
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imagenet_multilabel.dataset_script.labels import Labels, given_or_loaded
from imagenet_multilabel.eval_cli import outputs
from imagenet_multilabel.eval_cli.analysis import MISTAKES_FILE, write_mistakes_jsonl
from imagenet_multilabel.eval_cli.predictions import Predictions, read_predictions
from imagenet_multilabel.eval_cli.review import write_review_page
from imagenet_multilabel.eval_cli.score import analyze_mistakes, chosen_splits, score_predictions
from imagenet_multilabel.metric.errors import ToolkitError

ANALYSIS_FOLDER = "analysis"  # the command's default output, next to the predictions
RESULTS_FILE = "results.json"
# What `run` writes into its output folder (named here: eval_cli.run imports torch).
RUN_PREDICTIONS_FILE = "predictions.jsonl"
RUN_RESULTS_FILE = "results.json"


def analyze_predictions(
    predictions: str | os.PathLike | Predictions,
    *,
    output_dir: str | os.PathLike,
    split: str = "all",
    labels: Labels | None = None,
    annotations: str | os.PathLike | None = None,
    labels_dataset: str | None = None,
    allow_unverified: bool = False,
    label_patches: Sequence[str | os.PathLike] = (),
    limit: int | None = None,
    images: str | None = None,
    images_split: str | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """Score and analyze ``predictions``; write the three outputs; return the results document.

    Label arguments as `score_predictions`. ``images``: an image source
    (`dataset_script.images`) for the review page's thumbnails. ``title`` heads the page
    (default: the predictions file's name).
    """
    if not isinstance(predictions, Predictions):
        predictions = read_predictions(predictions)
    labels = given_or_loaded(
        labels,
        annotations=annotations,
        dataset=labels_dataset,
        allow_unverified=allow_unverified,
        patches=label_patches,
    )
    document = score_predictions(predictions, split=split, labels=labels, limit=limit)
    analysis = analyze_mistakes(
        predictions, labels, chosen_splits(split), limit=limit, with_probabilities=True
    )
    output = Path(output_dir)
    outputs.write_json(output / RESULTS_FILE, document)
    records = analysis.records()
    write_mistakes_jsonl(output / MISTAKES_FILE, records)
    write_review_page(
        output,
        records,
        labels=document["labels"],
        title=title or f"Mistakes of {Path(predictions.source).name}",
        images=images,
        images_split=images_split,
    )
    return document


def run_dir_inputs(run_dir: str | os.PathLike) -> tuple[Path, str | None]:
    """A `run` output folder's predictions file, and a page title naming its model if known."""
    folder = Path(run_dir)
    if not folder.is_dir():
        raise ToolkitError(f"--run-dir {str(folder)!r} is not a directory; expected `run`'s output")
    results_path = folder / RUN_RESULTS_FILE
    if not results_path.is_file():  # a run still going, or killed: its predictions still count
        return folder / RUN_PREDICTIONS_FILE, None
    try:
        model = json.loads(results_path.read_text(encoding="utf-8")).get("model") or {}
    except (ValueError, AttributeError) as error:
        raise ToolkitError(
            f"{str(results_path)!r} is not a results document of `run` ({error}); expected the "
            "JSON object that `run` writes"
        ) from error
    model_id = model.get("id") if isinstance(model, dict) else None
    return folder / RUN_PREDICTIONS_FILE, f"Mistakes of {model_id}" if model_id else None

"""``compare_models``, the API behind ``imagenet-multilabel compare``: the paper's loop, for many
models.

Two or more models (`run` folders, or predictions files as `score` reads them; `inputs`) are
judged on one set of labels, aligned once (`aligned`); the queue is `novel_queue`'s, the counts
of mistakes `solved`'s, the files `report`'s. Written into the output folder::

    compare.json   everything below, with the labels and each model's identity
    compare.md     the tables and the plot, to read
    compare.csv    the same numbers as one long table (section, model, ..., measure, value)
    queue.jsonl    the novel-prediction queue, one (image, class) a line, in review order
    solved_vs_top1.png/.svg  solved fraction per category against each model's accuracy

- The novel-prediction queue (`novel_queue`): the (image, class) pairs some model predicts
  outside the label set, those only one model predicts first.
- What each model solves of the paper's reviewed mistakes (ViT-3B's 378, Greedy Soups' 249), by
  category x severity: the paper's finding that better models solve no particular kind of mistake.
- What each model solves of the other models' mistakes, per automatic category
  (`dataset_script.taxonomy.categories`, for every distinct (image, class) any model gets wrong,
  the queue's items included; with ``categorizer`` and ``images`` the image rules too).
- Shared and unique mistakes (rejected top-1 predictions) per pair of models.
- Major-mistake slice candidates: images at least ``min_models`` models get wrong where the
  paper's experts call that very (image, prediction) major or, for a prediction they never
  reviewed, where the labels mark it ``wrong``: how ImageNet-M was found, for the user's models.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...dataset_script.images.choose import ImageOptions
from ...dataset_script.labels.loading import Labels, LabelSource, resolve_labels
from ...dataset_script.taxonomy import experts as mistakes
from ...dataset_script.taxonomy.categories import FAMILIES, ImageRuleMaker
from ...metric.errors import (
    ToolkitError,
    expect_count,
    expect_path,
    expect_paths,
    expect_text,
    named,
)
from .. import outputs
from ..analysis import review
from ..frame import FILE_OR_FOLDER, FOLDER, LABEL_FILES, MISTAKE_IMAGES, Read, Write, command
from ..outputs import PREDICTIONS_FILE, RESULTS_FILE
from ..scores import results
from ..scores.score import label_set_scores
from .aligned import SPLIT, align, model_summaries
from .inputs import CompareError, check_same_labels, read_model_inputs
from .novel_queue import novel_prediction_queue
from .queue_page import queue_records, write_queue_review
from .report import (
    CSV_FILE,
    MARKDOWN_FILE,
    PLOT_STEM,
    PLOT_SUFFIXES,
    QUEUE_FILE,
    csv_text,
    markdown,
    plot_solved,
)
from .solved import (
    major_mistake_candidates,
    mistake_pool,
    shared_mistakes,
    solved_auto_categories,
    solved_paper_mistakes,
)

COMPARE_FORMAT = "imagenet-multilabel-compare"
COMPARE_FORMAT_VERSION = 1
JSON_FILE = "compare.json"
OUTPUT_FILES = (
    JSON_FILE,
    MARKDOWN_FILE,
    CSV_FILE,
    QUEUE_FILE,
    *(f"{PLOT_STEM}{suffix}" for suffix in PLOT_SUFFIXES),
    f"{review.REVIEW_FOLDER}/",
)


@command(
    Read(
        "inputs",
        FILE_OR_FOLDER,
        expected="a `run` folder (predictions.jsonl and results.json) or a predictions file",
        many=True,
        needs=(PREDICTIONS_FILE, RESULTS_FILE),
    ),
    LABEL_FILES,
    *MISTAKE_IMAGES,
    Write(
        "output_dir",
        FOLDER,
        writes=OUTPUT_FILES,
        reads_back=(f"{review.REVIEW_FOLDER}/{review.THUMBNAILS_FILE}",),
        locked=True,
    ),
    plain=("min_models", "images_split"),
)
def compare_models(
    inputs: Sequence[str | os.PathLike],
    *,
    output_dir: str | os.PathLike,
    labels: Labels | LabelSource | None = None,
    min_models: int | None = None,
    images: str | os.PathLike | None = None,
    images_split: str | None = None,
    categorizer: ImageRuleMaker | None = None,
) -> dict[str, Any]:
    """Compare the models of ``inputs`` (`run` folders or predictions files) on one set of labels
    and write compare.json, compare.md, compare.csv, queue.jsonl and the plot into
    ``output_dir``; return the compare.json document.

    ``labels`` as `score_predictions` takes them. ``min_models``: how many models must make a major
    mistake on an image for it to be a slice candidate (default: all of them). ``images``: an
    image source (`dataset_script.images`, split ``images_split``); with it the queue is also
    written as a review page, ``review/index.html`` with thumbnails, and with ``categorizer``
    (``eval_cli.models.ImageCategorizer``) the automatic taxonomy's image rules look at them.
    """
    inputs = expect_paths(inputs, "inputs", at_least=2, plural="run folders or predictions files")
    output = Path(expect_path(output_dir, "output_dir"))
    expect_count(min_models, "min_models", optional=True)
    expect_path(images, "images", optional=True)
    expect_text(images_split, "images_split", optional=True)
    if categorizer is not None and images is None:
        raise ToolkitError(
            f"{named('categorizer')} needs {named('images')}: the taxonomy's image rules look at "
            "the mistakes' images"
        )
    ImageOptions(images, images_split)
    models = read_model_inputs(inputs)
    if min_models is None:
        min_models = len(models)
    if not 1 <= min_models <= len(models):
        raise CompareError(
            f"{named('min_models')} {min_models} is not between 1 and the {len(models)} models "
            "compared"
        )
    labels = resolve_labels(labels, [SPLIT])
    check_same_labels(models, labels)
    aligned = align(models, labels.split(SPLIT))
    summaries = model_summaries(models, aligned)
    scores = label_set_scores([model.predictions for model in models], labels)
    for summary, model_scores in zip(summaries, scores, strict=True):
        summary["label_sets"] = model_scores
    accuracies = np.array([summary["multilabel_accuracy"] for summary in summaries])
    image_rules = None
    if categorizer is not None:
        from ...dataset_script.images.choose import open_image_source  # imports `datasets`

        image_rules = categorizer.image_rules(open_image_source(images, split=images_split))
    pool = mistake_pool(aligned, image_rules)
    queue = novel_prediction_queue(models, aligned, accuracies, pool)
    imagenet_m = labels.splits.get("imagenet_m")
    imagenet_m_names = None if imagenet_m is None else set(imagenet_m.file_names.tolist())
    document = {
        "format": COMPARE_FORMAT,
        "format_version": COMPARE_FORMAT_VERSION,
        "split": SPLIT,
        "labels": labels.provenance,
        "models": summaries,
        "queue": {
            "file": QUEUE_FILE,
            "num_items": len(queue),
            "num_predicted_by_one_model": sum(len(item["models"]) == 1 for item in queue),
        },
        "solved": solved_paper_mistakes(models, aligned),
        "solved_auto": solved_auto_categories(models, aligned, pool, image_rules),
        "pairs": shared_mistakes(models, aligned),
        "major_candidates": major_mistake_candidates(
            models,
            aligned,
            min_models,
            imagenet_m_names,
        ),
        "plots": [f"{PLOT_STEM}{suffix}" for suffix in PLOT_SUFFIXES],
        "paper_metadata": {"source": mistakes.SOURCE_REPOSITORY, "commit": mistakes.SOURCE_COMMIT},
    }
    if images is not None:  # first: an image source that cannot be read writes nothing
        page_records = queue_records(
            models, aligned.references, aligned.top1, queue, imagenet_m_names
        )
        write_queue_review(
            output,
            page_records,
            labels=labels.provenance,
            images=images,
            images_split=images_split,
            num_models=len(models),
        )
    outputs.write_lines(output / QUEUE_FILE, (json.dumps(item) for item in queue))
    for suffix, data in plot_solved(document).items():
        outputs.write_bytes(output / f"{PLOT_STEM}{suffix}", data)
    outputs.write_text(output / CSV_FILE, csv_text(document))
    outputs.write_text(output / MARKDOWN_FILE, markdown(document, queue))
    outputs.write_json(output / JSON_FILE, document)
    return document


def _by_family(by_category: Mapping[str, Mapping[str, int]]) -> str:
    """A model's own mistakes per automatic family, in words."""
    return ", ".join(
        f"{sum(by_category[c]['mistakes'] for c in members):,} {family}"
        for family, members in FAMILIES.items()
    )


def summary(document: Mapping[str, Any]) -> str:
    """What `compare` prints: each model's score, novel predictions and mistakes per automatic
    family, the queue, the slice, the automatic categories of all the models' mistakes."""
    auto = document["solved_auto"]
    lines = [
        f"{model['name']}: {100 * model['multilabel_accuracy']:.2f}% multi-label accuracy"
        f"{' (partial: not every class covered)' if model['partial'] else ''}, "
        f"{model['num_outside_label_set']} top-1 prediction(s) outside the label set; its "
        f"mistakes: {_by_family(auto['by_model'][model['name']])}"
        for model in document["models"]
    ]
    lines += results.label_problems(document["labels"])  # patched, unverified, unchecked
    queue, slice_ = document["queue"], document["major_candidates"]
    lines.append(
        f"Queue: {queue['num_items']} (image, class) pair(s) to review, "
        f"{queue['num_predicted_by_one_model']} predicted by one model; "
        f"{slice_['num_candidates']} major-mistake slice candidate(s)"
    )
    lines += results.auto_categories_report(
        auto, f"the {auto['num_pairs']:,} distinct mistakes of the {len(document['models'])} models"
    )
    return "\n".join(lines)

"""``compare_models``, the API behind ``imagenet-multilabel compare``: the paper's loop, for many
models.

Two or more models (`run` folders, or predictions files as `score` reads them) are judged on one
set of labels, every model's top-1 aligned by file name once into ``(models, images)`` int arrays
of the ``validation`` split (it holds the ImageNet-M images too), so that every count below is a
few numpy operations. Written into the output folder::

    compare.json   everything below, with the labels and each model's identity
    compare.md     the tables and the plot, to read
    compare.csv    the same numbers as one long table (section, model, ..., measure, value)
    queue.jsonl    the novel-prediction queue, one (image, class) a line, in review order
    solved_vs_top1.png/.svg  solved fraction per category against each model's accuracy

- The novel-prediction queue: every (image, class) that some model predicts top-1 and that is in
  none of the image's correct/unclear/wrong sets (outside the label set). The paper found that a
  novel prediction one model makes and the others don't is a right new label almost half the
  time, so those come first, then by that model's accuracy, then by its probability.
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

import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...dataset_script import classes
from ...dataset_script.images.choose import ImageOptions
from ...dataset_script.labels.loading import Labels, LabelSource, resolve_labels
from ...dataset_script.taxonomy import experts as mistakes
from ...dataset_script.taxonomy.categories import (
    CATEGORIES,
    FAMILIES,
    AutoCategories,
    ImageRuleMaker,
    ImageRules,
    categorize_mistakes,
)
from ...metric.errors import (
    ToolkitError,
    expect_count,
    expect_path,
    expect_paths,
    expect_text,
    first_few,
    named,
)
from ...metric.references import NUM_CLASSES, References
from ...metric.scoring import CORRECT, OUTSIDE_LABEL_SET, PROBLEMATIC, UNCLEAR, WRONG, judge, score
from .. import outputs
from ..analysis import review
from ..frame import FILE_OR_FOLDER, FOLDER, LABEL_FILES, MISTAKE_IMAGES, Read, Write, command
from ..outputs import PREDICTIONS_FILE, RESULTS_FILE
from ..scores import results
from ..scores.score import label_set_scores
from .inputs import CompareError, ModelInput, check_same_labels, read_model_inputs
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
SPLIT = "validation"
PAPER_MODEL_NAMES = {"vit3b": "ViT-3B", "greedy_soups": "Greedy Soups"}
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


# ---------------------------------------------------------------------------------------------
# What is compared


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
    images it was scored on, how many it solves (its top-1 is accepted)."""
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
        "by_model": by_model,
    }


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


def solved_paper_mistakes(models: Sequence[ModelInput], aligned: Aligned) -> dict[str, Any]:
    """Per paper model's reviewed mistakes: how many each model gets right (``solved``) and how
    many it repeats exactly (``same_mistake``), of those it was scored on, in total and by
    category x severity."""
    row_of = {name: row for row, name in enumerate(aligned.references.file_names.tolist())}
    scored, accepted = aligned.scored, aligned.accepted
    report = {}
    for paper_model, name in PAPER_MODEL_NAMES.items():
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


# ---------------------------------------------------------------------------------------------
# The command


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
    inputs = expect_paths(inputs, "compare_models(inputs=...)")
    output = Path(expect_path(output_dir, "compare_models(output_dir=...)"))
    expect_count(min_models, "compare_models(min_models=...)", optional=True)
    expect_path(images, "compare_models(images=...)", optional=True)
    expect_text(images_split, "compare_models(images_split=...)", optional=True)
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
    labels = resolve_labels(labels)
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

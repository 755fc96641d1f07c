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
- Shared and unique mistakes (rejected top-1 predictions) per pair of models.
- Major-mistake slice candidates: images at least ``min_models`` models get wrong where the
  paper's experts call that very (image, prediction) major or, for a prediction they never
  reviewed, where the labels mark it ``wrong``: how ImageNet-M was found, for the user's models.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from imagenet_multilabel.dataset_script import classes, mistakes
from imagenet_multilabel.dataset_script.annotations import sha256_of_file
from imagenet_multilabel.dataset_script.labels import Labels, given_or_loaded
from imagenet_multilabel.eval_cli import outputs
from imagenet_multilabel.eval_cli.predictions import (
    Predictions,
    read_predictions,
    read_top5_probs,
)
from imagenet_multilabel.metric.errors import ToolkitError, first_few
from imagenet_multilabel.metric.scoring import (
    CORRECT,
    NUM_CLASSES,
    OUTSIDE_LABEL_SET,
    PROBLEMATIC,
    UNCLEAR,
    WRONG,
    References,
    judge,
    score,
)

COMPARE_FORMAT = "imagenet-multilabel-compare"
COMPARE_FORMAT_VERSION = 1
JSON_FILE = "compare.json"
MARKDOWN_FILE = "compare.md"
CSV_FILE = "compare.csv"
QUEUE_FILE = "queue.jsonl"
PLOT_STEM = "solved_vs_top1"
PLOT_SUFFIXES = (".png", ".svg")
# What `run` writes into its output folder (named here: eval_cli.run imports torch).
RUN_PREDICTIONS_FILE = "predictions.jsonl"
RUN_RESULTS_FILE = "results.json"
SPLIT = "validation"
PAPER_MODEL_NAMES = {"vit3b": "ViT-3B", "greedy_soups": "Greedy Soups"}
_MISSING = -1  # the top-1 of an image a model has no prediction for
_CSV_COLUMNS = (
    "section",
    "model",
    "other_model",
    "paper_set",
    "category",
    "severity",
    "measure",
    "value",
)


class CompareError(ToolkitError):
    """Inputs that cannot be compared: too few, unknown, duplicated, or on different labels."""


@dataclass(frozen=True)
class ModelInput:
    """One compared model: its predictions and who it is."""

    name: str  # shown in every table; unique among the inputs
    identity: dict[str, Any]  # run: model id + revision; predictions file: name + sha256
    source: str  # the path as given
    predictions: Predictions
    predictions_sha256: str
    recorded_labels: Mapping[str, Any] | None  # a run's results.json ``labels`` block


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


# ---------------------------------------------------------------------------------------------
# Inputs


def read_model_input(given: str | os.PathLike) -> ModelInput:
    """A `run` folder (predictions.jsonl, results.json) or a predictions file, and its identity."""
    path = Path(given)
    if path.is_dir():
        predictions_path, results_path = path / RUN_PREDICTIONS_FILE, path / RUN_RESULTS_FILE
        lacking = [p.name for p in (predictions_path, results_path) if not p.is_file()]
        if lacking:
            raise CompareError(
                f"{str(given)!r} is a folder without {' and '.join(lacking)}; expected a "
                f"finished `run` folder ({RUN_PREDICTIONS_FILE} and {RUN_RESULTS_FILE}) or a "
                "predictions file"
            )
        document = _results_document(results_path)
        model = document.get("model")
        model_id = model.get("id") if isinstance(model, dict) else None
        if not isinstance(model_id, str) or not model_id:
            raise CompareError(
                f"{str(results_path)!r} names no model ('model': {{'id': ...}}); expected the "
                "results.json of `run` (compare a `score` result by its predictions file instead)"
            )
        revision = model.get("revision")
        labels = document.get("labels")
        return ModelInput(
            name=model_id + (f"@{revision}" if revision else ""),
            identity={"kind": "run", "model": model_id, "revision": revision},
            source=str(given),
            predictions=read_predictions(predictions_path),
            predictions_sha256=sha256_of_file(predictions_path),
            recorded_labels=labels if isinstance(labels, dict) else None,
        )
    if not path.exists():
        raise CompareError(
            f"{str(given)!r} does not exist; expected a `run` folder ({RUN_PREDICTIONS_FILE} and "
            f"{RUN_RESULTS_FILE}) or a predictions file (.jsonl or .csv)"
        )
    predictions = read_predictions(path)
    sha256 = sha256_of_file(path)
    name = path.parent.name if path.stem == "predictions" and path.parent.name else path.stem
    return ModelInput(
        name=name,
        identity={"kind": "predictions", "file": path.name, "sha256": sha256},
        source=str(given),
        predictions=predictions,
        predictions_sha256=sha256,
        recorded_labels=None,
    )


def _results_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CompareError(f"cannot read results file {str(path)!r}: {error}") from None
    if not isinstance(document, dict):
        raise CompareError(f"{str(path)!r} is not a results document: expected a JSON object")
    return document


def read_model_inputs(paths: Sequence[str | os.PathLike]) -> list[ModelInput]:
    """Every input read, at least two, no model twice, and a unique name for each."""
    if len(paths) < 2:
        raise CompareError(
            f"compare needs two or more models, got {len(paths)} ({first_few(map(str, paths))}); "
            "pass several run folders or predictions files"
        )
    models = [read_model_input(path) for path in paths]
    seen: dict[Any, ModelInput] = {}
    for model in models:
        keys = [("predictions", model.predictions_sha256)]
        if model.identity["kind"] == "run":
            keys.append(("run", model.identity["model"], model.identity["revision"]))
        for key in keys:
            earlier = seen.setdefault(key, model)
            if earlier is not model:
                what = "the same model and revision" if key[0] == "run" else "identical predictions"
                raise CompareError(
                    f"{model.source!r} and {earlier.source!r} are {what} ({model.name}); expected "
                    "each model once"
                )
    names = [model.name for model in models]
    return [
        model
        if names.count(model.name) == 1
        else dataclasses.replace(model, name=f"{model.name}#{model.predictions_sha256[:8]}")
        for model in models
    ]


def check_same_labels(models: Sequence[ModelInput], labels: Labels) -> None:
    """The runs were scored on one label set, from the annotation file compare uses.

    compare judges every model again on ``labels`` (with their patches, if any), so a run's
    recorded patches may differ from them; but runs on different labels, or on another
    annotation file than ``labels``, are a mix-up to be fixed, not compared.
    """
    runs = [model for model in models if model.recorded_labels is not None]
    recorded = {
        (model.recorded_labels.get("sha256"), model.recorded_labels.get("version"))
        for model in runs
    }
    if len(recorded) > 1:
        listing = "; ".join(
            f"{model.name}: sha256 {model.recorded_labels.get('sha256')}, version "
            f"{model.recorded_labels.get('version')}"
            for model in runs
        )
        raise CompareError(
            f"the runs were scored on different labels ({listing}); expected one label set: "
            "run or score them all on the same labels"
        )
    base = labels.provenance.get("sha256")
    other = [model for model in runs if model.recorded_labels.get("sha256") != base]
    if other:
        raise CompareError(
            f"{other[0].name} ({other[0].source!r}) was scored on the annotation file with sha256 "
            f"{other[0].recorded_labels.get('sha256')}, but compare loaded {base} from "
            f"{labels.provenance.get('source')!r}; pass the label options the runs used"
        )


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


def novel_prediction_queue(
    models: Sequence[ModelInput], aligned: Aligned, accuracies: np.ndarray
) -> list[dict[str, Any]]:
    """Every (image, class) some model predicts top-1 outside the image's label set, in review
    order: predicted by exactly one model first, then by the best accuracy among the models
    predicting it, then by their highest probability (unknown last), then by image and class.
    ``expert``: the paper's verdict where its experts reviewed that very (image, class)."""
    model_index, rows = np.nonzero(aligned.verdicts == OUTSIDE_LABEL_SET)
    class_ids = aligned.top1[model_index, rows]
    probabilities = np.full(len(rows), np.nan)
    for position, model in enumerate(models):
        chosen = np.flatnonzero(model_index == position)
        file_rows = model.predictions.rows_for(aligned.references.file_names[rows[chosen]].tolist())
        probs = read_top5_probs(model.predictions, file_rows) if chosen.size else None
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
    queue = []
    for position in order.tolist():
        members = by_item[bounds[position] : bounds[position + 1]]
        row, class_id = divmod(int(keys[position]), NUM_CLASSES)
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


def compare_models(
    inputs: Sequence[str | os.PathLike],
    *,
    output_dir: str | os.PathLike,
    labels: Labels | None = None,
    annotations: str | os.PathLike | None = None,
    labels_dataset: str | None = None,
    allow_unverified: bool = False,
    label_patches: Sequence[str | os.PathLike] = (),
    min_models: int | None = None,
) -> dict[str, Any]:
    """Compare the models of ``inputs`` (`run` folders or predictions files) on one set of labels
    and write compare.json, compare.md, compare.csv, queue.jsonl and the plot into
    ``output_dir``; return the compare.json document.

    Label arguments as `score_predictions`. ``min_models``: how many models must make a major
    mistake on an image for it to be a slice candidate (default: all of them).
    """
    output = Path(output_dir)
    written = [output / name for name in (JSON_FILE, MARKDOWN_FILE, CSV_FILE, QUEUE_FILE)]
    written += [output / f"{PLOT_STEM}{suffix}" for suffix in PLOT_SUFFIXES]
    given_inputs = {f"input {path}": path for path in inputs}
    given_inputs.update({f"label patch {path}": path for path in label_patches})
    given_inputs["annotations"] = annotations
    outputs.refuse_overwriting_inputs(
        {"--output-dir": output, **{f"output {path.name}": path for path in written}},
        given_inputs,
    )
    models = read_model_inputs(inputs)
    if min_models is None:
        min_models = len(models)
    if not 1 <= min_models <= len(models):
        raise CompareError(
            f"min_models {min_models} is not between 1 and the {len(models)} models compared"
        )
    labels = given_or_loaded(
        labels,
        annotations=annotations,
        dataset=labels_dataset,
        allow_unverified=allow_unverified,
        patches=label_patches,
    )
    check_same_labels(models, labels)
    aligned = align(models, labels.split(SPLIT))
    summaries = model_summaries(models, aligned)
    accuracies = np.array([summary["multilabel_accuracy"] for summary in summaries])
    queue = novel_prediction_queue(models, aligned, accuracies)
    imagenet_m = labels.splits.get("imagenet_m")
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
        "pairs": shared_mistakes(models, aligned),
        "major_candidates": major_mistake_candidates(
            models,
            aligned,
            min_models,
            None if imagenet_m is None else set(imagenet_m.file_names.tolist()),
        ),
        "plots": [f"{PLOT_STEM}{suffix}" for suffix in PLOT_SUFFIXES],
        "paper_metadata": {"source": mistakes.SOURCE_REPOSITORY, "commit": mistakes.SOURCE_COMMIT},
    }
    with outputs.exclusive_directory(output):
        outputs.write_lines(output / QUEUE_FILE, (json.dumps(item) for item in queue))
        for suffix, data in plot_solved(document).items():
            outputs.write_bytes(output / f"{PLOT_STEM}{suffix}", data)
        outputs.write_text(output / CSV_FILE, csv_text(document))
        outputs.write_text(output / MARKDOWN_FILE, markdown(document, queue))
        outputs.write_json(output / JSON_FILE, document)
    return document


# ---------------------------------------------------------------------------------------------
# Tables and the plot


def _solved_fraction(cell: Mapping[str, int]) -> float | None:
    return cell["solved"] / cell["scored"] if cell["scored"] else None


def _category_cells(by_model: Mapping[str, Any], category: str) -> dict[str, int]:
    """A model's counts of one category, every severity together."""
    cells = by_model["by_category_severity"][category].values()
    return {key: sum(cell[key] for cell in cells) for key in ("scored", "solved")}


def csv_rows(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every number of ``document`` as one long table (``_CSV_COLUMNS``)."""
    rows = []

    def add(section: str, model: str, measure: str, value: Any, **where: str) -> None:
        rows.append(
            {"section": section, "model": model, "measure": measure, "value": value, **where}
        )

    for summary in document["models"]:
        for measure in (
            "multilabel_accuracy",
            "num_scored",
            "num_missing_predictions",
            "num_rejected",
            "num_wrong",
            "num_outside_label_set",
        ):
            add("models", summary["name"], measure, summary[measure])
    for paper_set, report in document["solved"].items():
        for model, counts in report["by_model"].items():
            for measure in ("scored", "solved", "same_mistake"):
                add("solved", model, measure, counts[measure], paper_set=paper_set)
            for category, severities in counts["by_category_severity"].items():
                for severity, cell in severities.items():
                    for measure in ("scored", "solved"):
                        add(
                            "solved",
                            model,
                            measure,
                            cell[measure],
                            paper_set=paper_set,
                            category=category,
                            severity=severity,
                        )
    for (model, other), counts in _pair_lookup(document).items():
        for measure, value in counts.items():
            add("pairs", model, measure, value, other_model=other)
    return rows


def csv_text(document: Mapping[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_CSV_COLUMNS, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(document))
    return buffer.getvalue()


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    numeric = [all(isinstance(row[i], int) for row in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |"]
    lines.append("| " + " | ".join("---:" if n else "---" for n in numeric) + " |")
    lines.extend("| " + " | ".join(_cell(value) for value in row) + " |" for row in rows)
    return [*lines, ""]


def _pair_lookup(document: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, int]]:
    """(model, other model) -> images compared, mistakes in common, with the same wrong class,
    and ``only_model``: the model's mistakes that the other gets right."""
    lookup = {}
    for pair in document["pairs"]:
        first, second = pair["models"]
        shared = {key: pair[key] for key in ("images_compared", "common", "same_wrong_class")}
        lookup[first, second] = {**shared, "only_model": pair["only_first"]}
        lookup[second, first] = {**shared, "only_model": pair["only_second"]}
    return lookup


def markdown(document: Mapping[str, Any], queue: Sequence[Mapping[str, Any]]) -> str:
    """compare.md: the models, the queue's head, what each solves, the pair matrices, the slice."""
    labels = document["labels"]
    names = [summary["name"] for summary in document["models"]]
    lines = [
        "# Model comparison",
        "",
        f"{len(names)} models judged on split `{document['split']}` of the labels "
        f"{labels.get('source')} (version {labels.get('version')}, sha256 {labels.get('sha256')}"
        f"{', patched' if labels.get('patched') else ''}). Accuracy: multi-label top-1, per class, "
        "on the images each model predicted. Mistakes: top-1 predictions judged wrong or outside "
        "the label set.",
        "",
        "## Models",
        "",
    ]
    lines += _table(
        ["model", "accuracy", "scored", "missing", "mistakes", "wrong", "outside label set"],
        [
            [
                s["name"],
                f"{100 * s['multilabel_accuracy']:.2f}%" + (" (partial)" if s["partial"] else ""),
                s["num_scored"],
                s["num_missing_predictions"],
                s["num_rejected"],
                s["num_wrong"],
                s["num_outside_label_set"],
            ]
            for s in document["models"]
        ],
    )
    shown = 20
    lines += [
        "## Novel-prediction queue",
        "",
        f"{document['queue']['num_items']} (image, class) pairs predicted top-1 and outside the "
        f"label set, {document['queue']['num_predicted_by_one_model']} of them by exactly one "
        f"model (first in the queue). All in `{QUEUE_FILE}`; the first {min(shown, len(queue))}:",
        "",
    ]
    lines += _table(
        ["rank", "image", "class", "models", "probabilities", "paper's experts"],
        [
            [
                item["rank"],
                item["file_name"],
                f"{item['class_id']} {item['class_name']}",
                ", ".join(item["models"]),
                ", ".join("?" if p is None else f"{p:.3f}" for p in item["probabilities"]),
                ""
                if item["expert"] is None
                else f"{item['expert']['category']}, {item['expert']['severity']}",
            ]
            for item in queue[:shown]
        ],
    )
    for report in document["solved"].values():
        lines += [
            f"## What each model solves of {report['paper_model']}'s reviewed mistakes",
            "",
            f"{report['num_reviewed']} mistakes reviewed by the paper's experts, "
            f"{report['num_in_labels']} on images of these labels. Solved: the model's top-1 is "
            "accepted (correct or unclear); same: it repeats the very mistake. Cells: solved / "
            "scored, per category x severity.",
            "",
        ]
        cells = [(c, s) for c in mistakes.CATEGORIES for s in mistakes.SEVERITIES]
        cells = [(c, s) for c, s in cells if _any_scored(report, c, s)]
        rows = []
        for model, counts in report["by_model"].items():
            table = counts["by_category_severity"]
            rows.append(
                [model, f"{counts['solved']} / {counts['scored']}", counts["same_mistake"]]
                + [f"{table[c][s]['solved']} / {table[c][s]['scored']}" for c, s in cells]
            )
        lines += _table(["model", "solved", "same"] + [f"{c} {s}" for c, s in cells], rows)
    lines += [f"![{PLOT_STEM}]({PLOT_STEM}.png)", "", "## Shared and unique mistakes", ""]
    lookup = _pair_lookup(document)
    for title, key in (
        ("Mistakes in common", "common"),
        ("Mistakes in common with the same wrong class", "same_wrong_class"),
        ("Mistakes of the row model that the column model gets right", "only_model"),
    ):
        lines += [f"{title}:", ""]
        lines += _table(
            ["", *names],
            [
                [row, *(lookup[row, col][key] if row != col else "" for col in names)]
                for row in names
            ],
        )
    slice_ = document["major_candidates"]
    imagenet_m = slice_["imagenet_m"]
    lines += [
        "## Major-mistake slice candidates",
        "",
        f"{slice_['num_candidates']} images that at least {slice_['min_models']} of the models "
        "get wrong with a major mistake (the experts' severity where they reviewed that "
        "prediction, else the labels' `wrong`)"
        + (
            f"; {imagenet_m['among_candidates']} of the {imagenet_m['total']} ImageNet-M images "
            "among them (marked M)."
            if imagenet_m
            else "."
        ),
        "",
    ]
    lines += _table(
        ["image", "M", "models", "predictions"],
        [
            [
                image["file_name"],
                "M" if image["in_imagenet_m"] else "",
                image["num_models"],
                "; ".join(
                    f"{m['model']}: {m['prediction']} {m['prediction_name']} ({m['major_by']})"
                    for m in image["models"]
                ),
            ]
            for image in slice_["images"]
        ],
    )
    return "\n".join(lines)


def _any_scored(report: Mapping[str, Any], category: str, severity: str) -> bool:
    return any(
        counts["by_category_severity"][category][severity]["scored"]
        for counts in report["by_model"].values()
    )


def plot_solved(document: Mapping[str, Any]) -> dict[str, bytes]:
    """The solved fraction of each category of each paper set against each model's accuracy,
    one line per category (the paper's finding 2: no category is solved first), as PNG and SVG."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figure registry

    summaries = sorted(document["models"], key=lambda s: s["multilabel_accuracy"])
    xs = [100 * s["multilabel_accuracy"] for s in summaries]
    figure = Figure(figsize=(12, 5.5), dpi=100)
    panels = figure.subplots(1, len(document["solved"]), sharey=True, squeeze=False)[0]
    for axes, report in zip(panels, document["solved"].values(), strict=True):
        for category in mistakes.CATEGORIES:
            cells = [_category_cells(report["by_model"][s["name"]], category) for s in summaries]
            if not any(cell["scored"] for cell in cells):
                continue
            fractions = [_solved_fraction(cell) for cell in cells]
            ys = [np.nan if f is None else 100 * f for f in fractions]
            axes.plot(
                xs,
                ys,
                marker="o",
                color=f"C{mistakes.CATEGORIES.index(category)}",  # one colour per category
                label=f"{category} (n={max(c['scored'] for c in cells)})",
            )
        axes.set_title(f"{report['paper_model']}: {report['num_in_labels']} reviewed mistakes")
        axes.set_xlabel("model's multi-label top-1 accuracy (%)")
        axes.set_ylim(-3, 103)
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend(fontsize=8, loc="best")
        else:
            axes.text(
                0.5,
                0.5,
                "none of these mistakes is\namong the compared images",
                transform=axes.transAxes,
                ha="center",
                color="0.35",
            )
    panels[0].set_ylabel("solved (%)")
    figure.suptitle("Solved fraction of the paper's reviewed mistakes, per category")
    figure.tight_layout()
    rendered = {}
    for suffix in PLOT_SUFFIXES:
        buffer = io.BytesIO()
        figure.savefig(buffer, format=suffix[1:])
        rendered[suffix] = buffer.getvalue()
    return rendered


# ---------------------------------------------------------------------------------------------
# The command line


def main_args(args: argparse.Namespace) -> int:
    """``imagenet-multilabel compare``: the arguments handed to ``compare_models``."""
    document = compare_models(
        args.inputs,
        output_dir=args.output_dir,
        annotations=args.annotations,
        labels_dataset=args.labels,
        allow_unverified=args.allow_unverified_annotations,
        label_patches=args.label_patch,
        min_models=args.min_models,
    )
    for summary in document["models"]:
        print(
            f"{summary['name']}: {100 * summary['multilabel_accuracy']:.2f}% multi-label accuracy"
            f"{' (partial: not every class covered)' if summary['partial'] else ''}, "
            f"{summary['num_outside_label_set']} top-1 prediction(s) outside the label set"
        )
    queue, slice_ = document["queue"], document["major_candidates"]
    print(
        f"Queue: {queue['num_items']} (image, class) pair(s) to review, "
        f"{queue['num_predicted_by_one_model']} predicted by one model; "
        f"{slice_['num_candidates']} major-mistake slice candidate(s). Wrote "
        f"{Path(args.output_dir) / MARKDOWN_FILE}, {JSON_FILE}, {CSV_FILE}, {QUEUE_FILE} and "
        "the plot"
    )
    return 0

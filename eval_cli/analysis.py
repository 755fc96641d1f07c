"""Mistake analysis: which rejected predictions are the paper's known hard cases, which are new.

For every scored image (problematic ones are skipped, as by the official metric) whose top-1
prediction ``metric.scoring.judge`` rejects (``wrong`` or ``unreviewed``), exactly one source,
tried in this order:

- ``expert``: the paper's experts reviewed this very (file name, predicted class) as a mistake of
  ViT-3B or Greedy Soups (``dataset_script.mistakes``); its category and severity are theirs.
- ``unreviewed``: the prediction is in none of the image's correct/unclear/wrong sets: a novel
  prediction, which the paper found right almost half the time. The review page asks for these.
- ``confusion-pair``: {prediction, original label} or {prediction, a correct label} is one of the
  481 class pairs ViT-3B confused: called ``fine-grained`` by that heuristic, not by an expert.
- ``uncategorized``: judged wrong, nothing more known.

``analyze_split`` gives one record per rejected prediction (a row of ``mistakes.jsonl``) and the
``mistakes`` block of ``results.json`` (printed under the metrics by ``results.report``).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from imagenet_multilabel.dataset_script import classes, mistakes
from imagenet_multilabel.metric.scoring import (
    PROBLEMATIC,
    UNREVIEWED,
    WRONG,
    References,
    judge,
)

SOURCES = ("expert", "unreviewed", "confusion-pair", "uncategorized")
CONFUSION_PAIR_CATEGORY = "fine-grained"
MISTAKES_FILE = "mistakes.jsonl"
TOP_SHOWN = 10  # classes and confusions listed in the results
_LABEL_SETS = ("correct", "unclear", "wrong")


@dataclass(frozen=True)
class MistakeAnalysis:
    """The rejected predictions of one split: ``records`` (mistakes.jsonl) and ``summary``."""

    records: list[dict[str, Any]]
    summary: dict[str, Any]


def analyze_split(
    split: str,
    ranked: np.ndarray,
    references: References,
    *,
    imagenet_m_file_names: Collection[str] | None,
    top5_probs: np.ndarray | None = None,
) -> MistakeAnalysis:
    """Analyze the rejected top-1 predictions of ``ranked`` ((N,) or (N, k) class ids).

    ``ranked`` and ``top5_probs`` (NaN rows: unknown) are row-aligned with ``references`` (the
    predicted images of ``split``); ``imagenet_m_file_names`` marks the ImageNet-M images (None:
    unknown, as when only the validation labels were loaded).
    """
    ranked = np.asarray(ranked)
    top1 = ranked if ranked.ndim == 1 else ranked[:, 0]
    verdicts = judge(top1, references)
    rejected_rows = np.flatnonzero((verdicts == WRONG) | (verdicts == UNREVIEWED))
    rejected = references.take(rejected_rows)
    predicted = top1[rejected_rows]
    file_names = rejected.file_names.tolist()
    sources, categories, severities = _sources(
        file_names, predicted, verdicts[rejected_rows] == UNREVIEWED, rejected
    )
    label_lists = {name: rejected.label_lists(name) for name in _LABEL_SETS}
    records = []
    for position, file_name in enumerate(file_names):
        row = rejected_rows[position]
        prediction = int(predicted[position])
        original = int(rejected.original_label[position])
        record: dict[str, Any] = {
            "file_name": file_name,
            "original_label": original,
            "original_label_name": classes.CLASS_NAMES[original],
            "prediction": prediction,
            "prediction_name": classes.CLASS_NAMES[prediction],
        }
        if ranked.ndim == 2:
            top5 = ranked[row, :5].tolist()
            record["top5"] = top5
            record["top5_names"] = [classes.CLASS_NAMES[i] for i in top5]
        if top5_probs is not None and not np.isnan(top5_probs[row]).any():
            record["top5_probs"] = top5_probs[row].tolist()
        for name in _LABEL_SETS:
            ids = label_lists[name][position]
            record[name] = ids
            record[f"{name}_names"] = [classes.CLASS_NAMES[i] for i in ids]
        severity = severities[position]
        record.update(
            source=sources[position],
            category=categories[position],
            severity=severity,
            severity_collapsed=mistakes.collapse_severity(severity) if severity else "",
            in_imagenet_m=(
                None if imagenet_m_file_names is None else file_name in imagenet_m_file_names
            ),
        )
        records.append(record)
    summary = _summary(split, records, references, verdicts, imagenet_m_file_names)
    return MistakeAnalysis(records=records, summary=summary)


def _sources(
    file_names: Sequence[str],
    predicted: np.ndarray,
    unreviewed: np.ndarray,
    rejected: References,
) -> tuple[list[str], list[str], list[str]]:
    """Source, category and severity ("" when unknown) of each rejected prediction."""
    confusions = mistakes.confusion_matrix()
    confused = confusions[predicted, rejected.original_label]
    correct = rejected.correct
    np.logical_or.at(confused, correct.rows, confusions[predicted[correct.rows], correct.classes])
    expert = mistakes.expert_mistakes()
    sources, categories, severities = [], [], []
    for position, key in enumerate(zip(file_names, predicted.tolist(), strict=True)):
        mistake = expert.get(key)
        if mistake is not None:
            source, category, severity = "expert", mistake.category, mistake.severity
        elif unreviewed[position]:
            source, category, severity = "unreviewed", "", ""
        elif confused[position]:
            source, category, severity = "confusion-pair", CONFUSION_PAIR_CATEGORY, ""
        else:
            source, category, severity = "uncategorized", "", ""
        sources.append(source)
        categories.append(category)
        severities.append(severity)
    return sources, categories, severities


def _summary(
    split: str,
    records: Sequence[Mapping[str, Any]],
    references: References,
    verdicts: np.ndarray,
    imagenet_m_file_names: Collection[str] | None,
) -> dict[str, Any]:
    """The ``mistakes`` block of results.json."""
    by_source = Counter(record["source"] for record in records)
    expert = [record for record in records if record["source"] == "expert"]
    table = {
        category: {severity: 0 for severity in mistakes.SEVERITIES}
        for category in mistakes.CATEGORIES
    }
    for record in expert:
        table[record["category"]][record["severity"]] += 1
    per_class = Counter(record["original_label"] for record in records)
    confusions = Counter((record["original_label"], record["prediction"]) for record in records)
    imagenet_m = None
    if imagenet_m_file_names is not None:
        rejected_names = {record["file_name"] for record in records}
        scored = [
            name
            for name, verdict in zip(references.file_names.tolist(), verdicts.tolist(), strict=True)
            if name in imagenet_m_file_names and verdict != PROBLEMATIC
        ]
        imagenet_m = {
            "solved": sorted(name for name in scored if name not in rejected_names),
            "missed": sorted(name for name in scored if name in rejected_names),
        }
    return {
        "split": split,
        "num_rejected": len(records),
        "by_source": {source: by_source.get(source, 0) for source in SOURCES},
        "expert_category_severity": table,
        "expert_severity_collapsed": {
            collapsed: sum(r["severity_collapsed"] == collapsed for r in expert)
            for collapsed in ("minor", "major")
        },
        "classes_with_most_mistakes": [
            {"class_id": class_id, "name": classes.CLASS_NAMES[class_id], "mistakes": count}
            for class_id, count in _most_common(per_class)
        ],
        "most_frequent_confusions": [
            {
                "original_label": original,
                "original_label_name": classes.CLASS_NAMES[original],
                "prediction": prediction,
                "prediction_name": classes.CLASS_NAMES[prediction],
                "count": count,
            }
            for (original, prediction), count in _most_common(confusions)
        ],
        "imagenet_m": imagenet_m,
        "expert_metadata": {
            "source": mistakes.SOURCE_REPOSITORY,
            "commit": mistakes.SOURCE_COMMIT,
            "confusion_pairs": "heuristic: a confused class pair of ViT-3B, not an expert verdict",
        },
    }


def _most_common(counts: Counter) -> list[tuple[Any, int]]:
    """The ``TOP_SHOWN`` largest counts, ties broken by key so that output is deterministic."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_SHOWN]


def write_mistakes_jsonl(path: str | os.PathLike, records: Sequence[Mapping[str, Any]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record) + "\n" for record in records)
    return path

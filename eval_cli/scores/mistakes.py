"""Mistake analysis: which rejected predictions are the paper's known hard cases, which are new.

For every scored image (problematic ones are skipped, as by the official metric) whose top-1
prediction ``metric.scoring.judge`` rejects (``wrong``, or ``outside-label-set``: in none of the
image's correct/unclear/wrong sets), exactly one source, tried in this order:

- ``expert``: reviewed by the paper's experts: this very (file name, predicted class) is a mistake
  of ViT-3B or Greedy Soups in the paper's metadata (``dataset_script.mistakes``); its category
  and severity are theirs. Such a prediction may still be outside the label set (28 of Greedy
  Soups' are): the labels were not updated with every reviewed mistake.
- ``outside-label-set``: outside the label set and not reviewed by the paper's experts: a novel
  prediction, which the paper found right almost half the time. The review page asks for these.
- ``confusion-pair``: {prediction, original label} or {prediction, a correct label} is one of the
  481 class pairs ViT-3B confused: called ``fine-grained`` by that heuristic, not by an expert.
- ``uncategorized``: judged wrong, nothing more known.

Every source but ``expert`` is "not reviewed by the paper's experts". Whether a prediction is
outside the label set is a separate fact, kept beside the source (``outside_label_set`` in each
record; ``num_outside_label_set`` and how many of them the experts reviewed in the summary), so
that the results' ``num_outside_label_set`` and the mistakes' counts always add up.

Beside the source, every rejected prediction gets an automatic category in the paper's taxonomy
(`dataset_script.taxonomy.categories`: ``auto_category``, ``auto_family``, ``auto_evidence``),
from rules that mean the same for every model; where the experts reviewed the mistake, their
``category`` stays in its own field, never merged with the automatic one. The image rules run
when the caller binds them to the images (``image_rules``); without them the summary says which
categories were not available and under which rules their mistakes were counted.

``analyze_split`` gives the ``mistakes`` block of ``results.json`` (printed under the metrics by
``results.report``) and, for ``analyze``, one record per rejected prediction (a row of
``mistakes.jsonl``). It is part of scoring: `score` and `run` record its summary and the lenient
accuracies beside the metrics, from the same read of the predictions. Where the experts reviewed
some of the mistakes, the summary says how well the automatic categories agree with theirs
(`taxonomy.agreement`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...dataset_script import classes
from ...dataset_script.taxonomy import experts
from ...dataset_script.taxonomy.agreement import reviewed_agreement
from ...dataset_script.taxonomy.categories import (
    ImageRules,
    categorize_mistakes,
    family,
    lenient_accuracies,
)
from ...metric.references import References
from ...metric.scoring import OUTSIDE_LABEL_SET, PROBLEMATIC, WRONG, judge

SOURCES = ("expert", "outside-label-set", "confusion-pair", "uncategorized")
CONFUSION_PAIR_CATEGORY = "fine-grained"
# Peychev et al.'s accuracies beside the official one: minor mistakes counted as right; minor and
# explainable ones counted as right (`categories.lenient_accuracies`).
LENIENT_ACCURACIES = (
    "multilabel_accuracy_minor_forgiven",
    "multilabel_accuracy_minor_explainable_forgiven",
)
TOP_SHOWN = 10  # classes and confusions listed in the results
_LABEL_SETS = ("correct", "unclear", "wrong")


@dataclass(frozen=True)
class MistakeAnalysis:
    """The rejected predictions of one split: ``summary`` (the results' ``mistakes`` block) at
    once, and ``records()`` (the rows of mistakes.jsonl) when asked for: `score` and `run` only
    need the summary."""

    summary: dict[str, Any]
    rejected: References  # the labels of the rejected predictions' images
    ranked: np.ndarray  # their (n,) or (n, k) predictions
    top5_probs: np.ndarray | None  # their (n, 5) probabilities, NaN rows unknown
    sources: list[str]
    outside_label_set: list[bool]  # top-1 in none of the image's label sets
    categories: list[str]  # "" when unknown
    severities: list[str]  # "" when unknown
    in_imagenet_m: list[bool] | None  # None: the ImageNet-M images are not known
    auto_categories: list[str]  # the automatic category of each, never ""
    auto_evidence: list[str]
    # Peychev et al.'s lenient accuracies of the split (the metrics' ``LENIENT_ACCURACIES``)
    accuracies: dict[str, float]

    def records(self) -> list[dict[str, Any]]:
        """One object per rejected prediction, with class names beside the ids."""
        names = classes.CLASS_NAMES
        label_lists = {name: self.rejected.label_lists(name) for name in _LABEL_SETS}
        top5 = self.ranked[:, :5].tolist() if self.ranked.ndim == 2 else None
        probs = self.top5_probs
        known_probs = None if probs is None else ~np.isnan(probs).any(axis=1)
        top1 = (self.ranked if self.ranked.ndim == 1 else self.ranked[:, 0]).tolist()
        records = []
        for position, (file_name, original, prediction) in enumerate(
            zip(
                self.rejected.file_names.tolist(),
                self.rejected.original_label.tolist(),
                top1,
                strict=True,
            )
        ):
            record: dict[str, Any] = {
                "file_name": file_name,
                "original_label": original,
                "original_label_name": names[original],
                "prediction": prediction,
                "prediction_name": names[prediction],
            }
            if top5 is not None:
                record["top5"] = top5[position]
                record["top5_names"] = [names[i] for i in top5[position]]
            if known_probs is not None and known_probs[position]:
                record["top5_probs"] = probs[position].tolist()
            for name in _LABEL_SETS:
                ids = label_lists[name][position]
                record[name] = ids
                record[f"{name}_names"] = [names[i] for i in ids]
            severity = self.severities[position]
            record["source"] = self.sources[position]
            record["outside_label_set"] = self.outside_label_set[position]
            record["category"] = self.categories[position]
            record["severity"] = severity
            record["severity_collapsed"] = experts.collapse_severity(severity) if severity else ""
            record["in_imagenet_m"] = (
                None if self.in_imagenet_m is None else self.in_imagenet_m[position]
            )
            record["auto_category"] = self.auto_categories[position]
            record["auto_family"] = family(self.auto_categories[position])
            record["auto_evidence"] = self.auto_evidence[position]
            records.append(record)
        return records


def analyze_split(
    split: str,
    ranked: np.ndarray,
    references: References,
    *,
    imagenet_m_file_names: Collection[str] | None,
    image_rules: ImageRules | None = None,
    top5_probs: np.ndarray | None = None,
) -> MistakeAnalysis:
    """Analyze the rejected top-1 predictions of ``ranked`` ((N,) or (N, k) class ids).

    ``ranked`` is row-aligned with ``references`` (the predicted images of ``split``);
    ``imagenet_m_file_names`` marks the ImageNet-M images (None: unknown, as when only the
    validation labels were loaded); ``image_rules``: the taxonomy's image rules bound to the
    images (None: the image-free rules only); ``top5_probs``: (N, 5), row-aligned with
    ``ranked`` (NaN rows unknown), shown in the records.
    """
    ranked = np.asarray(ranked)
    top1 = ranked if ranked.ndim == 1 else ranked[:, 0]
    verdicts = judge(top1, references)
    rejected_rows = np.flatnonzero((verdicts == WRONG) | (verdicts == OUTSIDE_LABEL_SET))
    auto = categorize_mistakes(
        top1, references, image_rules=None if image_rules is None else image_rules.rules
    )
    rejected = references.take(rejected_rows)
    file_names = rejected.file_names.tolist()
    outside = verdicts[rejected_rows] == OUTSIDE_LABEL_SET
    sources, categories, severities = _sources(file_names, top1[rejected_rows], outside, rejected)
    in_imagenet_m = None
    if imagenet_m_file_names is not None:
        in_imagenet_m = [name in imagenet_m_file_names for name in file_names]
    columns = MistakeAnalysis(
        summary={},
        rejected=rejected,
        ranked=ranked[rejected_rows],
        top5_probs=None if top5_probs is None else top5_probs[rejected_rows],
        sources=sources,
        outside_label_set=outside.tolist(),
        categories=categories,
        severities=severities,
        in_imagenet_m=in_imagenet_m,
        auto_categories=auto.categories,
        auto_evidence=auto.evidence,
        accuracies={
            key: value
            for key, value in lenient_accuracies(top1, references, auto, allow_partial=True).items()
            if key in LENIENT_ACCURACIES
        },
    )
    summary = _summary(split, columns, references, verdicts, imagenet_m_file_names)
    summary["auto_categories"] = {
        **auto.summary(),
        "image_rules": None if image_rules is None else dict(image_rules.provenance),
        "agreement_with_experts": reviewed_agreement(
            file_names, top1[rejected_rows].tolist(), auto.categories
        ),
    }
    return dataclasses.replace(columns, summary=summary)


def _sources(
    file_names: Sequence[str],
    predicted: np.ndarray,
    outside_label_set: np.ndarray,
    rejected: References,
) -> tuple[list[str], list[str], list[str]]:
    """Source, category and severity ("" when unknown) of each rejected prediction."""
    confusions = experts.confusion_matrix()
    confused = confusions[predicted, rejected.original_label]
    correct = rejected.correct
    np.logical_or.at(confused, correct.rows, confusions[predicted[correct.rows], correct.classes])
    expert = experts.expert_mistakes()
    sources, categories, severities = [], [], []
    for position, key in enumerate(zip(file_names, predicted.tolist(), strict=True)):
        mistake = expert.get(key)
        if mistake is not None:
            source, category, severity = "expert", mistake.category, mistake.severity
        elif outside_label_set[position]:
            source, category, severity = "outside-label-set", "", ""
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
    analysis: MistakeAnalysis,
    references: References,
    verdicts: np.ndarray,
    imagenet_m_file_names: Collection[str] | None,
) -> dict[str, Any]:
    """The ``mistakes`` block of results.json."""
    by_source = Counter(analysis.sources)
    table = {
        category: {severity: 0 for severity in experts.SEVERITIES}
        for category in experts.CATEGORIES
    }
    collapsed = {"minor": 0, "major": 0}
    for source, category, severity in zip(
        analysis.sources, analysis.categories, analysis.severities, strict=True
    ):
        if source == "expert":
            table[category][severity] += 1
            collapsed[experts.collapse_severity(severity)] += 1
    originals = analysis.rejected.original_label.tolist()
    top1 = analysis.ranked if analysis.ranked.ndim == 1 else analysis.ranked[:, 0]
    imagenet_m = None
    if imagenet_m_file_names is not None:
        rejected_names = set(analysis.rejected.file_names.tolist())
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
        "num_rejected": len(analysis.sources),
        "by_source": {source: by_source.get(source, 0) for source in SOURCES},
        "num_outside_label_set": sum(analysis.outside_label_set),
        "num_outside_label_set_expert_reviewed": sum(
            outside and source == "expert"
            for outside, source in zip(analysis.outside_label_set, analysis.sources, strict=True)
        ),
        "expert_category_severity": table,
        "expert_severity_collapsed": collapsed,
        "classes_with_most_mistakes": [
            {"class_id": class_id, "name": classes.CLASS_NAMES[class_id], "mistakes": count}
            for class_id, count in _most_common(Counter(originals))
        ],
        "most_frequent_confusions": [
            {
                "original_label": original,
                "original_label_name": classes.CLASS_NAMES[original],
                "prediction": prediction,
                "prediction_name": classes.CLASS_NAMES[prediction],
                "count": count,
            }
            for (original, prediction), count in _most_common(
                Counter(zip(originals, top1.tolist(), strict=True))
            )
        ],
        "imagenet_m": imagenet_m,
        "expert_metadata": {
            "source": experts.SOURCE_REPOSITORY,
            "commit": experts.SOURCE_COMMIT,
            "confusion_pairs": "heuristic: a confused class pair of ViT-3B, not an expert verdict",
        },
    }


def _most_common(counts: Counter) -> list[tuple[Any, int]]:
    """The ``TOP_SHOWN`` largest counts, ties broken by key so that output is deterministic."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_SHOWN]

"""Label sets, their metric half: how each judges a prediction and which metrics it yields, named.

A label set is one registered kind (docs/LABEL_SETS.md): its name, the split of the results
document that holds its metrics (``full``: all 50,000 validation images; ``validation`` and
``imagenet_m``: the multi-label splits), how it judges a top-1 (and a top-5 where it has one), its
metrics with their display names and leaderboard columns, and whether a result on it can be
official. ``REGISTRY`` lists every set: the results document, the printed summary, the model
cards, the leaderboard, compare and the ``evaluate`` module iterate it, so ``METRICS`` is the one
table of metric names. Each set's loading half (its files, provenance and licence) is the module
of ``dataset_script/label_sets/`` named after it.

Like ``scoring.py`` this file imports only numpy and its neighbours: the ``evaluate`` module
imports it (it is uploaded to the Hub Space beside it) and offers each `AcceptedSet` as a
configuration.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .references import References, SetReferences
from .scoring import (
    CORRECT,
    TOP_K,
    UNCLEAR,
    judge,
    prediction_matrix,
    score,
    score_accepted,
    score_original,
)

# How a metric's value is shown: a percentage, a count, a count out of a total, the rejected
# predictions with their two parts.
PCT, COUNT, OF_TOTAL, REJECTED = "pct", "count", "of total", "rejected"
# The results split of the label sets over all 50,000 validation images; `--split full` scores
# every split, `--split all` every split but this one.
FULL_SPLIT = "full"


@dataclass(frozen=True)
class Column:
    """A metric as a column of the leaderboard (and of compare's label-set table)."""

    name: str  # the CSV column
    header: str  # the markdown header
    legend: str  # what the text under the table says it is


@dataclass(frozen=True)
class Metric:
    """One metric of the results document: its key, display name and how it is shown.

    ``published``: claimed in the Hub model-index of an official result (official sets only);
    ``official_label``: its name when the result is official; ``total``: for `OF_TOTAL`, the key
    of the total it is out of; ``most``: the largest count it can be (default: the 50,000
    validation images); ``from_analysis``: computed by the mistake analysis of a whole results
    document (`eval_cli.analysis`), not by the set's `score`.
    """

    key: str
    label: str
    style: str = PCT
    column: Column | None = None
    published: bool = False
    official_label: str | None = None
    total: str | None = None
    most: int | None = None
    from_analysis: bool = False


class LabelSet(ABC):
    """The metric half of a registered label set.

    ``name``: the registry's name (and the loading module's); ``split``: the results split that
    holds its metrics, scored over that split's images; ``title``: its short display name;
    ``note``: one line saying what its numbers mean; ``metrics``: the metrics it declares, in
    display order; ``also``: keys of rows declared elsewhere (`COUNTS`, another set) that its
    results carry too; ``official``: whether a result on it can be the benchmark's official
    number (claimed on the Hub).
    """

    name: str
    split: str
    title: str
    note: str
    metrics: tuple[Metric, ...]
    also: tuple[str, ...]
    official: bool

    @property
    def provenance_key(self) -> str | None:
        """The key of its provenance in the results' ``labels`` block (its name); None for a set
        recorded as the ``labels`` block itself (the multi-label labels)."""
        return self.name

    @abstractmethod
    def accepted(self, predictions: ArrayLike, references: Any) -> tuple[np.ndarray, np.ndarray]:
        """Per image and rank (at most five), whether the prediction is accepted; and per image,
        whether the set judges it (the others count in no accuracy)."""

    @abstractmethod
    def score(self, predictions: ArrayLike, references: Any) -> dict[str, Any]:
        """Its metrics of top-1 (N,) or top-k (N, k) class ids, row-aligned with ``references``."""

    @abstractmethod
    def take(self, references: Any, rows: np.ndarray) -> Any:
        """The references of ``rows`` (positions, in that order)."""


@dataclass(frozen=True)
class DeclaredMetrics(LabelSet):
    """A set whose entry lists its metrics (an `AcceptedSet` derives them from its name)."""

    name: str
    title: str
    note: str
    metrics: tuple[Metric, ...]
    also: tuple[str, ...] = ()


@dataclass(frozen=True)
class MultiLabelSet(DeclaredMetrics):
    """A split of the multi-label labels (`References`), scored by `scoring.score`."""

    imagenet_m: bool = False
    official: bool = True

    @property
    def split(self) -> str:
        return self.name

    @property
    def provenance_key(self) -> str | None:
        return None

    def accepted(
        self, predictions: ArrayLike, references: References
    ) -> tuple[np.ndarray, np.ndarray]:
        matrix = prediction_matrix(predictions, len(references))[:, :TOP_K]
        verdicts = judge(matrix, references)
        return (verdicts == CORRECT) | (verdicts == UNCLEAR), ~references.is_problematic

    def score(self, predictions: ArrayLike, references: References) -> dict[str, Any]:
        return score(predictions, references, imagenet_m=self.imagenet_m, allow_partial=True)

    def take(self, references: References, rows: np.ndarray) -> References:
        return references.take(rows)


@dataclass(frozen=True)
class SingleLabelSet(DeclaredMetrics):
    """One class per image, every image judged (an int array of class ids)."""

    split: str = FULL_SPLIT
    official: bool = False

    def accepted(
        self, predictions: ArrayLike, references: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        matrix = prediction_matrix(predictions, len(references))[:, :TOP_K]
        return matrix == np.asarray(references)[:, None], np.ones(len(references), dtype=bool)

    def score(self, predictions: ArrayLike, references: np.ndarray) -> dict[str, Any]:
        return score_original(predictions, references)

    def take(self, references: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return references[rows]


# The generic keys of `scoring.score_accepted`, each a template of the key a set reports.
_ACCEPTED_KEYS = {
    "accuracy": "{}_accuracy",
    "accuracy_top5": "{}_accuracy_top5",
    "num_scored": "num_{}_scored",
    "num_left_out": "num_{}_left_out",
}


@dataclass(frozen=True)
class AcceptedSet(LabelSet):
    """A set of accepted classes per image (`SetReferences`); an image with an empty set is left
    out. Its metrics are named after it: ``<name>_accuracy`` (top-1 in the set), with a
    ``top5_label`` ``<name>_accuracy_top5``, and the counts ``num_<name>_scored`` and
    ``num_<name>_left_out``; ``images`` completes "Images with(out) ...". The ``evaluate`` module
    offers it as configuration ``name``, references ``{"file_name", reference_column}``.
    """

    name: str
    title: str
    note: str
    accuracy_label: str
    images: str
    column: Column
    reference_column: str
    top5_label: str | None = None
    split: str = FULL_SPLIT
    official: bool = False
    also = ()

    @property
    def metrics(self) -> tuple[Metric, ...]:
        top5 = self.top5_label
        return (
            Metric(self.key("accuracy"), self.accuracy_label, column=self.column),
            *(() if top5 is None else (Metric(self.key("accuracy_top5"), top5),)),
            Metric(self.key("num_scored"), f"Images with {self.images} (scored)", COUNT),
            Metric(self.key("num_left_out"), f"Images without {self.images} (left out)", COUNT),
        )

    def key(self, generic: str) -> str:
        """The key this set reports a `scoring.score_accepted` key under."""
        return _ACCEPTED_KEYS[generic].format(self.name)

    def accepted(
        self, predictions: ArrayLike, references: SetReferences
    ) -> tuple[np.ndarray, np.ndarray]:
        matrix = prediction_matrix(predictions, len(references))[:, :TOP_K]
        judged = np.zeros(len(references), dtype=bool)
        judged[references.labels.rows] = True
        return references.labels.contains(np.ascontiguousarray(matrix.T)).T, judged

    def score(self, predictions: ArrayLike, references: SetReferences) -> dict[str, Any]:
        if self.top5_label is None:  # the set defines a top-1 only
            predictions = prediction_matrix(predictions, len(references))[:, 0]
        return {self.key(k): v for k, v in score_accepted(predictions, references).items()}

    def take(self, references: SetReferences, rows: np.ndarray) -> SetReferences:
        return references.take(rows)


IMAGENET_M_SIZE = 68

# The registry: every label set, in display order (split `full` first). One entry per set; its
# loading half is `dataset_script/label_sets/<name>.py`.
REGISTRY: tuple[LabelSet, ...] = (
    SingleLabelSet(
        name="original",
        title="Original labels",
        note="Top-1/top-5 vs original label: the devkit's one label per image, plain means over "
        "all validation images that have a prediction.",
        metrics=(
            Metric(
                "top1_accuracy",
                "Top-1 vs original label, all images",
                column=Column("top1_50k", "Top-1 (50k)", "original labels, all 50,000 images"),
            ),
            Metric("top5_accuracy", "Top-5 vs original label, all images"),
        ),
        also=("num_scored",),
    ),
    AcceptedSet(
        name="real",
        title="ReaL",
        note="ReaL (Beyer et al. 2020): top-1 in the image's ReaL set, over the images that "
        "have one; the others are left out.",
        accuracy_label="ReaL accuracy (top-1 in the ReaL set)",
        top5_label="ReaL top-5 accuracy",
        images="a ReaL label",
        column=Column("real", "ReaL", "top-1 in the image's ReaL set"),
        reference_column="real_labels",
    ),
    AcceptedSet(
        name="label_errors",
        title="Label errors",
        note="Label errors (Northcutt et al. 2021): the original label, corrected where at least "
        "3 of 5 MTurk workers agreed on a flagged image ('given' keeps it, 'guessed' replaces "
        "it, 'both' accepts either; 'neither' or no majority leaves the image out).",
        accuracy_label="Top-1 vs original label with label errors corrected",
        images="a corrected label",
        column=Column(
            "label_errors",
            "Label errors",
            "original labels with Northcutt et al.'s MTurk-confirmed label errors corrected",
        ),
        reference_column="corrected_labels",
    ),
    AcceptedSet(
        name="main_object",
        title="Main object",
        note="Main object (Tsipras et al. 2020): top-1 equals the class most annotators named as "
        "the image's main object, over their 6,761 annotated images; the others are left out.",
        accuracy_label="Main-object top-1 (the class most annotators named)",
        images="a main-object label",
        column=Column(
            "main_object", "Main object", "top-1 is the image's main object (Tsipras et al.)"
        ),
        reference_column="main_object_labels",
    ),
    MultiLabelSet(
        name="validation",
        title="Multi-label",
        note="validation: the annotated, non-problematic images; per class = accuracy per "
        "original class, then the mean over the classes covered.",
        metrics=(
            Metric(
                "multilabel_accuracy",
                "Multi-label accuracy, per class",
                column=Column(
                    "multilabel_accuracy",
                    "Multi-label",
                    "top-1 in correct or unclear, per class (the official score)",
                ),
                published=True,
                official_label="Multi-label accuracy (official)",
            ),
            Metric(
                "multilabel_accuracy_strict",
                "Multi-label accuracy, unclear = wrong, per class",
                column=Column("multilabel_accuracy_strict", "Strict", "unclear counted wrong"),
                published=True,
            ),
            Metric(
                "multilabel_accuracy_micro",
                "Multi-label accuracy, per image",
                column=Column("multilabel_accuracy_micro", "Micro", "per image, not per class"),
                published=True,
            ),
            Metric(
                "top1_accuracy_original",
                "Top-1 vs original label, same images, per class",
                column=Column(
                    "top1_annotated",
                    "Top-1 (annotated)",
                    "original labels, per class, on the same images (the plots' x axis)",
                ),
                published=True,
            ),
            Metric("multilabel_accuracy_top5", "Multi-label top-5 accuracy, per class"),
            Metric("top5_accuracy_original", "Top-5 vs original label, same images, per class"),
            # Peychev et al.'s (2023): the mistakes of the automatic taxonomy's minor (and
            # explainable) families counted as right; the toolkit's mistake analysis computes
            # them (dataset_script/taxonomy/categories.py), not this module.
            Metric(
                "multilabel_accuracy_minor_forgiven",
                "Multi-label accuracy, minor mistakes counted right",
                from_analysis=True,
                column=Column(
                    "multilabel_accuracy_minor_forgiven",
                    "Minor as right",
                    "multi-label accuracy counting the mistakes the automatic taxonomy calls "
                    "minor as right (Peychev et al.)",
                ),
            ),
            Metric(
                "multilabel_accuracy_minor_explainable_forgiven",
                "  minor and explainable mistakes counted right",
                from_analysis=True,
                column=Column(
                    "multilabel_accuracy_minor_explainable_forgiven",
                    "Minor + explainable as right",
                    "the same, minor and explainable mistakes counted right",
                ),
            ),
        ),
        also=(
            "num_scored",
            "num_problematic_skipped",
            "num_rejected",
            "num_mistakes",
            "num_outside_label_set",
        ),
    ),
    MultiLabelSet(
        name="imagenet_m",
        title="ImageNet-M",
        note="imagenet_m: the 68 ImageNet-M images, top-1 correct or unclear.",
        metrics=(
            Metric(
                "imagenet_m_correct",
                "ImageNet-M correct",
                OF_TOTAL,
                column=Column("imagenet_m", "ImageNet-M", "ImageNet-M images right, of 68"),
                published=True,
                total="imagenet_m_total",
                most=IMAGENET_M_SIZE,
            ),
        ),
        also=(
            "multilabel_accuracy_micro",
            "num_scored",
            "num_problematic_skipped",
            "num_rejected",
            "num_mistakes",
            "num_outside_label_set",
        ),
        imagenet_m=True,
    ),
)
# Rows that several sets (or the scoring pass itself) report, after every set's own metrics.
COUNTS = (
    Metric("num_scored", "Images scored", COUNT),
    Metric("num_problematic_skipped", "Problematic images skipped", COUNT),
    Metric("num_rejected", "Rejected predictions (wrong + outside the label set)", REJECTED),
    Metric("num_mistakes", "  judged wrong by the labels", COUNT),
    Metric("num_outside_label_set", "  outside the label set (in no label set)", COUNT),
    Metric("num_missing_predictions", "Images without a prediction", COUNT),
)
# The one table of metric names, in display order.
METRICS: tuple[Metric, ...] = (*(m for s in REGISTRY for m in s.metrics), *COUNTS)
METRIC_BY_KEY = {metric.key: metric for metric in METRICS}
# The results document's splits, in its order.
SPLITS = tuple(dict.fromkeys(label_set.split for label_set in REGISTRY))


def by_name(name: str) -> LabelSet:
    """The registered set called ``name`` (KeyError for another name)."""
    return {label_set.name: label_set for label_set in REGISTRY}[name]


def in_split(split: str) -> tuple[LabelSet, ...]:
    """The registered sets whose metrics go to ``split``, in registry order."""
    return tuple(label_set for label_set in REGISTRY if label_set.split == split)


def configurations() -> dict[str, AcceptedSet]:
    """The ``evaluate`` module's configurations besides its default one: each `AcceptedSet`."""
    return {s.name: s for s in REGISTRY if isinstance(s, AcceptedSet)}

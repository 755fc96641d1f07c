"""Every rejected top-1 prediction of any model in the paper's taxonomy, automatically.

Vasudevan et al. (2022) sorted the remaining mistakes of two models by hand; Peychev et al.
(2023) automated that taxonomy. This is the automatic categoriser, for any model: for each
rejected top-1 prediction ``p`` of an image with accepted labels ``L`` (correct ∪ unclear) and
original label ``t``, the rules below run in the order of ``CATEGORY_FAMILIES`` (which also
gives each its family) and the first that holds decides:

1. ``overlapping-classes``: ``p`` and ``t`` are a known overlapping pair (sunglass/sunglasses,
   Siberian husky -> Eskimo dog, the two "crane"s, ...).
2. ``fine-grained``: ``p`` shares a superclass with a label in ``L``.
3. ``fine-grained-oov``: needs the image (an image rule; see ``ImageRule``).
4. ``spurious-correlation``: ``p`` and a label in ``L`` co-occur in at least
   ``label_rules.MIN_CO_OCCURRENCE`` ReaL-labelled images other than this one.
5. ``non-prototypical``: needs the image (an image rule).
6. ``model-failure``: none of the above.

The rules read only the prediction, the labels and the shipped class relations
(``class_relations``), never the experts' review, so a category means the same for every model.
Each mistake gets an evidence sentence with the facts that decided it. An image rule that did
not run is said (``AutoCategories.not_available``): the mistakes it would have judged are counted
under the rules after it that ran. docs/TAXONOMY.md gives the design and its measured agreement
with the experts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import ArrayLike

from ...metric.errors import ToolkitError
from ...metric.references import LabelSets, References
from ...metric.scoring import OUTSIDE_LABEL_SET, WRONG, judge, score
from .label_rules import LABEL_RULES, Mistakes

if TYPE_CHECKING:
    from ..images.source import ImageSource

# The taxonomy's one table: each category, in the order its rule runs (the first that holds
# decides), with its family (Peychev et al.'s: minor, explainable, failure). `CATEGORIES` and
# `FAMILIES` are read from it.
CATEGORY_FAMILIES = {
    "overlapping-classes": "minor",
    "fine-grained": "minor",
    "fine-grained-oov": "minor",
    "spurious-correlation": "explainable",
    "non-prototypical": "explainable",
    "model-failure": "failure",
}
CATEGORIES = tuple(CATEGORY_FAMILIES)
FAMILIES = {
    name: tuple(category for category, of in CATEGORY_FAMILIES.items() if of == name)
    for name in dict.fromkeys(CATEGORY_FAMILIES.values())
}
# The rules that need the image, in the order they run among the others; the rest are
# `LABEL_RULES`, which run everywhere.
IMAGE_RULES = ("fine-grained-oov", "non-prototypical")
RULES_WITHOUT_IMAGES = tuple(category for category in CATEGORIES if category not in IMAGE_RULES)


class CategorizerError(ToolkitError):
    """Bad input to the categoriser: predictions, image rules or a result that do not fit."""


def family(category: str) -> str:
    """The family of a category: ``minor``, ``explainable`` or ``failure``."""
    if category not in CATEGORY_FAMILIES:
        raise CategorizerError(
            f"unknown mistake category {category!r}; expected one of {', '.join(CATEGORIES)}"
        )
    return CATEGORY_FAMILIES[category]


def category_counts(categories: Sequence[str]) -> dict[str, int]:
    """How many of each category (every category listed, zeros included)."""
    counts = dict.fromkeys(CATEGORIES, 0)
    for category in categories:
        family(category)  # refuses an unknown name
        counts[category] += 1
    return counts


def family_counts(categories: Sequence[str]) -> dict[str, int]:
    """How many mistakes of each family (zeros included)."""
    counts = dict.fromkeys(FAMILIES, 0)
    for category, number in category_counts(categories).items():
        counts[CATEGORY_FAMILIES[category]] += number
    return counts


def counted_under(rules_run: Collection[str]) -> dict[str, list[str]]:
    """Each category whose rule is not in ``rules_run`` -> the later rules of ``rules_run``, which
    decide the mistakes it would have judged (first hit wins). ``counted_under(
    RULES_WITHOUT_IMAGES)`` is where the image rules' mistakes go when no images were given."""
    return {
        category: [later for later in CATEGORIES[position + 1 :] if later in rules_run]
        for position, category in enumerate(CATEGORIES)
        if category not in rules_run
    }


@dataclass(frozen=True)
class Candidates:
    """The mistakes that reach an image rule: those no earlier rule decided.

    ``positions`` index the categorised mistakes (``AutoCategories.rows``); ``labels`` holds each
    candidate's accepted labels (correct ∪ unclear), its ``rows`` indexing the candidates.
    """

    positions: np.ndarray
    file_names: np.ndarray
    predictions: np.ndarray
    original_labels: np.ndarray
    labels: LabelSets

    def __len__(self) -> int:
        return len(self.positions)


@dataclass(frozen=True)
class RuleResult:
    """An image rule's answer, aligned with its candidates: which it decides, and why; and which
    it could not look at (no image, or one that does not decode): those go on to the later
    rules, and the result says how many (``AutoCategories.not_judged``)."""

    hits: np.ndarray  # bool
    evidence: Sequence[str]  # a sentence for each hit ("" elsewhere)
    unjudged: np.ndarray | None = None  # bool; None: every candidate was judged


# An image rule: called once, with the candidates that reach it, on the caller's device.
ImageRule = Callable[[Candidates], RuleResult]


@dataclass(frozen=True)
class ImageRules:
    """Image rules bound to a set of images, by category, and what judges them (model,
    thresholds: the results record it)."""

    rules: Mapping[str, ImageRule]
    provenance: Mapping[str, Any]


class ImageRuleMaker(Protocol):
    """What binds the image rules to an image source (``eval_cli.models.ImageCategorizer``, a
    CLIP-like model): the analysis takes one, and asks it once per image source."""

    def image_rules(self, images: ImageSource) -> ImageRules: ...


@dataclass(frozen=True)
class AutoCategories:
    """The automatic category of each rejected top-1 prediction of one set of predictions.

    ``rows`` are the positions of the rejected predictions in the rows categorised (those that
    ``judge`` calls ``wrong`` or ``outside-label-set``); ``codes`` index ``CATEGORIES``;
    ``evidence`` says, per mistake, what decided it; ``rules_run`` names every rule that ran,
    in order (``model-failure``, the rest, always); ``not_judged``: per image rule that ran, the
    mistakes (positions in ``rows``) it reached but could not look at.
    """

    num_rows: int
    rows: np.ndarray
    codes: np.ndarray
    evidence: list[str]
    rules_run: tuple[str, ...]
    not_judged: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def categories(self) -> list[str]:
        return [CATEGORIES[code] for code in self.codes.tolist()]

    @property
    def families(self) -> list[str]:
        return [CATEGORY_FAMILIES[category] for category in self.categories]

    @property
    def not_available(self) -> dict[str, list[str]]:
        """Each category whose rule did not run -> the later rules that ran, under which the
        mistakes it would have judged are counted."""
        return counted_under(self.rules_run)

    def counts(self) -> dict[str, int]:
        return category_counts(self.categories)

    def summary(self) -> dict[str, Any]:
        """Counts per category and family, which rules ran and how many mistakes an image rule
        could not look at: for results documents."""
        return {
            "num_mistakes": len(self),
            "categories": self.counts(),
            "families": family_counts(self.categories),
            "rules_run": list(self.rules_run),
            "not_available": self.not_available,
            "not_judged": {rule: len(positions) for rule, positions in self.not_judged.items()},
        }


def categorize_mistakes(
    predictions: ArrayLike,
    references: References,
    *,
    image_rules: Mapping[str, ImageRule] | None = None,
) -> AutoCategories:
    """Categorise every rejected top-1 prediction of ``predictions`` ((N,) or (N, k) class ids,
    row-aligned with ``references``, as ``metric.scoring.judge`` takes them).

    ``image_rules`` maps ``fine-grained-oov`` and/or ``non-prototypical`` to a rule that looks at
    the images (see ``ImageRule``); each is called once, with the mistakes that reach it. The
    file names of ``references`` identify the images, so that a ReaL co-occurrence never counts
    the judged image itself.
    """
    image_rules = dict(image_rules or {})
    unknown = sorted(set(image_rules) - set(IMAGE_RULES))
    if unknown:
        raise CategorizerError(
            f"image_rules: unknown rule(s) {unknown}; the rules that need images are "
            f"{', '.join(IMAGE_RULES)}"
        )
    top1, rows = _rejected(predictions, references)
    mistakes = Mistakes.of(top1, references, rows)
    codes = np.full(len(rows), -1, dtype=np.int8)
    evidence = [""] * len(rows)
    rules_run = []
    not_judged = {}
    for category in CATEGORIES:
        if category in IMAGE_RULES and category not in image_rules:
            continue
        undecided = codes < 0
        if category in image_rules:
            hits, sentences, not_judged[category] = _image_rule(
                category, image_rules[category], mistakes, undecided
            )
        else:
            hits, sentences = LABEL_RULES[category](mistakes, undecided)
        codes[hits] = CATEGORIES.index(category)
        for position, sentence in zip(np.flatnonzero(hits).tolist(), sentences, strict=True):
            evidence[position] = sentence
        rules_run.append(category)
    unseen: dict[int, list[str]] = {}
    for category, positions in not_judged.items():
        for position in positions.tolist():
            unseen.setdefault(position, []).append(category)
    for position, rules in unseen.items():
        evidence[position] += f" ({' and '.join(rules)} could not look at the image)"
    return AutoCategories(
        num_rows=len(references),
        rows=rows,
        codes=codes,
        evidence=evidence,
        rules_run=tuple(rules_run),
        not_judged=not_judged,
    )


def _rejected(predictions: ArrayLike, references: References) -> tuple[np.ndarray, np.ndarray]:
    """The top-1 class ids and the rows whose top-1 ``judge`` rejects (``judge`` checks the
    predictions' shape, ids and alignment first)."""
    verdicts = judge(predictions, references)
    top1 = np.asarray(predictions)
    if verdicts.ndim == 2:
        verdicts, top1 = verdicts[:, 0], top1[:, 0]
    rows = np.flatnonzero((verdicts == WRONG) | (verdicts == OUTSIDE_LABEL_SET))
    return top1.astype(np.int64), rows


def _image_rule(
    category: str, rule: ImageRule, mistakes: Mistakes, undecided: np.ndarray
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Call an image rule on the undecided mistakes; its answer must fit them. Returns the hits,
    their evidence and the positions of the mistakes it could not look at."""
    positions = np.flatnonzero(undecided)
    reached = mistakes.references.take(positions)
    candidates = Candidates(
        positions=positions,
        file_names=reached.file_names,
        predictions=mistakes.predictions[positions],
        original_labels=reached.original_label,
        labels=LabelSets(
            rows=np.concatenate([reached.correct.rows, reached.unclear.rows]),
            classes=np.concatenate([reached.correct.classes, reached.unclear.classes]),
        ),
    )
    result = rule(candidates)
    hits = np.asarray(result.hits)
    if hits.shape != (len(positions),) or hits.dtype != np.bool_:
        raise CategorizerError(
            f"image rule {category!r}: expected {len(positions)} booleans, one per candidate, "
            f"got an array of shape {hits.shape} and dtype {hits.dtype}"
        )
    if len(result.evidence) != len(positions):
        raise CategorizerError(
            f"image rule {category!r}: expected {len(positions)} evidence strings, one per "
            f"candidate, got {len(result.evidence)}"
        )
    unjudged = np.zeros(len(positions), bool) if result.unjudged is None else result.unjudged
    unjudged = np.asarray(unjudged)
    if unjudged.shape != hits.shape or unjudged.dtype != np.bool_ or (unjudged & hits).any():
        raise CategorizerError(
            f"image rule {category!r}: expected `unjudged` as {len(positions)} booleans, none "
            f"of them a hit; got shape {unjudged.shape}, dtype {unjudged.dtype}"
        )
    decided = np.zeros(len(undecided), dtype=bool)
    decided[positions[hits]] = True
    return decided, [result.evidence[i] for i in np.flatnonzero(hits).tolist()], positions[unjudged]


def lenient_accuracies(
    predictions: ArrayLike,
    references: References,
    categorized: AutoCategories,
    *,
    allow_partial: bool = False,
) -> dict[str, float]:
    """Peychev et al.'s three accuracies, each by the official per-class rule on the same images:
    the multi-label accuracy; counting the minor mistakes as right; counting the minor and the
    explainable ones as right. A mistake counted as right is scored as if its labels accepted
    the prediction. ``categorized`` must come from these predictions and references."""
    top1, rejected = _rejected(predictions, references)
    if categorized.num_rows != len(references) or not np.array_equal(rejected, categorized.rows):
        raise CategorizerError(
            f"the categorised mistakes ({len(categorized)} of {categorized.num_rows} rows) are "
            f"not the rejected predictions of these {len(references)} rows; categorise these "
            "predictions first"
        )
    families = np.array(categorized.families, dtype=object)
    accuracies = {}
    for name, forgiven in (
        ("multilabel_accuracy", []),
        ("multilabel_accuracy_minor_forgiven", ["minor"]),
        ("multilabel_accuracy_minor_explainable_forgiven", ["minor", "explainable"]),
    ):
        rows = categorized.rows[np.isin(families, forgiven)]
        unclear = references.unclear
        accepted = LabelSets(
            rows=np.concatenate([unclear.rows, rows]),
            classes=np.concatenate([unclear.classes, top1[rows]]),
        )
        lenient = dataclasses.replace(references, unclear=accepted)
        accuracies[name] = score(top1, lenient, allow_partial=allow_partial)["multilabel_accuracy"]
    return accuracies

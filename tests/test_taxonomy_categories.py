"""The automatic categoriser: each rule on hand-made mistakes (category and evidence), the rule
order, the image rules' hook, families and counts, and Peychev et al.'s lenient accuracies."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.taxonomy import categories
from imagenet_multilabel.dataset_script.taxonomy.categories import (
    Candidates,
    CategorizerError,
    RuleResult,
    categorize_mistakes,
    lenient_accuracies,
)
from imagenet_multilabel.metric.references import References
from imagenet_multilabel.metric.scoring import PredictionsError

# Classes by index (names for the reader).
TENCH, BITTERN, CHIHUAHUA, CLIFF_DWELLING, HOOK = 0, 133, 151, 500, 600
GOLDEN, LABRADOR, ESKIMO_DOG, MALAMUTE, HUSKY = 207, 208, 248, 249, 250
BOW_TIE, SUIT, WINDSOR_TIE = 457, 834, 906
# tench and bittern share exactly one ReaL-labelled image, this one (co_occurrence.tsv).
TENCH_BITTERN_IMAGE = 10306


def make_references(images: Sequence[dict]) -> References:
    """One row per image: ``original`` and ``correct`` (``unclear``, ``wrong``, ``problematic``
    and the image ``id`` optional; ids default to the row number + 1)."""
    return References.from_columns(
        {
            "file_name": [
                classes.file_name_from_image_id(image.get("id", row + 1))
                for row, image in enumerate(images)
            ],
            "original_label": [image["original"] for image in images],
            "correct_multi_labels": [list(image["correct"]) for image in images],
            "wrong_multi_labels": [list(image.get("wrong", ())) for image in images],
            "unclear_multi_labels": [list(image.get("unclear", ())) for image in images],
            "is_problematic": [image.get("problematic", False) for image in images],
        }
    )


def categorize_one(prediction: int, **image) -> tuple[str, str]:
    result = categorize_mistakes([prediction], make_references([image]))
    assert result.rows.tolist() == [0]
    return result.categories[0], result.evidence[0]


def test_overlapping_classes_come_first_and_say_why():
    # Husky -> Eskimo dog is also fine-grained (both working dogs): the first rule decides.
    assert categorize_one(ESKIMO_DOG, original=HUSKY, correct=[HUSKY]) == (
        "overlapping-classes",
        "overlaps with the original label 250 Siberian husky: every Siberian husky is an "
        "Eskimo dog",
    )
    # A "kind-of" pair holds one way only: not every Eskimo dog is a husky.
    assert categorize_one(HUSKY, original=ESKIMO_DOG, correct=[ESKIMO_DOG]) == (
        "fine-grained",
        "shares the superclass 'working dog' with the correct label 248 Eskimo dog",
    )
    # The two classes named "crane" (bird 134, machine 517) overlap either way.
    assert categorize_one(517, original=134, correct=[134])[0] == "overlapping-classes"
    assert categorize_one(134, original=517, correct=[517])[0] == "overlapping-classes"


def test_fine_grained_names_the_closest_shared_superclass_and_the_label_kind():
    # Chihuahua shares only 'dog' with a Labrador; the golden retriever shares 'retriever'.
    assert categorize_one(LABRADOR, original=CHIHUAHUA, correct=[CHIHUAHUA], unclear=[GOLDEN]) == (
        "fine-grained",
        "shares the superclass 'retriever' with the unclear label 207 golden retriever",
    )
    assert categorize_one(LABRADOR, original=CHIHUAHUA, correct=[CHIHUAHUA]) == (
        "fine-grained",
        "shares the superclass 'dog' with the correct label 151 Chihuahua",
    )


def test_spurious_correlation_counts_other_real_images_after_fine_grained():
    assert categorize_one(WINDSOR_TIE, original=SUIT, correct=[SUIT]) == (
        "spurious-correlation",
        "co-occurs with the correct label 834 suit in 51 other ReaL images",
    )
    # A bow tie in the image makes the Windsor tie a fine-grained mistake instead.
    assert categorize_one(WINDSOR_TIE, original=SUIT, correct=[SUIT, BOW_TIE]) == (
        "fine-grained",
        "shares the superclass 'necktie' with the correct label 457 bow tie",
    )


def test_the_judged_image_is_left_out_of_its_own_co_occurrence():
    elsewhere = categorize_one(BITTERN, original=TENCH, correct=[TENCH], id=1)
    assert elsewhere == (
        "spurious-correlation",
        "co-occurs with the correct label 0 tench in 1 other ReaL image",
    )
    itself = categorize_one(BITTERN, original=TENCH, correct=[TENCH], id=TENCH_BITTERN_IMAGE)
    assert itself == (
        "model-failure",
        "no overlap, shared superclass or ReaL co-occurrence with its labels 0 tench",
    )


def test_model_failure_lists_the_labels_it_could_not_relate():
    many = [TENCH, SUIT, CHIHUAHUA, CLIFF_DWELLING]
    assert categorize_one(HOOK, original=SUIT, correct=many)[1] == (
        "no overlap, shared superclass or ReaL co-occurrence with its labels 0 tench, "
        "151 Chihuahua, 500 cliff dwelling (+1 more)"
    )
    assert categorize_one(HOOK, original=SUIT, correct=[]) == (
        "model-failure",
        "the image has no correct or unclear label to relate it to",
    )


def test_only_rejected_predictions_of_scored_images_are_categorised():
    references = make_references(
        [
            {"original": GOLDEN, "correct": [GOLDEN]},  # right
            {"original": GOLDEN, "correct": [GOLDEN], "unclear": [LABRADOR]},  # unclear: right
            {"original": GOLDEN, "correct": [], "problematic": True},  # not scored
            {"original": GOLDEN, "correct": [GOLDEN], "wrong": [LABRADOR]},  # wrong
            {"original": SUIT, "correct": [SUIT]},  # outside the label set
        ]
    )
    top5 = np.array([[GOLDEN, 1, 2, 3, 4], [LABRADOR, 1, 2, 3, 4], [TENCH, 1, 2, 3, 4]] * 2)[:5]
    top5[3, 0], top5[4, 0] = LABRADOR, WINDSOR_TIE
    result = categorize_mistakes(top5, references)  # top-k: the first column is the top-1
    assert result.rows.tolist() == [3, 4]
    assert result.categories == ["fine-grained", "spurious-correlation"]
    assert result.num_rows == 5 and len(result) == 2


@pytest.mark.parametrize(
    ("predictions", "message"),
    [
        ([[TENCH, HOOK], [TENCH]], "with the same k for every row"),
        ([1.5], "expected integer class ids"),
        ([TENCH, HOOK], "got 2 rows for 1 reference rows"),
        ([1000], "class ids must be in 0..999"),
    ],
)
def test_bad_predictions_are_refused_by_the_scorer_s_rules(predictions, message):
    with pytest.raises(PredictionsError, match=message):
        categorize_mistakes(predictions, make_references([{"original": SUIT, "correct": [SUIT]}]))


def test_without_image_rules_their_categories_are_said_unavailable():
    result = categorize_mistakes([HOOK], make_references([{"original": SUIT, "correct": []}]))
    assert result.rules_run == (
        "overlapping-classes",
        "fine-grained",
        "spurious-correlation",
        "model-failure",
    )
    assert result.not_available == {
        "fine-grained-oov": ["spurious-correlation", "model-failure"],
        "non-prototypical": ["model-failure"],
    }
    summary = result.summary()
    assert summary["categories"]["model-failure"] == 1 and summary["num_mistakes"] == 1
    assert summary["families"] == {"minor": 0, "explainable": 0, "failure": 1}


def test_image_rules_see_only_the_mistakes_that_reach_them():
    images = [
        {"original": HUSKY, "correct": [HUSKY]},  # overlapping
        {"original": GOLDEN, "correct": [GOLDEN]},  # fine-grained
        {"original": SUIT, "correct": [SUIT]},  # OOV rule says yes
        {"original": SUIT, "correct": [SUIT], "unclear": [TENCH]},  # spurious
        {"original": TENCH, "correct": [TENCH]},  # non-prototypical rule says yes
        {"original": TENCH, "correct": [TENCH]},  # model failure
    ]
    predictions = [ESKIMO_DOG, LABRADOR, WINDSOR_TIE, WINDSOR_TIE, HOOK, CLIFF_DWELLING]
    seen: dict[str, Candidates] = {}

    def rule(category: str, hit_position: int, sentence: str):
        def judge(candidates: Candidates) -> RuleResult:
            seen[category] = candidates
            hits = candidates.positions == hit_position
            return RuleResult(hits=hits, evidence=[sentence if h else "" for h in hits])

        return judge

    result = categorize_mistakes(
        predictions,
        make_references(images),
        image_rules={
            "fine-grained-oov": rule("fine-grained-oov", 2, "CLIP preferred 'bolo tie' (OOV)"),
            "non-prototypical": rule("non-prototypical", 4, "an unusual hook"),
        },
    )
    assert result.categories == list(categories.CATEGORIES)  # one mistake each, in rule order
    assert result.evidence[2] == "CLIP preferred 'bolo tie' (OOV)"
    assert result.evidence[4] == "an unusual hook"
    assert result.rules_run == categories.CATEGORIES and result.not_available == {}
    oov = seen["fine-grained-oov"]
    assert oov.positions.tolist() == [2, 3, 4, 5]
    assert oov.file_names.tolist() == [classes.file_name_from_image_id(i) for i in (3, 4, 5, 6)]
    assert oov.predictions.tolist() == [WINDSOR_TIE, WINDSOR_TIE, HOOK, CLIFF_DWELLING]
    assert oov.original_labels.tolist() == [SUIT, SUIT, TENCH, TENCH]
    labels = zip(oov.labels.rows.tolist(), oov.labels.classes.tolist(), strict=True)
    assert sorted(labels) == [
        (0, SUIT),
        (1, TENCH),
        (1, SUIT),
        (2, TENCH),
        (3, TENCH),
    ]
    assert seen["non-prototypical"].positions.tolist() == [4, 5]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"spurious-correlation": lambda c: None}, "unknown rule(s) ['spurious-correlation']"),
        (
            {"non-prototypical": lambda c: RuleResult(np.ones(3, bool), ["", "", ""])},
            "expected 1 booleans, one per candidate, got an array of shape (3,)",
        ),
        (
            {"non-prototypical": lambda c: RuleResult(np.ones(1, bool), [])},
            "expected 1 evidence strings, one per candidate, got 0",
        ),
        (
            {"non-prototypical": lambda c: RuleResult(np.ones(1, bool), ["x"], np.ones(1, bool))},
            "expected `unjudged` as 1 booleans, none of them a hit",
        ),
        (
            {"non-prototypical": lambda c: RuleResult(np.zeros(1, bool), [""], np.ones(2, bool))},
            "expected `unjudged` as 1 booleans",
        ),
    ],
)
def test_image_rules_that_do_not_fit_are_refused(rules, message):
    references = make_references([{"original": TENCH, "correct": [TENCH]}])
    with pytest.raises(CategorizerError) as raised:
        categorize_mistakes([CLIFF_DWELLING], references, image_rules=rules)
    assert message in str(raised.value)


def test_families_and_counts():
    assert [categories.family(c) for c in categories.CATEGORIES] == [
        "minor",
        "minor",
        "minor",
        "explainable",
        "explainable",
        "failure",
    ]
    assert categories.category_counts(["fine-grained", "fine-grained", "model-failure"]) == {
        "overlapping-classes": 0,
        "fine-grained": 2,
        "fine-grained-oov": 0,
        "spurious-correlation": 0,
        "non-prototypical": 0,
        "model-failure": 1,
    }
    assert categories.family_counts(["fine-grained-oov", "non-prototypical"]) == {
        "minor": 1,
        "explainable": 1,
        "failure": 0,
    }
    with pytest.raises(CategorizerError, match="unknown mistake category 'fine grained'"):
        categories.family("fine grained")


def test_lenient_accuracies_forgive_by_family_per_class():
    # Class SUIT: 2 images, one right, one spurious mistake. Class GOLDEN: 3 images, one
    # fine-grained mistake, one model failure, one right. Class TENCH: 1 problematic image.
    images = [
        {"original": SUIT, "correct": [SUIT]},
        {"original": SUIT, "correct": [SUIT]},
        {"original": GOLDEN, "correct": [GOLDEN]},
        {"original": GOLDEN, "correct": [GOLDEN]},
        {"original": GOLDEN, "correct": [GOLDEN]},
        {"original": TENCH, "correct": [], "problematic": True},
    ]
    predictions = [SUIT, WINDSOR_TIE, LABRADOR, HOOK, GOLDEN, CLIFF_DWELLING]
    references = make_references(images)
    result = categorize_mistakes(predictions, references)
    assert result.categories == ["spurious-correlation", "fine-grained", "model-failure"]
    accuracies = lenient_accuracies(predictions, references, result, allow_partial=True)
    assert accuracies == pytest.approx(
        {
            "multilabel_accuracy": (1 / 2 + 1 / 3) / 2,
            "multilabel_accuracy_minor_forgiven": (1 / 2 + 2 / 3) / 2,
            "multilabel_accuracy_minor_explainable_forgiven": (2 / 2 + 2 / 3) / 2,
        }
    )
    other = categorize_mistakes([SUIT, SUIT, GOLDEN, HOOK, GOLDEN, CLIFF_DWELLING], references)
    with pytest.raises(CategorizerError, match="not the rejected predictions of these 6 rows"):
        lenient_accuracies(predictions, references, other, allow_partial=True)

"""The paper's mistake metadata: shipped unchanged, one vocabulary, predictions rebuilt."""

from __future__ import annotations

import hashlib
from collections import Counter
from importlib import resources

import numpy as np
import pytest
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.taxonomy import experts
from imagenet_multilabel.dataset_script.taxonomy.experts import MistakesMetadataError
from imagenet_multilabel.metric.references import References

SHIPPED_SHA256 = {
    "vit3b_mistakes.json": "7c48988d683c60714ee720b9ee8f762b32e5759e2b98a12a5ab23d41b20d4c2a",
    "greedy_soups_mistakes.json": (
        "de1f832b337c2e88fea35cf55a81f7f7db0a2bddc7f0742f2d69a921672d6217"
    ),
    "class_confusion_wnids.json": (
        "c1d26e80c504f44240a225f5f3f2f0d3ccb32bad2f01dbfadc472243215c01c6"
    ),
}


def test_shipped_files_are_the_published_ones_with_their_licence() -> None:
    folder = resources.files("imagenet_multilabel.dataset_script").joinpath(
        "data", experts.DATA_FOLDER
    )
    for name, sha256 in SHIPPED_SHA256.items():
        assert hashlib.sha256(folder.joinpath(name).read_bytes()).hexdigest() == sha256, name
    assert "Apache License" in folder.joinpath("LICENSE").read_text(encoding="utf-8")
    assert experts.SOURCE_COMMIT in folder.joinpath("SOURCE.md").read_text(encoding="utf-8")


def test_vit3b_categories_and_severities_in_one_vocabulary() -> None:
    vit3b = experts.model_mistakes("vit3b")
    assert len(vit3b) == 378
    assert Counter(m.category for m in vit3b.values()) == {
        "fine-grained": 241,
        "fine-grained-oov": 54,
        "spurious-correlation": 52,
        "non-prototypical": 30,
        "fine-grained-multilabel": 1,
    }
    assert Counter(m.severity for m in vit3b.values()) == {
        "major": 154,
        "minor": 150,
        "borderline": 74,
    }
    assert Counter(m.severity_collapsed for m in vit3b.values()) == {"minor": 224, "major": 154}


def test_greedy_soups_two_oov_spellings_become_one_category() -> None:
    soups = experts.model_mistakes("greedy_soups")
    assert len(soups) == 249
    # "Fine-grained error with OOV" (17) and "Fine-grained with OOV" (9)
    assert Counter(m.category for m in soups.values())["fine-grained-oov"] == 26


def test_expert_verdicts_take_vit3b_first() -> None:
    vit3b = experts.model_mistakes("vit3b")
    soups = experts.model_mistakes("greedy_soups")
    shared = {(m.file_name, m.prediction) for m in vit3b.values()} & {
        (m.file_name, m.prediction) for m in soups.values()
    }
    assert shared  # both models made some of the same mistakes
    verdicts = experts.expert_mistakes()
    assert len(verdicts) == len(vit3b) + len(soups) - len(shared)
    assert all(verdicts[key].model == "vit3b" for key in shared)


@pytest.mark.parametrize(
    ("spelling", "category"),
    [
        ("Fine-grained error", "fine-grained"),
        ("Fine-grained error with OOV", "fine-grained-oov"),
        ("Fine-grained with OOV", "fine-grained-oov"),
        ("fine-grained-oov", "fine-grained-oov"),
        ("Fine-grained with Multilabel Options", "fine-grained-multilabel"),
        ("Non-prototypical", "non-prototypical"),
        ("  Spurious  Correlation ", "spurious-correlation"),
    ],
)
def test_category_spellings(spelling: str, category: str) -> None:
    assert experts.normalize_category(spelling, source="test") == category


def test_unknown_spellings_are_errors_naming_the_source_and_vocabulary() -> None:
    with pytest.raises(MistakesMetadataError, match=r"patch\.json.*'Coarse error'.*fine-grained"):
        experts.normalize_category("Coarse error", source="patch.json")
    with pytest.raises(MistakesMetadataError, match=r"x: unknown mistake severity 'Huge'.*minor"):
        experts.normalize_severity("Huge", source="x")
    assert experts.normalize_severity("Borderline", source="x") == "borderline"
    assert experts.collapse_severity("borderline") == "minor"


def test_malformed_mistake_entries_are_listed() -> None:
    good = {
        "top_prediction": 1,
        "failure category": "Non-prototypical",
        "failure severity": "Major",
    }
    data = {
        "ILSVRC2012_val_00000001.JPEG": good,
        "ILSVRC2012_val_00000002.JPEG": {**good, "top_prediction": 1000},
        "ILSVRC2012_val_00000003.JPEG": {**good, "failure severity": "Tiny"},
        "not_a_file.jpg": good,
        "ILSVRC2012_val_00000004.JPEG": {"top_prediction": 3},
    }
    with pytest.raises(MistakesMetadataError) as error:
        experts.parse_mistakes(data, model="m", source="m.json")
    message = str(error.value)
    assert "m.json: 4 unusable mistake entr(y/ies)" in message
    for expected in ("00000002", "1000", "'Tiny'", "not_a_file.jpg", "'failure category'"):
        assert expected in message


def test_confusion_pairs_by_class_index() -> None:
    pairs = experts.confusion_pairs()
    assert len(pairs) == 481
    assert all(0 <= a < b < classes.NUM_CLASSES for a, b in pairs)
    matrix = experts.confusion_matrix()
    assert matrix.sum() == 2 * 481 and (matrix == matrix.T).all()
    # the file's first pair: vending machine / washer, by wnid
    vending, washer = classes.WNID_TO_INDEX["n04525305"], classes.WNID_TO_INDEX["n04554684"]
    assert matrix[vending, washer] and matrix[washer, vending]


def _references(file_names: list[str], correct: list[list[int]], **extra: list) -> References:
    count = len(file_names)
    return References.from_columns(
        {
            "file_name": file_names,
            "original_label": extra.get("original_label", [7] * count),
            "correct_multi_labels": correct,
            "wrong_multi_labels": [[]] * count,
            "unclear_multi_labels": extra.get("unclear", [[]] * count),
            "is_problematic": extra.get("is_problematic", [False] * count),
        }
    )


def test_paper_model_predictions_rebuilt_from_the_mistake_file() -> None:
    vit3b = experts.model_mistakes("vit3b")
    mistaken = sorted(vit3b)[:2]
    others = ["ILSVRC2012_val_00000001.JPEG", "ILSVRC2012_val_00000002.JPEG"]
    others = [name for name in others if name not in vit3b] + ["ILSVRC2012_val_00000003.JPEG"]
    references = _references(
        [*mistaken, *others],
        [[5, 6], [5], [9, 2], [], []],
        unclear=[[], [], [], [4], []],
        is_problematic=[False, False, False, False, True],
        original_label=[1, 2, 3, 4, 8],
    )
    predictions = experts.paper_model_predictions("vit3b", references)
    expected = [vit3b[mistaken[0]].prediction, vit3b[mistaken[1]].prediction, 9, 4, 8]
    np.testing.assert_array_equal(predictions, expected)


def test_paper_model_predictions_need_a_right_answer_for_each_scored_image() -> None:
    references = _references(["ILSVRC2012_val_00000001.JPEG"], [[]])
    with pytest.raises(MistakesMetadataError, match="ILSVRC2012_val_00000001.JPEG"):
        experts.paper_model_predictions("greedy_soups", references)
    with pytest.raises(MistakesMetadataError, match="unknown paper model 'vit'"):
        experts.model_mistakes("vit")

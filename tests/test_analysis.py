"""Mistake analysis: one source per rejected prediction, the paper's table, the command's loop."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from annotation_fixtures import write_annotation_file
from imagenet_multilabel.dataset_script import classes, mistakes
from imagenet_multilabel.dataset_script.annotations import load_annotations
from imagenet_multilabel.eval_cli import analysis
from imagenet_multilabel.metric.scoring import References
from mistake_fixtures import paper_mistake_annotations

# The paper's own spellings, read straight from its files (not through dataset_script.mistakes).
PAPER_CATEGORIES = {
    "Fine-grained error": "fine-grained",
    "Fine-grained error with OOV": "fine-grained-oov",
    "Fine-grained with OOV": "fine-grained-oov",
    "Fine-grained with Multilabel Options": "fine-grained-multilabel",
    "Non-prototypical": "non-prototypical",
    "Spurious Correlation": "spurious-correlation",
}


def _paper_counts(model: str) -> Counter:
    raw = resources.files("imagenet_multilabel.dataset_script").joinpath(
        "data", mistakes.DATA_FOLDER, mistakes.MODEL_FILES[model]
    )
    entries = json.loads(raw.read_text(encoding="utf-8")).values()
    return Counter(
        (PAPER_CATEGORIES[e["failure category"]], e["failure severity"].lower()) for e in entries
    )


def _validation_and_imagenet_m(path: Path, cache: Path) -> tuple[References, list[str]]:
    annotations = load_annotations(path, allow_unverified=True, cache_dir=cache)
    validation = References.from_columns(annotations.split_columns("validation"))
    return validation, annotations.split_columns("imagenet_m")["file_name"]


@pytest.mark.parametrize("model", ["vit3b", "greedy_soups"])
def test_a_paper_models_own_predictions_give_its_expert_mistakes(
    tmp_path: Path, model: str
) -> None:
    write_annotation_file(tmp_path / "annotations.json", paper_mistake_annotations(model))
    validation, imagenet_m = _validation_and_imagenet_m(tmp_path / "annotations.json", tmp_path)
    predictions = mistakes.paper_model_predictions(model, validation)
    result = analysis.analyze_split(
        "validation", predictions, validation, imagenet_m_file_names=set(imagenet_m)
    )
    expected = len(mistakes.model_mistakes(model))
    assert result.summary["by_source"] == {
        "expert": expected,
        "unreviewed": 0,
        "confusion-pair": 0,
        "uncategorized": 0,
    }
    table = result.summary["expert_category_severity"]
    counted = Counter(
        {(category, severity): n for category, row in table.items() for severity, n in row.items()}
    )
    if model == "vit3b":  # Greedy Soups' shared mistakes take ViT-3B's verdict
        assert +counted == _paper_counts("vit3b")
        assert sum(counted.values()) == 378
        assert result.summary["expert_severity_collapsed"] == {"minor": 224, "major": 154}


def _references() -> tuple[References, mistakes.ExpertMistake, list[int]]:
    """Seven images, one per case; returns them, the expert mistake and the top-1 predictions.

    0: the expert mistake; 1: unreviewed; 2: wrong, {prediction, original} a confused pair;
    3: unreviewed although a confused pair (the order of sources decides); 4: wrong, nothing
    known; 5: unclear, accepted; 6: problematic.
    """
    vit3b = mistakes.model_mistakes("vit3b")
    expert = vit3b[sorted(vit3b)[0]]
    pair, other_pair = mistakes.confusion_pairs()[:2]
    assert not mistakes.confusion_matrix()[9, 5] and expert.prediction != 1
    names = [expert.file_name] + [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, 7)]
    references = References.from_columns(
        {
            "file_name": names,
            "original_label": [1, 2, pair[0], other_pair[0], 5, 6, 7],
            "correct_multi_labels": [[1], [2], [pair[0]], [other_pair[0]], [5], [6], [7]],
            "wrong_multi_labels": [[expert.prediction], [], [pair[1]], [], [9], [], []],
            "unclear_multi_labels": [[], [], [], [], [], [8], []],
            "is_problematic": [False] * 6 + [True],
        }
    )
    return references, expert, [expert.prediction, 3, pair[1], other_pair[1], 9, 8, 11]


def test_each_rejected_prediction_gets_exactly_one_source() -> None:
    references, expert, top1 = _references()
    ranked = np.array([[p, 0, 1, 2, 3] for p in top1])
    probs = np.tile([0.5, 0.2, 0.1, 0.1, 0.1], (7, 1))
    names = references.file_names.tolist()
    result = analysis.analyze_split(
        "validation",
        ranked,
        references,
        imagenet_m_file_names={names[1], names[5]},
        top5_probs=probs,
    )
    by_name = {record["file_name"]: record for record in result.records}
    assert list(by_name) == names[:5]  # accepted (unclear) and problematic images are no mistake
    assert [by_name[n]["source"] for n in names[:5]] == [
        "expert",
        "unreviewed",
        "confusion-pair",
        "unreviewed",
        "uncategorized",
    ]
    first = by_name[names[0]]
    assert (first["category"], first["severity"]) == (expert.category, expert.severity)
    assert first["severity_collapsed"] == mistakes.collapse_severity(expert.severity)
    assert by_name[names[2]]["category"] == "fine-grained"
    assert by_name[names[2]]["severity"] == "" == by_name[names[2]]["severity_collapsed"]
    assert by_name[names[1]]["in_imagenet_m"] and not by_name[names[2]]["in_imagenet_m"]
    second = by_name[names[1]]
    assert second["prediction_name"] == classes.CLASS_NAMES[3]
    assert second["top5"] == [3, 0, 1, 2, 3] and second["top5_probs"] == [0.5, 0.2, 0.1, 0.1, 0.1]
    assert (second["correct"], second["correct_names"]) == ([2], [classes.CLASS_NAMES[2]])
    summary = result.summary
    assert summary["num_rejected"] == 5
    assert summary["by_source"] == {
        "expert": 1,
        "unreviewed": 2,
        "confusion-pair": 1,
        "uncategorized": 1,
    }
    assert summary["imagenet_m"] == {"solved": [names[5]], "missed": [names[1]]}


def test_a_confused_pair_with_any_correct_label_counts() -> None:
    first, second = mistakes.confusion_pairs()[0]
    unconfused = np.flatnonzero(~mistakes.confusion_matrix()[second])
    original, other = (int(c) for c in unconfused[unconfused != first][:2])
    references = References.from_columns(
        {
            "file_name": ["ILSVRC2012_val_00000001.JPEG", "ILSVRC2012_val_00000002.JPEG"],
            "original_label": [original, other],
            "correct_multi_labels": [[original, first], [other]],
            "wrong_multi_labels": [[second], [second]],
            "unclear_multi_labels": [[], []],
            "is_problematic": [False, False],
        }
    )
    result = analysis.analyze_split(
        "validation", [second, second], references, imagenet_m_file_names=()
    )
    assert [r["source"] for r in result.records] == ["confusion-pair", "uncategorized"]
    assert "top5" not in result.records[0] and "top5_probs" not in result.records[0]
    assert result.summary["most_frequent_confusions"][0]["prediction"] == second


def test_summary_table_has_the_papers_shape() -> None:
    references, expert, top1 = _references()
    result = analysis.analyze_split("validation", top1, references, imagenet_m_file_names=())
    table = analysis.summary_table(result.summary)
    lines = table.splitlines()
    assert lines[0].startswith("Rejected top-1 predictions (validation): 5 = 1 expert")
    assert lines[1].split() == ["Expert", "category", "minor", "borderline", "major", "total"]
    assert any(line.split()[:1] == [expert.category] for line in lines)
    assert lines[8].split()[0] == "total" and lines[8].split()[-1] == "1"

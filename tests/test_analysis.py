"""Mistake analysis: one source per rejected prediction, the paper's table, the command's loop."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from annotation_fixtures import write_annotation_file
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.annotations.download import sha256_of_file
from imagenet_multilabel.dataset_script.annotations.published import load_annotations
from imagenet_multilabel.dataset_script.labels import patches
from imagenet_multilabel.dataset_script.taxonomy import categories, experts
from imagenet_multilabel.dataset_script.taxonomy.agreement import EXPERT_CATEGORY
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.eval_cli.scores import mistakes, results
from imagenet_multilabel.eval_cli.scores.predictions import read_predictions
from imagenet_multilabel.metric.references import References
from imagenet_multilabel.metric.scoring import score
from mistake_fixtures import NUM_OUTSIDE_LABEL_SET, paper_mistake_annotations, write_loop_inputs

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
        "data", experts.DATA_FOLDER, experts.MODEL_FILES[model]
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
    predictions = experts.paper_model_predictions(model, validation)
    result = mistakes.analyze_split(
        "validation", predictions, validation, imagenet_m_file_names=set(imagenet_m)
    )
    expected = len(experts.model_mistakes(model))
    assert result.summary["by_source"] == {
        "expert": expected,
        "outside-label-set": 0,
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


def _references(
    expert_class_labelled: bool = True,
) -> tuple[References, experts.ExpertMistake, list[int]]:
    """Seven images, one per case; returns them, the expert mistake and the top-1 predictions.

    0: the expert mistake; 1: outside the label set; 2: wrong, {prediction, original} a confused
    pair; 3: outside the label set although a confused pair (the order of sources decides); 4:
    wrong, nothing known; 5: unclear, accepted; 6: problematic. Without ``expert_class_labelled``
    the expert's mistake is in no label set of its image (as 28 of Greedy Soups' are in the
    published labels).
    """
    vit3b = experts.model_mistakes("vit3b")
    expert = vit3b[sorted(vit3b)[0]]
    pair, other_pair = experts.confusion_pairs()[:2]
    assert not experts.confusion_matrix()[9, 5] and expert.prediction != 1
    names = [expert.file_name] + [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, 7)]
    references = References.from_columns(
        {
            "file_name": names,
            "original_label": [1, 2, pair[0], other_pair[0], 5, 6, 7],
            "correct_multi_labels": [[1], [2], [pair[0]], [other_pair[0]], [5], [6], [7]],
            "wrong_multi_labels": [
                [expert.prediction] if expert_class_labelled else [],
                *([], [pair[1]], [], [9], [], []),
            ],
            "unclear_multi_labels": [[], [], [], [], [], [8], []],
            "is_problematic": [False] * 6 + [True],
        }
    )
    return references, expert, [expert.prediction, 3, pair[1], other_pair[1], 9, 8, 11]


def test_each_rejected_prediction_gets_exactly_one_source() -> None:
    references, expert, top1 = _references()
    ranked = np.array([[p, 0, 1, 2, 3] for p in top1])
    probs = np.tile([0.5, 0.2, 0.1, 0.1, 0.1], (len(top1), 1))
    probs[5:] = [0.9, 0.05, 0.03, 0.01, 0.01]  # the accepted and the problematic image's
    names = references.file_names.tolist()
    result = mistakes.analyze_split(
        "validation",
        ranked,
        references,
        imagenet_m_file_names={names[1], names[5]},
        top5_probs=probs,
    )
    by_name = {record["file_name"]: record for record in result.records()}
    assert list(by_name) == names[:5]  # accepted (unclear) and problematic images are no mistake
    assert [by_name[n]["source"] for n in names[:5]] == [
        "expert",
        "outside-label-set",
        "confusion-pair",
        "outside-label-set",
        "uncategorized",
    ]
    first = by_name[names[0]]
    assert (first["category"], first["severity"]) == (expert.category, expert.severity)
    assert first["severity_collapsed"] == experts.collapse_severity(expert.severity)
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
        "outside-label-set": 2,
        "confusion-pair": 1,
        "uncategorized": 1,
    }
    assert summary["imagenet_m"] == {"solved": [names[5]], "missed": [names[1]]}


def test_an_expert_reviewed_prediction_outside_the_label_set_counts_under_both_names() -> None:
    """Greedy Soups' case: the experts reviewed a mistake that no label set holds. Its source is
    expert, it is outside the label set, and the mistakes block says so, so that its count of
    predictions outside the label set is the metrics' one."""
    references, expert, top1 = _references(expert_class_labelled=False)
    result = mistakes.analyze_split("validation", top1, references, imagenet_m_file_names=())
    first = result.records()[0]
    assert (first["source"], first["outside_label_set"]) == ("expert", True)
    summary = result.summary
    metrics = score(top1, references, allow_partial=True)
    assert summary["num_outside_label_set"] == metrics["num_outside_label_set"] == 3
    assert summary["num_outside_label_set_expert_reviewed"] == 1
    assert summary["by_source"]["outside-label-set"] == 2
    report = "\n".join(results.mistakes_report(summary))
    assert "Outside the label set: 3 (in none of the image's label sets); 1 of them" in report


def test_a_confused_pair_with_any_correct_label_counts() -> None:
    first, second = experts.confusion_pairs()[0]
    unconfused = np.flatnonzero(~experts.confusion_matrix()[second])
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
    result = mistakes.analyze_split(
        "validation", [second, second], references, imagenet_m_file_names=()
    )
    assert [r["source"] for r in result.records()] == ["confusion-pair", "uncategorized"]
    assert "top5" not in result.records()[0] and "top5_probs" not in result.records()[0]
    assert result.summary["most_frequent_confusions"][0]["prediction"] == second


def test_summary_table_has_the_papers_shape() -> None:
    references, expert, top1 = _references()
    result = mistakes.analyze_split("validation", top1, references, imagenet_m_file_names=())
    lines = "\n".join(results.mistakes_report(result.summary)).splitlines()
    assert lines[:3] == [
        "Rejected top-1 predictions (validation) by source:",
        "  1 expert (reviewed by the paper's experts); not reviewed by the paper's experts: "
        "2 outside-label-set, 1 confusion-pair, 1 uncategorized",
        "Outside the label set: 2 (in none of the image's label sets); 0 of them reviewed by "
        "the paper's experts (source expert), 2 not (source outside-label-set).",
    ]
    assert (
        lines[3]
        == "Automatic categories (docs/TAXONOMY.md) of all 5 rejected predictions (validation):"
    )
    assert lines[4].split() == ["Category", "mistakes", "family"]
    assert [line.split()[0] for line in lines[6:12]] == list(categories.CATEGORIES)
    assert lines[12].startswith("Families: ")
    assert lines[13:15] == [
        "Not available: fine-grained-oov (needs the images: --images with --categorizer-model); "
        "its mistakes are counted under spurious-correlation or model-failure.",
        "Not available: non-prototypical (needs the images: --images with --categorizer-model); "
        "its mistakes are counted under model-failure.",
    ]
    assert lines[15].startswith(
        "Agreement with the paper's experts on the 1 of these mistakes they reviewed: family kappa "
    )
    table = lines[16:]
    assert table[0].split() == ["Expert", "category", "minor", "borderline", "major", "total"]
    assert any(line.split()[:1] == [expert.category] for line in table)
    assert table[7].split()[0] == "total" and table[7].split()[-1] == "1"


@pytest.fixture(scope="module")
def loop_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return write_loop_inputs(tmp_path_factory.mktemp("loop"))


def _label_args(inputs: dict[str, Any], *extra: str) -> list[str]:
    return ["--annotations", str(inputs["annotations"]), "--allow-unverified-annotations", *extra]


def _page_data(page: Path) -> dict[str, Any]:
    html = page.read_text(encoding="utf-8")
    return json.loads(html.split('id="review-data">')[1].split("</script>")[0])


def test_analyze_a_predictions_file(loop_inputs: dict[str, Any], capsys) -> None:
    predictions = loop_inputs["predictions"]
    assert main(["analyze", "--predictions", str(predictions), *_label_args(loop_inputs)]) == 0
    output = predictions.parent / "analysis"
    document = json.loads((output / "results.json").read_text())
    block = document["mistakes"]
    assert block["split"] == "validation"
    assert block["by_source"] == {
        "expert": 378,
        "outside-label-set": NUM_OUTSIDE_LABEL_SET,
        "confusion-pair": 0,
        "uncategorized": 0,
    }
    assert block["num_rejected"] == document["metrics"]["validation"]["num_rejected"]
    records = [json.loads(line) for line in (output / "mistakes.jsonl").read_text().splitlines()]
    assert len(records) == block["num_rejected"]
    assert all(r["top5_probs"] == [0.6, 0.2, 0.1, 0.05, 0.05] for r in records)
    outside = [(r["file_name"], r["prediction"]) for r in records if r["outside_label_set"]]
    assert sorted(outside) == sorted(loop_inputs["outside_label_set"])
    assert all(r["source"] == "outside-label-set" for r in records if r["outside_label_set"])
    # Every rejected prediction has an automatic category; the experts' stays in its own field.
    auto = block["auto_categories"]
    assert auto["num_mistakes"] == len(records) == sum(auto["categories"].values())
    assert all(r["auto_category"] in categories.CATEGORIES and r["auto_evidence"] for r in records)
    assert Counter(r["auto_category"] for r in records) == {
        category: count for category, count in auto["categories"].items() if count
    }
    assert all(r["auto_family"] == categories.family(r["auto_category"]) for r in records)
    expert_records = [r for r in records if r["source"] == "expert"]
    assert Counter(r["category"] for r in expert_records) == Counter(
        m.category for m in experts.model_mistakes("vit3b").values()
    )
    assert {r["auto_category"] for r in expert_records} != {r["category"] for r in expert_records}
    assert auto["not_available"] and auto["image_rules"] is None
    # The agreement with the experts, recomputed from the records' two fields.
    agreement = auto["agreement_with_experts"]
    assert agreement["num_reviewed"] == len(expert_records) == 378
    family_matrix = Counter(
        (categories.family(EXPERT_CATEGORY[r["category"]]), r["auto_family"])
        for r in expert_records
    )
    assert {
        (e, a): n
        for e, row in agreement["family"]["confusion"].items()
        for a, n in row.items()
        if n
    } == family_matrix
    assert agreement["held_out"]["num_reviewed"] == 0  # ViT-3B's: the rules' tuning set
    metrics = document["metrics"]["validation"]
    assert (
        metrics["multilabel_accuracy"]
        <= metrics["multilabel_accuracy_minor_forgiven"]
        <= metrics["multilabel_accuracy_minor_explainable_forgiven"]
    )
    page = _page_data(output / "review" / "index.html")
    assert page["title"] == "Mistakes of predictions.jsonl"
    assert page["base"] == loop_inputs["sha256"] and len(page["records"]) == len(records)
    out = capsys.readouterr().out
    assert "Expert category" in out and "378 expert" in out
    assert f"(docs/TAXONOMY.md) of all {len(records)} rejected predictions" in out
    assert "Multi-label accuracy, minor mistakes counted right" in out
    kappa = agreement["family"]["kappa"]
    assert (
        f"Agreement with the paper's experts on the 378 of these mistakes they reviewed: "
        f"family kappa {kappa:.3f}" in out
    )
    assert "Held out" not in out
    assert "378 of them are ViT-3B's, the rules' tuning set." in out
    assert f"Review page: {(output / 'review' / 'index.html').resolve().as_uri()}" in out


def test_analyze_a_run_dir(loop_inputs: dict[str, Any], tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(loop_inputs["predictions"], run_dir / "predictions.jsonl")
    args = [
        "analyze",
        "--run-dir",
        str(run_dir),
        *_label_args(loop_inputs, "--split", "imagenet_m"),
    ]
    assert main(args) == 0  # a run without results yet (still going, or killed)
    page = _page_data(run_dir / "analysis" / "review" / "index.html")
    assert page["title"] == "Mistakes of run"
    local_model = str(tmp_path / "models" / "my-net")
    for model_id, title in [("org/net", "org/net"), (local_model, "my-net")]:
        (run_dir / "results.json").write_text(json.dumps({"model": {"id": model_id}}))
        assert main(args) == 0
        page = _page_data(run_dir / "analysis" / "review" / "index.html")
        assert page["title"] == f"Mistakes of {title}"  # a Hub id, or a local model's folder name
    document = json.loads((run_dir / "analysis" / "results.json").read_text())
    assert list(document["metrics"]) == ["imagenet_m"]
    assert document["mistakes"]["split"] == "imagenet_m"
    assert all(record["in_imagenet_m"] for record in page["records"])
    (run_dir / "results.json").write_text("{not json")
    assert main(args) == 2


def _write_patch(path: Path, base: str, decisions: list[tuple[str, int, str]]) -> Path:
    """A patch as the review page's "Download label patch" saves it."""
    document = {
        "format": "imagenet-multilabel-label-patch",
        "format_version": 1,
        "base": base,
        "created": "2026-01-31T12:00:00Z",
        "reviewer": "test",
        "decisions": [
            {"file_name": name, "class_id": class_id, "verdict": verdict}
            for name, class_id, verdict in decisions
        ],
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_patch_changes_the_score_through_score_analyze_and_build(
    loop_inputs: dict[str, Any], tmp_path: Path, capsys
) -> None:
    predictions = str(loop_inputs["predictions"])

    def score(*extra: str) -> dict[str, Any]:
        output = tmp_path / f"results-{len(list(tmp_path.glob('results-*')))}.json"
        labels = [] if "--labels" in extra else _label_args(loop_inputs)
        args = ["score", "--predictions", predictions, *labels, *extra, "--output", str(output)]
        assert main(args) == 0
        return json.loads(output.read_text())

    before = score()
    name, class_id = loop_inputs["outside_label_set"][0]
    patch = _write_patch(
        tmp_path / "patch.json", loop_inputs["sha256"], [(name, class_id, "correct")]
    )
    capsys.readouterr()
    after = score("--label-patch", str(patch), str(patch))
    assert "PATCHED labels: version unverified+patch." in capsys.readouterr().out
    old, new = before["metrics"]["validation"], after["metrics"]["validation"]
    assert (
        new["num_outside_label_set"]
        == old["num_outside_label_set"] - 1
        == NUM_OUTSIDE_LABEL_SET - 1
    )
    assert new["multilabel_accuracy_micro"] == pytest.approx(
        old["multilabel_accuracy_micro"] + 1 / old["num_scored"]
    )
    assert after["mistakes"]["by_source"]["outside-label-set"] == NUM_OUTSIDE_LABEL_SET - 1
    labels = after["labels"]
    assert labels["patched"] is True and labels["verified"] is False
    assert labels["version"] == patches.patched_version("unverified", [patches.read_patch(patch)])
    assert [p["num_decisions"] for p in labels["patches"]] == [1]

    built = tmp_path / "built"
    build = [
        "build",
        "--output",
        str(built),
        *_label_args(loop_inputs),
        "--label-patch",
        str(patch),
    ]
    assert main(build) == 0
    from_build = score("--labels", str(built))
    assert from_build["metrics"]["validation"] == new
    assert from_build["labels"]["version"] == labels["version"]
    assert from_build["labels"]["patches"] == labels["patches"]

    other = _write_patch(tmp_path / "other.json", "cd" * 32, [(name, class_id, "correct")])
    args = ["score", "--predictions", predictions, *_label_args(loop_inputs)]
    assert main([*args, "--label-patch", str(other)]) == 2
    assert "other.json' applies to the annotation file with sha256 cdcd" in capsys.readouterr().err


def test_top5_probabilities_and_sha256_come_from_the_one_read(tmp_path: Path) -> None:
    unknown = [
        [0.5, 0.2],  # not five: unknown, not an error
        [True, 0, 0, 0, 0],  # a bool is no probability
        ["0.5", 0, 0, 0, 0],  # nor a string
        [10**400, 0, 0, 0, 0],  # an int no float holds
        [float("inf"), 0, 0, 0, 0],
        "0.5 0.2 0.1 0.1 0.1",
    ]
    lines = [
        {"file_name": f"ILSVRC2012_val_{row:08d}.JPEG", "top5": [1, 2, 3, 4, 5]}
        for row in range(1, 10)
    ]
    lines[0]["top5_probs"] = [0.5, 0.2, 0.1, 0.1, 0.1]
    lines[2]["top5_probs"] = [1, 0, 0, 0, 0]
    for line, probs in zip(lines[3:], unknown, strict=True):
        line["top5_probs"] = probs
    path = tmp_path / "p.jsonl"
    path.write_text("\n\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    predictions = read_predictions(path)
    assert predictions.sha256 == sha256_of_file(path)
    probs = predictions.top5_probs_of(np.array([2, 1, 0]))
    np.testing.assert_array_equal(probs[0], [1, 0, 0, 0, 0])
    assert np.isnan(probs[1]).all()  # no probabilities
    np.testing.assert_array_equal(probs[2], [0.5, 0.2, 0.1, 0.1, 0.1])
    assert np.isnan(predictions.top5_probs[3:]).all()
    assert predictions.top5_probs_of(np.array([1, 3, 4])) is None  # none of those rows known
    csv = tmp_path / "p.csv"
    csv.write_text("file_name,prediction\nILSVRC2012_val_00000001.JPEG,3\n", encoding="utf-8")
    from_csv = read_predictions(csv)
    assert from_csv.top5_probs is None and from_csv.sha256 == sha256_of_file(csv)

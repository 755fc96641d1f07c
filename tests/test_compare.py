"""`compare`: several models on one set of labels, against hand-computed and the paper's counts."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from annotation_fixtures import synthetic_annotations, write_annotation_file
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.labels.loading import Labels, load_labels
from imagenet_multilabel.dataset_script.taxonomy import experts
from imagenet_multilabel.dataset_script.taxonomy.categories import categorize_mistakes
from imagenet_multilabel.eval_cli.curation.compare import CompareError, compare_models, summary
from imagenet_multilabel.eval_cli.frame import OutputOverwritesInputError
from imagenet_multilabel.metric.errors import ToolkitError
from imagenet_multilabel.metric.references import References

NAMES = [classes.file_name_from_image_id(image_id) for image_id in range(1, 8)]
PROVENANCE = {"source": "synthetic", "sha256": "a" * 64, "version": "test", "verified": False}


def _tiny_labels() -> Labels:
    """Seven images (the fifth problematic), each its own original class; image 2 is ImageNet-M."""
    correct = [[1], [3], [5], [8], [9], [10], [14]]
    columns = {
        "file_name": NAMES,
        "original_label": [labels[0] for labels in correct],
        "correct_multi_labels": correct,
        "wrong_multi_labels": [[2], [4], [6], [], [], [11], []],
        "unclear_multi_labels": [[], [], [7], [], [], [], []],
        "is_problematic": [False, False, False, False, True, False, False],
    }
    validation = References.from_columns(columns)
    return Labels({"validation": validation, "imagenet_m": validation.take([1])}, PROVENANCE)


# Top-1 per image; W: in the wrong set, O: outside the label set, ok: correct or unclear.
TINY_TOP1 = {
    "A": [1, 4, 20, 8, 0, 12, 15],  # ok W O ok - O O: accuracy 2/6
    "B": [2, 4, 20, 30, 9, 10, 14],  # W W O O - ok ok: 2/6
    "C": [1, 3, 7, 30, 0, 13, 14],  # ok ok ok O - O ok: 4/6
}
A_PROBABILITY = {5: 0.5, 6: 0.9, 2: 0.7}  # row -> A's top-1 probability
B_PROBABILITY = 0.4


def _write_jsonl(path: Path, top1: list[int], probabilities: list[float] | None = None) -> Path:
    lines = []
    for row, (name, prediction) in enumerate(zip(NAMES, top1, strict=True)):
        record: dict[str, Any] = {
            "file_name": name,
            "prediction": prediction,
            "top5": [prediction, *[(prediction + k) % 1000 for k in range(1, 5)]],
        }
        if probabilities is not None:
            record["top5_probs"] = [probabilities[row], 0.05, 0.03, 0.02, 0.01]
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _tiny_inputs(root: Path) -> list[Path]:
    a = _write_jsonl(
        root / "A.jsonl", TINY_TOP1["A"], [A_PROBABILITY.get(r, 0.3) for r in range(7)]
    )
    b = _write_jsonl(root / "B.jsonl", TINY_TOP1["B"], [B_PROBABILITY] * 7)
    c = root / "C.csv"  # no probabilities
    c.write_text(
        "file_name,prediction\n"
        + "".join(f"{n},{p}\n" for n, p in zip(NAMES, TINY_TOP1["C"], strict=True)),
        encoding="utf-8",
    )
    return [a, b, c]


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[list[Path], Path, dict[str, Any]]:
    inputs = _tiny_inputs(tmp_path)
    output = tmp_path / "out"
    document = compare_models(inputs, output_dir=output, labels=_tiny_labels(), min_models=2)
    return inputs, output, document


def test_models_accuracy_and_counts(tiny) -> None:
    _, _, document = tiny
    by_name = {summary["name"]: summary for summary in document["models"]}
    assert list(by_name) == ["A", "B", "C"]
    assert by_name["A"]["multilabel_accuracy"] == pytest.approx(2 / 6)
    assert by_name["C"]["multilabel_accuracy"] == pytest.approx(4 / 6)
    assert [by_name[n]["num_outside_label_set"] for n in "ABC"] == [3, 2, 2]
    assert [by_name[n]["num_wrong"] for n in "ABC"] == [1, 2, 0]
    assert by_name["A"]["num_scored"] == 6  # the problematic image is not scored
    assert by_name["B"]["identity"]["kind"] == "predictions"


def test_queue_order_and_records(tiny) -> None:
    _, output, document = tiny
    queue = [json.loads(line) for line in (output / "queue.jsonl").read_text().splitlines()]
    assert [(item["file_name"], item["class_id"], item["models"]) for item in queue] == [
        (NAMES[5], 13, ["C"]),  # one model, the most accurate
        (NAMES[6], 15, ["A"]),  # one model, A's more confident one first
        (NAMES[5], 12, ["A"]),
        (NAMES[3], 30, ["B", "C"]),  # several models: best accuracy among them (C's)
        (NAMES[2], 20, ["A", "B"]),
    ]
    assert [item["rank"] for item in queue] == [1, 2, 3, 4, 5]
    assert [item["probabilities"] for item in queue] == [
        [None],  # a CSV has no probabilities
        [0.9],
        [0.5],
        [B_PROBABILITY, None],
        [0.7, B_PROBABILITY],
    ]
    assert queue[0]["class_name"] == classes.CLASS_NAMES[13]
    assert document["queue"] == {
        "file": "queue.jsonl",
        "num_items": 5,
        "num_predicted_by_one_model": 3,
    }


def test_what_each_model_solves_of_the_others_mistakes_per_automatic_category(tiny) -> None:
    """Seven distinct mistakes (image, class) in the pool; per model, the others' mistakes on
    images it was scored on and how many it gets right, counted by hand; each pair's category
    is the categoriser's for that image and class alone."""
    _, output, document = tiny
    auto = document["solved_auto"]
    pairs = [(0, 2), (1, 4), (2, 20), (3, 30), (5, 12), (5, 13), (6, 15)]
    assert auto["num_pairs"] == auto["num_mistakes"] == len(pairs)
    expected = categorize_mistakes(
        [c for _, c in pairs], _tiny_labels().split("validation").take([r for r, _ in pairs])
    )
    assert auto["categories"] == expected.counts()
    totals = {
        model: {
            measure: sum(cell[measure] for cell in by_category.values())
            for measure in ("mistakes", "others_mistakes", "solved")
        }
        for model, by_category in auto["by_model"].items()
    }
    assert totals == {
        "A": {"mistakes": 4, "others_mistakes": 5, "solved": 2},
        "B": {"mistakes": 4, "others_mistakes": 6, "solved": 3},
        "C": {"mistakes": 2, "others_mistakes": 6, "solved": 4},
    }
    category_of = dict(zip(pairs, expected.categories, strict=True))
    c_mistakes = Counter(category_of[pair] for pair in [(3, 30), (5, 13)])
    assert {
        c: cell["mistakes"] for c, cell in auto["by_model"]["C"].items() if cell["mistakes"]
    } == (dict(c_mistakes))
    queue = [json.loads(line) for line in (output / "queue.jsonl").read_text().splitlines()]
    for item in queue:
        pair = (NAMES.index(item["file_name"]), item["class_id"])
        assert item["auto_category"] == category_of[pair] and item["auto_evidence"]
    markdown = (output / "compare.md").read_text()
    assert (
        "## What each model solves of the other models' mistakes, per automatic category"
        in markdown
    )
    rows = list(csv.DictReader((output / "compare.csv").open()))
    solved_rows = [r for r in rows if r["section"] == "solved_auto" and r["model"] == "C"]
    assert sum(int(r["value"]) for r in solved_rows if r["measure"] == "solved") == 4


def test_shared_and_unique_mistakes(tiny) -> None:
    _, output, document = tiny
    pairs = {tuple(pair["models"]): pair for pair in document["pairs"]}
    expected = {  # common, same wrong class, only first, only second (hand-counted above)
        ("A", "B"): (2, 2, 2, 2),
        ("A", "C"): (1, 0, 3, 1),
        ("B", "C"): (1, 1, 3, 1),
    }
    for key, counts in expected.items():
        pair = pairs[key]
        got = (pair["common"], pair["same_wrong_class"], pair["only_first"], pair["only_second"])
        assert got == counts, key
        assert pair["images_compared"] == 6
    with open(output / "compare.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    only = {
        (row["model"], row["other_model"]): int(row["value"])
        for row in rows
        if row["section"] == "pairs" and row["measure"] == "only_model"
    }
    assert only[("C", "A")] == 1 and only[("A", "C")] == 3
    markdown = (output / "compare.md").read_text(encoding="utf-8")
    assert "| A |  | 2 | 1 |" in markdown  # the row of A in the mistakes-in-common matrix


@pytest.mark.parametrize(
    ("min_models", "expected"),
    [(1, [(NAMES[1], 2), (NAMES[0], 1)]), (2, [(NAMES[1], 2)]), (None, [])],
)
def test_major_mistake_candidates_by_label_set(
    tmp_path: Path, min_models: int | None, expected: list[tuple[str, int]]
) -> None:
    document = compare_models(
        _tiny_inputs(tmp_path),
        output_dir=tmp_path / "o",
        labels=_tiny_labels(),
        min_models=min_models,
    )
    candidates = document["major_candidates"]
    assert [(i["file_name"], i["num_models"]) for i in candidates["images"]] == expected
    for image in candidates["images"]:
        assert image["in_imagenet_m"] is (image["file_name"] == NAMES[1])
        assert {m["major_by"] for m in image["models"]} == {"label-set"}
    assert candidates["imagenet_m"] == {"total": 1, "among_candidates": int(bool(expected))}


def test_outputs_and_plot_written(tiny) -> None:
    _, output, document = tiny
    for name in ("compare.json", "compare.md", "compare.csv", "queue.jsonl"):
        assert (output / name).is_file(), name
    assert (output / "solved_vs_top1.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (output / "solved_vs_top1.svg").read_bytes()[:400]
    assert json.loads((output / "compare.json").read_text()) == json.loads(json.dumps(document))


# ---------------------------------------------------------------------------------------------
# Bad input


def _run_folder(root: Path, name: str, top1: list[int], **labels: Any) -> Path:
    folder = root / name
    folder.mkdir()
    _write_jsonl(folder / "predictions.jsonl", top1)
    document = {"metrics": {}, "model": {"id": f"org/{name}", "revision": None}}
    document["labels"] = {**PROVENANCE, **labels}
    (folder / "results.json").write_text(json.dumps(document), encoding="utf-8")
    return folder


def test_run_folders_are_named_by_model(tmp_path: Path) -> None:
    runs = [_run_folder(tmp_path, n, TINY_TOP1[n]) for n in "AB"]
    document = compare_models(runs, output_dir=tmp_path / "o", labels=_tiny_labels())
    assert [s["name"] for s in document["models"]] == ["org/A", "org/B"]
    assert document["models"][0]["identity"] == {"kind": "run", "model": "org/A", "revision": None}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (lambda root, files: files[:1], r"^inputs: expected two or more run folders or pre"),
        (lambda root, files: [files[0], root / "nope.jsonl"], r"nope\.jsonl' does not exist"),
        (lambda root, files: [files[0], files[0]], "identical predictions"),
        (
            lambda root, files: [root / "A.jsonl", root / "twin" / "A.jsonl"],
            "identical predictions",
        ),
        (lambda root, files: [files[0], root], "inputs/predictions.jsonl '.*' does not exist"),
        (
            lambda root, files: [
                _run_folder(root, "A", TINY_TOP1["A"]),
                _run_folder(root, "B", TINY_TOP1["B"], version="test+patch.1234abcd"),
            ],
            "scored on different labels.*org/A.*org/B",
        ),
        (
            lambda root, files: [
                _run_folder(root, "A", TINY_TOP1["A"], sha256="b" * 64, version="other"),
                _run_folder(root, "B", TINY_TOP1["B"], sha256="b" * 64, version="other"),
            ],
            "annotation file with sha256 b+, but compare loaded a+",
        ),
    ],
)
def test_bad_inputs_are_refused(tmp_path: Path, inputs, message: str) -> None:
    files = _tiny_inputs(tmp_path)
    (tmp_path / "twin").mkdir()
    (tmp_path / "twin" / "A.jsonl").write_bytes(files[0].read_bytes())
    with pytest.raises(ToolkitError, match=message):  # the frame's or compare's
        compare_models(inputs(tmp_path, files), output_dir=tmp_path / "o", labels=_tiny_labels())
    assert not (tmp_path / "o").exists()


def test_same_run_twice_and_bad_min_models(tmp_path: Path) -> None:
    run = _run_folder(tmp_path, "A", TINY_TOP1["A"])
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("predictions.jsonl", "results.json"):
        (copy / name).write_bytes((run / name).read_bytes())
    with pytest.raises(CompareError, match="identical predictions"):
        compare_models([run, copy], output_dir=tmp_path / "o", labels=_tiny_labels())
    _write_jsonl(copy / "predictions.jsonl", TINY_TOP1["B"])  # other predictions, same model
    with pytest.raises(CompareError, match="the same model and revision"):
        compare_models([run, copy], output_dir=tmp_path / "o", labels=_tiny_labels())
    files = _tiny_inputs(tmp_path)
    with pytest.raises(CompareError, match="^min_models 4 is not between 1 and the 3"):
        compare_models(files, output_dir=tmp_path / "o", labels=_tiny_labels(), min_models=4)


def test_output_dir_that_is_an_input_is_refused(tmp_path: Path) -> None:
    runs = [_run_folder(tmp_path, n, TINY_TOP1[n]) for n in "AB"]
    before = sorted(p.name for p in runs[0].iterdir())
    with pytest.raises(OutputOverwritesInputError, match="^output_dir .* it reads"):
        compare_models(runs, output_dir=runs[0], labels=_tiny_labels())
    assert sorted(p.name for p in runs[0].iterdir()) == before


# ---------------------------------------------------------------------------------------------
# The paper's two models, rebuilt from its files


def _paper_annotations(outside: set[str]) -> dict[str, Any]:
    """The synthetic set plus every image of both mistake files: the original label correct, each
    paper model's prediction wrong, except Greedy Soups' on the ``outside`` images (in no set)."""
    data = synthetic_annotations(images_per_class=2)
    originals = classes.validation_labels()
    vit3b, soups = experts.model_mistakes("vit3b"), experts.model_mistakes("greedy_soups")
    for name in set(vit3b) | set(soups):
        predicted = {model[name].prediction for model in (vit3b, soups) if name in model}
        original = int(originals[classes.image_id_from_file_name(name) - 1])
        correct = next(c for c in [original, *range(1000)] if c not in predicted)
        wrong = predicted - ({soups[name].prediction} if name in outside else set())
        entry = {"correct": [classes.WNIDS[correct]]}
        if wrong:
            entry["wrong"] = [classes.WNIDS[c] for c in sorted(wrong)]
        data["initial_annots"][name] = entry
        data["problematic_images"].pop(name, None)
    return data


NUM_SOUPS_OUTSIDE = 28


@pytest.fixture(scope="module")
def paper(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("paper")
    vit3b, soups = experts.model_mistakes("vit3b"), experts.model_mistakes("greedy_soups")
    outside = set(sorted(name for name in soups if name not in vit3b)[:NUM_SOUPS_OUTSIDE])
    annotations = root / "annotations.json"
    write_annotation_file(annotations, _paper_annotations(outside))
    labels = load_labels(annotations=annotations, allow_unverified=True)
    validation = labels.split("validation")
    for model in ("vit3b", "greedy_soups"):
        top1 = experts.paper_model_predictions(model, validation)
        _write_paper_predictions(root / f"{model}.jsonl", validation, top1)
    document = compare_models(
        [root / "vit3b.jsonl", root / "greedy_soups.jsonl"], output_dir=root / "out", labels=labels
    )
    return {"document": document, "outside": outside, "output": root / "out"}


def _write_paper_predictions(path: Path, references: References, top1: np.ndarray) -> None:
    lines = [
        json.dumps(
            {
                "file_name": name,
                "prediction": p,
                "top5_probs": [0.5, 0.2, 0.1, 0.1, 0.1],
                "top5": [p, *[(p + k) % 1000 for k in range(1, 5)]],
            }
        )
        for name, p in zip(references.file_names.tolist(), top1.tolist(), strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _by_cell(reviewed: list[experts.ExpertMistake]) -> Counter:
    return Counter((m.category, m.severity) for m in reviewed)


def test_paper_what_each_model_solves_of_the_others_mistakes(paper) -> None:
    vit3b, soups = experts.model_mistakes("vit3b"), experts.model_mistakes("greedy_soups")
    solved = paper["document"]["solved"]
    for own, other, other_name in ((vit3b, soups, "greedy_soups"), (soups, vit3b, "vit3b")):
        paper_set = "vit3b" if own is vit3b else "greedy_soups"
        report = solved[paper_set]
        assert report["num_reviewed"] == report["num_in_labels"] == len(own)
        counts = report["by_model"][other_name]
        right = [m for name, m in own.items() if name not in other]  # the other model's right
        same = [
            m for name, m in own.items() if name in other and other[name].prediction == m.prediction
        ]
        assert (counts["scored"], counts["solved"], counts["same_mistake"]) == (
            len(own),
            len(right),
            len(same),
        )
        expected = _by_cell(right)
        for category, severities in counts["by_category_severity"].items():
            for severity, cell in severities.items():
                assert cell["solved"] == expected[category, severity], (category, severity)
        itself = report["by_model"][paper_set]
        assert (itself["solved"], itself["same_mistake"]) == (0, len(own))
    assert solved["vit3b"]["by_model"]["greedy_soups"]["solved"] == 378 - 164
    assert solved["greedy_soups"]["by_model"]["vit3b"]["solved"] == 249 - 164


def test_paper_agreement_with_the_experts_over_the_distinct_mistakes(paper) -> None:
    """The pool holds every reviewed (image, class) once: ViT-3B's 378 and Greedy Soups' 106
    others, which are the held-out part."""
    agreement = paper["document"]["solved_auto"]["agreement_with_experts"]
    assert (agreement["num_reviewed"], agreement["held_out"]["num_reviewed"]) == (378 + 106, 106)
    assert sum(map(sum, (r.values() for r in agreement["family"]["confusion"].values()))) == 484
    printed = summary(paper["document"])
    assert (
        "Agreement with the paper's experts on the 484 of these mistakes they reviewed" in printed
    )
    assert "Held out (the 106 reviewed for Greedy Soups only" in printed


def test_paper_queue_is_greedy_soups_predictions_outside_the_label_set(paper) -> None:
    queue = [
        json.loads(line) for line in (paper["output"] / "queue.jsonl").read_text().splitlines()
    ]
    soups = experts.model_mistakes("greedy_soups")
    assert len(queue) == NUM_SOUPS_OUTSIDE
    assert {(item["file_name"], item["class_id"]) for item in queue} == {
        (name, soups[name].prediction) for name in paper["outside"]
    }
    assert all(
        item["models"] == ["greedy_soups"] and item["probabilities"] == [0.5] for item in queue
    )
    models = {summary["name"]: summary for summary in paper["document"]["models"]}
    assert models["greedy_soups"]["num_outside_label_set"] == NUM_SOUPS_OUTSIDE
    assert models["vit3b"]["num_outside_label_set"] == 0


def test_paper_shared_mistakes_and_major_candidates(paper) -> None:
    vit3b, soups = experts.model_mistakes("vit3b"), experts.model_mistakes("greedy_soups")
    (pair,) = paper["document"]["pairs"]
    both = [name for name in vit3b if name in soups]
    same = [name for name in both if vit3b[name].prediction == soups[name].prediction]
    assert (pair["common"], pair["same_wrong_class"]) == (len(both), len(same)) == (164, 143)
    assert (pair["only_first"], pair["only_second"]) == (378 - 164, 249 - 164)
    verdicts = experts.expert_mistakes()
    major_by_both = sorted(
        name
        for name in both
        if vit3b[name].severity_collapsed == "major"
        and verdicts[name, soups[name].prediction].severity_collapsed == "major"
    )
    candidates = paper["document"]["major_candidates"]
    assert sorted(image["file_name"] for image in candidates["images"]) == major_by_both
    assert len(major_by_both) == 48
    assert all(
        model["major_by"] == "expert" for image in candidates["images"] for model in image["models"]
    )


def test_labels_that_claim_verified_beside_another_sha256_are_flagged(tmp_path: Path) -> None:
    """Official is recomputed from the recorded sha256 (issue 19, problem 11), in compare's
    printout as in the leaderboard: ``verified: true`` alone proves nothing."""
    tiny = _tiny_labels()
    claims = Labels(tiny.splits, {**PROVENANCE, "verified": True, "version": "3.0.0"})
    document = compare_models(_tiny_inputs(tmp_path), output_dir=tmp_path / "out", labels=claims)
    assert (
        f"UNVERIFIED labels: annotation file sha256 {'a' * 64} is not the published one (although "
        "it records them as verified)"
    ) in summary(document)

"""Label sets as one registered kind: the template every registered set passes (it loads, judges
hand-made cases, yields its metrics, appears in results, the summary, the leaderboard, the model
card and compare), the registry's one table of metric names, and the two sets that prove it:
label errors (Northcutt et al. 2021) and main object (Tsipras et al. 2020).

A new label set fails `test_every_registered_set_has_a_hand_made_case` until ``CASES`` has one
for it (docs/EXTENDING.md, "Add a label set")."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from imagenet_multilabel.dataset_script import classes, escape
from imagenet_multilabel.dataset_script import label_sets as loading
from imagenet_multilabel.dataset_script.annotations.published import PUBLISHED_SHA256
from imagenet_multilabel.dataset_script.label_sets import (
    LabelSetError,
    data_file,
    label_errors,
    load_label_set,
    load_label_sets,
    loading_module,
    validation_images,
)
from imagenet_multilabel.dataset_script.labels.loading import load_labels
from imagenet_multilabel.eval_cli.curation.compare import compare_models
from imagenet_multilabel.eval_cli.leaderboard.board import write_leaderboard
from imagenet_multilabel.eval_cli.scores import hub, model_card, results
from imagenet_multilabel.eval_cli.scores.score import score_predictions
from imagenet_multilabel.metric import label_sets
from imagenet_multilabel.metric.label_sets import (
    METRIC_BY_KEY,
    METRICS,
    PCT,
    REGISTRY,
    AcceptedSet,
    LabelSet,
    MultiLabelSet,
)
from imagenet_multilabel.metric.references import LabelSets, References, SetReferences

NAMES = [classes.file_name_from_image_id(i) for i in range(1, 7)]
Case = tuple[Any, list[list[int]], list[list[bool]], list[bool]]


def _multilabel_case(imagenet_m: bool) -> Case:
    """Correct and unclear accepted, wrong and outside rejected, problematic not judged."""
    references = References.from_columns(
        {
            "file_name": NAMES[:4],
            "original_label": [0, 0, 1, 1],
            "correct_multi_labels": [[0], [0, 5], [1], []],
            "wrong_multi_labels": [[1], [], [2], []],
            "unclear_multi_labels": [[], [7], [], []],
            "is_problematic": [False, False, False, True],
        }
    )
    top5 = [[1, 0, 2, 3, 4], [7, 5, 0, 1, 2], [9, 2, 1, 3, 4], [1, 0, 2, 3, 4]]
    accepted = [
        [False, True, False, False, False],  # wrong first, correct second
        [True, True, True, False, False],  # unclear, correct, correct
        [False, False, True, False, False],  # outside, wrong, correct
        [False] * 5,  # problematic: never accepted
    ]
    return references, top5, accepted, [True, True, True, False]


def _original_case() -> Case:
    top5 = [[3, 1, 2, 4, 5], [1, 7, 2, 3, 4], [0, 1, 2, 3, 4]]
    accepted = [[True] + [False] * 4, [False, True, False, False, False], [False] * 5]
    return np.array([3, 7, 7]), top5, accepted, [True, True, True]


def _real_case() -> Case:
    references = SetReferences.from_columns(NAMES[:3], [[3, 4], [], [9]])
    top5 = [[4, 3, 0, 1, 2], [1, 2, 3, 4, 5], [0, 9, 1, 2, 3]]
    accepted = [[True, True, False, False, False], [False] * 5, [False, True] + [False] * 3]
    return references, top5, accepted, [True, False, True]


# Hand-made votes, one image per rule: (given, guessed, both, neither) of five workers.
VOTES = {
    "unflagged": None,
    "given 3 of 5": (3, 2, 0, 0),
    "guessed 4 of 5": (0, 4, 1, 0),
    "both 3 of 5": (1, 0, 3, 1),
    "neither 3 of 5": (0, 1, 1, 3),
    "no option with 3": (2, 2, 1, 0),
}
ORIGINAL = np.array([10, 20, 30, 40, 50, 60])
GUESSED = np.array([21, 31, 41, 51, 61])


def _label_errors_case() -> Case:
    """Each rule on one image: unflagged keeps its label; given keeps it (the guessed one is
    wrong); guessed replaces it; both accepts either; neither and no majority leave it out."""
    votes = np.array([votes for votes in VOTES.values() if votes is not None])
    rows, accepted_classes = label_errors.corrected(ORIGINAL, np.arange(1, 6), GUESSED, votes)
    references = SetReferences(np.array(NAMES, dtype=object), LabelSets(rows, accepted_classes))
    top5 = [
        [10, 11, 12, 13, 14],  # unflagged: the original label
        [21, 20, 1, 2, 3],  # given: the guessed class is wrong, the original right
        [30, 31, 1, 2, 3],  # guessed: the original class is wrong now, the guessed right
        [41, 40, 1, 2, 3],  # both: either is right
        [50, 51, 1, 2, 3],  # neither: not judged
        [60, 61, 1, 2, 3],  # no majority: not judged
    ]
    accepted = [
        [True] + [False] * 4,
        [False, True, False, False, False],
        [False, True, False, False, False],
        [True, True, False, False, False],
        [False] * 5,
        [False] * 5,
    ]
    return references, top5, accepted, [True, True, True, True, False, False]


def _main_object_case() -> Case:
    """The top-1 is right when it is the annotators' main object; unannotated images are out."""
    references = SetReferences(
        np.array(NAMES[:3], dtype=object), LabelSets(np.array([0, 2]), np.array([5, 7]))
    )
    top5 = [[5, 1, 2, 3, 4], [5, 1, 2, 3, 4], [1, 7, 2, 3, 4]]
    accepted = [[True] + [False] * 4, [False] * 5, [False, True, False, False, False]]
    return references, top5, accepted, [True, False, True]


# One hand-made case per registered set: (references, top-5 predictions, expected accepted per
# rank, expected judged per image).
CASES: dict[str, Callable[[], Case]] = {
    "original": _original_case,
    "real": _real_case,
    "label_errors": _label_errors_case,
    "main_object": _main_object_case,
    "validation": lambda: _multilabel_case(imagenet_m=False),
    "imagenet_m": lambda: _multilabel_case(imagenet_m=True),
}
SETS = pytest.mark.parametrize("label_set", REGISTRY, ids=lambda label_set: label_set.name)


# ---------------------------------------------------------------------------------------------
# The registry


def test_every_registered_set_has_a_hand_made_case():
    assert sorted(CASES) == sorted(label_set.name for label_set in REGISTRY)


def test_one_table_of_metric_names():
    keys = [metric.key for metric in METRICS]
    assert len(keys) == len(set(keys)), "a metric key declared twice"
    assert len({label_set.name for label_set in REGISTRY}) == len(REGISTRY)
    columns = [metric.column.name for metric in METRICS if metric.column is not None]
    assert len(columns) == len(set(columns))
    for label_set in REGISTRY:
        assert set(label_set.also) <= set(METRIC_BY_KEY), label_set.name
        assert label_set.official or not any(m.published for m in label_set.metrics)
    assert label_sets.SPLITS == ("full", "validation", "imagenet_m")


def test_the_old_tables_are_views_of_the_registry():
    """What the leaderboard reads, the model-index claims and the summary shows."""
    from imagenet_multilabel.eval_cli.leaderboard import entries, table

    column_names = [name for name, _ in table.COLUMNS]
    shown = [metric.column.name for metric in METRICS if metric.column is not None]
    assert column_names[3 : 3 + len(shown)] == shown
    assert hub.MODEL_INDEX_METRICS == {
        "full": (),
        "validation": (
            "multilabel_accuracy",
            "multilabel_accuracy_strict",
            "multilabel_accuracy_micro",
            "top1_accuracy_original",
        ),
        "imagenet_m": ("imagenet_m_correct",),
    }
    assert set(entries.READ_METRICS) == set(label_sets.SPLITS)
    assert "label_errors_accuracy" in entries.READ_METRICS["full"]


# ---------------------------------------------------------------------------------------------
# The template: every registered set


@pytest.fixture(scope="module")
def labels(annotation_file):
    return load_labels(annotations=annotation_file[0], allow_unverified=True)


@SETS
def test_it_loads_with_provenance_and_licence(label_set: LabelSet, labels):
    loaded = load_label_set(label_set.name, labels=labels)
    assert loaded.label_set is label_set
    assert callable(loading_module(label_set).load)
    assert len(loaded.file_names) == len(loaded.references)
    same_split = load_label_sets((label_set.split,), labels)
    for other in same_split.values():  # the sets of one split judge the same images
        assert other.file_names.tolist() == loaded.file_names.tolist()
    if isinstance(label_set, MultiLabelSet):  # provenance: the multi-label labels' own
        assert loaded.provenance is None
        return
    provenance = loaded.provenance
    assert provenance["verified"] is True and len(provenance["sha256"]) == 64
    assert provenance["licence"] and provenance["published"]
    folder = Path(provenance["source"]).parent
    if folder.name == label_set.name:  # shipped in data/<name>/ with its licence and source
        assert (folder / "LICENSE").is_file() and (folder / "SOURCE.md").is_file()
        assert provenance["sha256"] in (folder / "SOURCE.md").read_text()


@SETS
def test_it_judges_hand_made_cases(label_set: LabelSet):
    references, top5, accepted, judged = CASES[label_set.name]()
    got_accepted, got_judged = label_set.accepted(top5, references)
    assert got_accepted.tolist() == accepted
    assert got_judged.tolist() == judged


@SETS
def test_it_yields_its_metrics(label_set: LabelSet):
    references, top5, accepted, judged = CASES[label_set.name]()
    metrics = label_set.score(top5, references)
    declared = {metric.key for metric in label_set.metrics if not metric.from_analysis}
    assert declared | set(label_set.also) <= set(metrics)
    top1 = label_set.score([row[0] for row in top5], references)
    assert {key for key in top1 if "top5" in key} == set()
    # Its plain top-1 accuracy over the images it judges is one of its percentages.
    hits = [row[0] for row, judges in zip(accepted, judged, strict=True) if judges]
    percentages = [
        value
        for key, value in metrics.items()
        if key in METRIC_BY_KEY and METRIC_BY_KEY[key].style == PCT
    ]
    assert pytest.approx(sum(hits) / len(hits)) in percentages


def _predictions(path: Path, seed: int) -> Path:
    """Top-5 for every validation image: the devkit label first for two images in three."""
    rng = np.random.default_rng(seed)
    original = classes.validation_labels().astype(np.int64)
    top5 = (original[:, None] + rng.integers(1, 999, 1) + np.arange(5)) % 1000
    keep = np.arange(original.size) % 3 != seed
    top5[keep, 0] = original[keep]
    lines = (
        json.dumps({"file_name": name, "top5": row})
        for name, row in zip(classes.validation_file_names(), top5.tolist(), strict=True)
    )
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def scored(labels, tmp_path_factory) -> dict[str, Any]:
    """`score --split full` of one predictions file, its leaderboard and model card."""
    folder = tmp_path_factory.mktemp("label_sets")
    predictions = _predictions(folder / "predictions.jsonl", seed=0)
    document = score_predictions(predictions, split="full", labels=labels)
    (folder / "results.json").write_text(json.dumps(document))
    write_leaderboard([folder / "results.json"], folder / "board", labels=labels)
    with (folder / "board" / "leaderboard.csv").open() as file:
        row = next(csv.DictReader(file))  # the result; then the paper reference rows
    return {
        "predictions": predictions,
        "document": document,
        "report": results.report(document),
        "card": model_card.model_card_section(document),
        "board_md": (folder / "board" / "leaderboard.md").read_text(),
        "board_row": row,
    }


@SETS
def test_it_appears_in_results_the_summary_leaderboard_and_card(label_set: LabelSet, scored):
    document = scored["document"]
    metrics = document["metrics"][label_set.split]
    for metric in label_set.metrics:
        assert metric.key in metrics, metric.key
        assert metric.label in scored["report"]
        assert escape.markdown_text(metric.label) in scored["card"]
        if metric.column is not None:
            assert f" {metric.column.header} |" in scored["board_md"]
            assert scored["board_row"][metric.column.name] == results.column_cell(metrics, metric)
    assert label_set.note in " ".join(scored["report"].split())
    if not isinstance(label_set, MultiLabelSet):
        assert document["labels"][label_set.name]["verified"] is True


def test_every_set_with_a_column_appears_in_compare(scored, labels, tmp_path):
    other = _predictions(tmp_path / "other.jsonl", seed=1)
    document = compare_models(
        [scored["predictions"], other], output_dir=tmp_path / "compare", labels=labels
    )
    markdown = (tmp_path / "compare" / "compare.md").read_text()
    measures = {
        row["measure"] for row in csv.DictReader((tmp_path / "compare" / "compare.csv").open())
    }
    for split, metric in results.COLUMN_METRICS:
        if metric.from_analysis:  # compare shows the pooled automatic categories instead
            assert metric.key not in measures
            assert f" {metric.column.header} |" not in markdown
            continue
        assert f" {metric.column.header} |" in markdown, metric.key
        assert metric.key in measures
        for summary in document["models"]:
            assert metric.key in summary["label_sets"][split]
    first = document["models"][0]["label_sets"]
    assert first["full"] == {
        key: scored["document"]["metrics"]["full"][key] for key in first["full"]
    }


def test_compare_leaves_out_a_split_a_model_did_not_predict_whole(labels, tmp_path):
    lines = _predictions(tmp_path / "all.jsonl", seed=2).read_text().splitlines()
    annotated = set(labels.split("validation").file_names.tolist())
    part = tmp_path / "annotated.jsonl"
    kept = [line for line in lines if json.loads(line)["file_name"] in annotated]
    part.write_text("\n".join(kept) + "\n")
    document = compare_models(
        [part, tmp_path / "all.jsonl"], output_dir=tmp_path / "compare", labels=labels
    )
    assert set(document["models"][0]["label_sets"]) == {"validation", "imagenet_m"}
    assert set(document["models"][1]["label_sets"]) == set(label_sets.SPLITS)


# ---------------------------------------------------------------------------------------------
# Label errors (Northcutt et al. 2021)


@pytest.mark.parametrize(
    ("votes", "outcome"),
    [
        ((5, 0, 0, 0), "given"),
        ((3, 2, 0, 0), "given"),
        ((2, 3, 0, 0), "guessed"),
        ((0, 0, 5, 0), "both"),
        ((1, 0, 3, 1), "both"),
        ((1, 1, 0, 3), "neither"),
        ((2, 2, 1, 0), "no majority"),
        ((2, 1, 2, 0), "no majority"),
        ((1, 1, 1, 2), "no majority"),
    ],
)
def test_an_option_with_3_of_5_votes_decides(votes, outcome):
    (got,) = label_errors.outcomes(np.array([votes]))
    assert label_errors.OUTCOMES[got] == outcome


def test_corrected_labels_follow_each_rule():
    votes = np.array([votes for votes in VOTES.values() if votes is not None])
    rows, accepted = label_errors.corrected(ORIGINAL, np.arange(1, 6), GUESSED, votes)
    by_row = {row: sorted(accepted[rows == row].tolist()) for row in range(len(ORIGINAL))}
    assert by_row == {
        0: [10],  # unflagged: its original label
        1: [20],  # given: the original label kept
        2: [31],  # guessed: replaced by the guessed one
        3: [40, 41],  # both: either
        4: [],  # neither: left out
        5: [],  # no majority: left out
    }


def test_the_shipped_votes_give_the_published_counts():
    loaded = load_label_set("label_errors")
    judged = np.unique(loaded.references.labels.rows)
    assert judged.size == 49_109
    table = np.loadtxt(
        data_file("label_errors", "imagenet_mturk.csv"),
        delimiter=",",
        skiprows=1,
        dtype=np.int64,
    )
    counts = np.bincount(label_errors.outcomes(table[:, 3:]), minlength=5)
    assert dict(zip(label_errors.OUTCOMES, counts.tolist(), strict=True)) == {
        "given": 2_524,
        "guessed": 1_428,
        "both": 597,
        "neither": 293,
        "no majority": 598,
    }
    # Image 2 (both: 5 votes) accepts its original 970 and the guessed 795.
    sets = loaded.reference_rows([classes.file_name_from_image_id(2)])
    assert sorted(sets[0]["corrected_labels"]) == [795, 970]


def test_scored_exactly_as_defined_on_the_shipped_votes(scored):
    """The corrected top-1 of the shipped labels, recomputed here row by row from the votes."""
    table = np.loadtxt(
        data_file("label_errors", "imagenet_mturk.csv"),
        delimiter=",",
        skiprows=1,
        dtype=np.int64,
    )
    accepted = {i: {int(label)} for i, label in enumerate(classes.validation_labels())}
    for image_id, given, guessed, *votes in table.tolist():
        winner = [
            option for option, count in zip(label_errors.OPTIONS, votes, strict=True) if count >= 3
        ]
        accepted[image_id - 1] = {
            "given": {given},
            "guessed": {guessed},
            "both": {given, guessed},
        }.get(winner[0] if winner else "", set())
    top1 = [json.loads(line)["top5"][0] for line in scored["predictions"].read_text().splitlines()]
    judged = [row for row in range(len(top1)) if accepted[row]]
    expected = sum(top1[row] in accepted[row] for row in judged) / len(judged)
    full = scored["document"]["metrics"]["full"]
    assert full["label_errors_accuracy"] == pytest.approx(expected)
    assert (full["num_label_errors_scored"], full["num_label_errors_left_out"]) == (49_109, 891)


# ---------------------------------------------------------------------------------------------
# Main object (Tsipras et al. 2020)


def test_main_object_covers_its_annotated_images(scored):
    loaded = load_label_set("main_object")
    rows = loaded.references.labels.rows
    assert rows.size == np.unique(rows).size == 6_761
    # Published fact of their file: the main object is the ImageNet label for 4,652 images.
    same = loaded.references.labels.classes == classes.validation_labels()[rows]
    assert int(same.sum()) == 4_652
    full = scored["document"]["metrics"]["full"]
    top1 = [json.loads(line)["top5"][0] for line in scored["predictions"].read_text().splitlines()]
    hits = sum(
        top1[row] == label
        for row, label in zip(rows, loaded.references.labels.classes, strict=True)
    )
    assert full["main_object_accuracy"] == pytest.approx(hits / 6_761)
    assert (full["num_main_object_scored"], full["num_main_object_left_out"]) == (6_761, 43_239)


def test_main_object_has_a_top1_only():
    assert isinstance(label_sets.by_name("main_object"), AcceptedSet)
    assert [m.key for m in label_sets.by_name("main_object").metrics if "top5" in m.key] == []


# ---------------------------------------------------------------------------------------------
# Shipped files are checked


def test_an_altered_shipped_file_is_refused(monkeypatch, tmp_path):
    altered = tmp_path / "main_object.csv"
    original = data_file("main_object", "main_object.csv").read_text()
    altered.write_text(original.replace("\n4,809\n", "\n4,808\n"))
    monkeypatch.setattr(loading, "data_file", lambda name, file_name: altered)
    with pytest.raises(LabelSetError, match="has sha256 .* not the published"):
        load_label_set("main_object")


def test_other_copies_only_for_a_set_that_reads_one(annotation_file, tmp_path):
    predictions = _predictions(tmp_path / "p.jsonl", seed=0)
    labels = load_labels(annotations=annotation_file[0], allow_unverified=True)
    copy = tmp_path / "x.csv"
    copy.write_text("")
    with pytest.raises(LabelSetError, match="'main_object' is not a label set that reads"):
        score_predictions(
            predictions, split="full", labels=labels, label_set_files={"main_object": copy}
        )


def test_validation_images_are_every_file_name_in_id_order():
    names = validation_images()
    assert names[0] == classes.file_name_from_image_id(1) and len(names) == 50_000


def test_results_written_before_the_registry_still_read(tmp_path):
    """A `--split full` result as the toolkit wrote it before (ReaL read from timm's copy, no
    other label set): the same keys, read the same way; the new sets' cells are empty."""
    real = load_label_set("real").provenance
    document = {
        "metrics": {
            "full": {
                "top1_accuracy": 0.8,
                "top5_accuracy": 0.95,
                "num_scored": 50_000,
                "real_accuracy": 0.85,
                "real_accuracy_top5": 0.97,
                "num_real_scored": 46_837,
                "num_real_left_out": 3_163,
                "num_missing_predictions": 0,
            }
        },
        "complete": True,
        "labels": {
            "source": "human_accuracy_v3.0.0.json",
            "sha256": PUBLISHED_SHA256,
            "version": "3.0.0",
            "verified": True,
            "real": {
                "source": "/site-packages/timm/data/_info/imagenet_real_labels.json",
                "sha256": real["sha256"],
                "verified": True,
                "published": real["published"],
            },
        },
        "predictions": {"source": "old/predictions.jsonl", "sha256": "a" * 64},
        "environment": {"created_at": "2026-01-01T00:00:00+00:00"},
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document))
    board = write_leaderboard([path], tmp_path / "board")
    (entry,) = board.entries
    assert entry.flags == ()
    with (tmp_path / "board" / "leaderboard.csv").open() as file:
        row = next(csv.DictReader(file))
    assert (row["top1_50k"], row["real"]) == ("80.00", "85.00")
    assert (row["label_errors"], row["main_object"]) == ("", "")
    assert "ReaL accuracy (top-1 in the ReaL set)" in results.report(document)
    document["labels"]["real"]["sha256"] = "0" * 64  # verified: true stays, proving nothing
    assert "UNVERIFIED ReaL labels" in " ".join(results.publication_problems(document))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("image,class_id\n1,2\n", "expected the header image_id,class_id"),
        ("image_id,class_id\n1,x\n", "not a table of integers"),
        ("image_id,class_id\n1,2,3\n", "expected 2 columns per row"),
        ("image_id,class_id\n0,2\n", "image ids must be distinct, in 1..50,000"),
        ("image_id,class_id\n1,2\n1,3\n", "image ids must be distinct"),
        ("image_id,class_id\n1,1000\n", r"class ids must be in 0..999"),
    ],
)
def test_a_malformed_shipped_table_is_refused(monkeypatch, tmp_path, content, message):
    path = tmp_path / "labels.csv"
    path.write_text(content)
    monkeypatch.setattr(loading, "data_file", lambda name, file_name: path)
    sha256 = hashlib.sha256(content.encode()).hexdigest()
    with pytest.raises(LabelSetError, match=message):
        table = loading.shipped_table("x", "labels.csv", "x", sha256, ("image_id", "class_id"))
        table.image_rows()
        table.class_ids(1)


@pytest.mark.parametrize(
    "label_set", [s for s in label_sets.REGISTRY if s.provenance_key], ids=lambda s: s.name
)
def test_each_sets_record_is_checked_against_its_published_sha256(label_set):
    """Official is recomputed, not read (issue 19 item 4): the labels block of a set with a file
    of its own passes on the sha256 it records, never on a stored ``verified: true`` beside
    another one; its loading module names that sha256."""
    published = loading.published_sha256(label_set)
    assert published == loading.load_label_set(label_set.name).provenance["sha256"]
    block = {"source": "x", "sha256": published, "verified": True}
    labels = {"sha256": PUBLISHED_SHA256, "verified": True, label_set.provenance_key: block}
    assert results.label_problems(labels) == []
    labels[label_set.provenance_key] = {**block, "sha256": "0" * 64}
    (problem,) = results.label_problems(labels)
    assert problem.startswith(f"UNVERIFIED {label_set.title} labels: x has sha256 {'0' * 64}")
    assert "(although it records it as verified)" in problem

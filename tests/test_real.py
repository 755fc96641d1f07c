"""ReaL labels (shipped in the package) joined by file name, and the 50,000-image scores (original
top-1/top-5, ReaL)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import evaluate
import numpy as np
import pytest
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.label_sets import LabelSetError, load_label_set, real
from imagenet_multilabel.metric.label_sets import by_name
from imagenet_multilabel.metric.references import ReferencesError, SetReferences
from imagenet_multilabel.metric.scoring import PredictionsError, score_original

REAL = by_name("real")


def load_real_labels(path=None, *, allow_unverified=False):
    return load_label_set("real", path=path, allow_unverified=allow_unverified)


def by_file_name(labels) -> dict[str, frozenset[int]]:
    """Each image's ReaL set, keyed by file name."""
    return dict(zip(labels.file_names.tolist(), labels.accepted_sets(), strict=True))


def score_real(predictions, references):
    return REAL.score(predictions, references)


MODULE_PATH = Path(__file__).resolve().parents[1] / "metric" / "imagenet_multilabel.py"


def synthetic_sets(seed: int = 0) -> list[list[int]]:
    """50,000 ReaL-shaped entries: entry i names class i % 1000 first; some are empty."""
    rng = np.random.default_rng(seed)
    sets = []
    for index in range(classes.NUM_VALIDATION_IMAGES):
        extra = rng.integers(0, 1000, rng.integers(0, 3)).tolist()
        sets.append([] if index % 17 == 0 else sorted({index % 1000, *extra}))
    return sets


@pytest.fixture(scope="module")
def synthetic_file(tmp_path_factory) -> tuple[Path, list[list[int]]]:
    sets = synthetic_sets()
    path = tmp_path_factory.mktemp("real") / "real.json"
    path.write_text(json.dumps(sets))
    return path, sets


def test_the_shipped_copy_is_the_published_file():
    labels = load_real_labels()
    provenance = labels.provenance
    assert provenance["verified"] and provenance["sha256"] == real.PUBLISHED_SHA256
    assert provenance["source"].endswith("label_sets/data/real/real.json")
    assert provenance["licence"] == "Apache-2.0"
    assert provenance["published"].startswith(real.SOURCE_REPOSITORY)
    sets = by_file_name(labels)
    assert len(sets) == classes.NUM_VALIDATION_IMAGES
    # The first two entries of the published real.json: [] and [970, 795].
    assert sets["ILSVRC2012_val_00000001.JPEG"] == frozenset()
    assert sets["ILSVRC2012_val_00000002.JPEG"] == frozenset({795, 970})
    assert sum(not classes_ for classes_ in sets.values()) == 3163


def test_another_copy_is_refused_unless_allowed(synthetic_file):
    path, sets = synthetic_file
    allow = "`allow_unverified_label_set_files=['real']`"
    with pytest.raises(LabelSetError, match=re.escape(allow)) as raised:
        load_real_labels(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() in str(raised.value)
    assert str(path) in str(raised.value)
    labels = load_real_labels(path, allow_unverified=True)
    assert labels.provenance["verified"] is False and labels.provenance["source"] == str(path)


def test_entry_i_belongs_to_image_i_plus_1_and_is_joined_by_file_name(synthetic_file):
    path, sets = synthetic_file
    labels = load_real_labels(path, allow_unverified=True)
    for image_id in (1, 2, 1234, 50_000):
        name = classes.file_name_from_image_id(image_id)
        assert by_file_name(labels)[name] == frozenset(sets[image_id - 1])
    names = [classes.file_name_from_image_id(i) for i in (50_000, 3, 18, 2)]
    rows = labels.reference_rows(names)
    assert [row["file_name"] for row in rows] == names
    references = SetReferences.from_rows(rows, REAL.reference_column)
    predictions = [sets[i - 1][0] if sets[i - 1] else 0 for i in (50_000, 3, 18, 2)]
    assert score_real(predictions, references) == {
        "real_accuracy": 1.0,
        "num_real_scored": 3,
        "num_real_left_out": 1,  # image 18 is entry 17, which is empty
    }


def test_unknown_file_names_are_an_error(synthetic_file):
    labels = load_real_labels(synthetic_file[0], allow_unverified=True)
    with pytest.raises(LabelSetError, match=r"1 file name\(s\).*'cat.jpg'"):
        labels.reference_rows(["ILSVRC2012_val_00000001.JPEG", "cat.jpg"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not valid JSON: Expecting value"),
        ("{}", "expected a JSON list of 50,000 lists .* got dict"),
        ("[[1], [2]]", "expected a JSON list of 50,000 lists .* got 2 entries"),
        (json.dumps([[1]] * 49_999 + [[1000]]), r"1 entr.*first for ILSVRC2012_val_00050000"),
        # an int beyond int64 is no class id (numpy would overflow converting it)
        (json.dumps([[1]] * 49_999 + [[2**70]]), r"1 entr.*first for ILSVRC2012_val_00050000"),
        # ints of 4,301+ digits and deep nesting are refused by the JSON reader itself
        ("[[" + "9" * 5000 + "]]", "is not valid JSON: .*digits"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply to read"),
        (json.dumps([[1]] * 49_998 + [["1"], 5]), r"2 entr.*ILSVRC2012_val_00049999.JPEG"),
        (json.dumps([[1]] * 49_999 + [[True]]), r"1 entr.*ILSVRC2012_val_00050000"),
    ],
)
def test_malformed_files_are_errors_naming_the_entries(tmp_path, content, message):
    path = tmp_path / "real.json"
    path.write_text(content)
    with pytest.raises(LabelSetError, match=message):
        load_real_labels(path, allow_unverified=True)


def test_a_missing_file_is_an_error(tmp_path):
    with pytest.raises(LabelSetError, match="ReaL labels file .*absent.json' does not exist"):
        load_real_labels(tmp_path / "absent.json")


def test_a_fifo_is_refused_not_read(tmp_path):
    """Reading a named pipe would block until a writer came."""
    fifo = tmp_path / "real.json"
    os.mkfifo(fifo)
    with pytest.raises(LabelSetError, match=r"'.*real.json' is a FIFO \(named pipe\)"):
        load_real_labels(fifo, allow_unverified=True)


def test_long_file_names_are_quoted_short(synthetic_file):
    labels = load_real_labels(synthetic_file[0], allow_unverified=True)
    with pytest.raises(LabelSetError) as raised:
        labels.reference_rows(["x" * 1_000_000])
    assert len(str(raised.value)) < 400


# ---------------------------------------------------------------------------------------------
# Scoring, against a literal per-image transcription


def literal_real(top5: np.ndarray, sets: list[list[int]], k: int) -> float:
    scored = [(row, labels) for row, labels in enumerate(sets) if labels]
    return sum(any(p in labels for p in top5[row, :k]) for row, labels in scored) / len(scored)


@pytest.mark.parametrize("seed", [0, 1])
def test_score_real_equals_the_definition(seed):
    rng = np.random.default_rng(seed)
    sets = [
        rng.integers(0, 20, rng.integers(0, 4)).tolist() for _ in range(500)
    ]  # duplicates within a set included
    top5 = np.stack([rng.permutation(20)[:5] for _ in sets])
    names = [classes.file_name_from_image_id(i + 1) for i in range(len(sets))]
    references = SetReferences.from_columns(names, sets)
    results = score_real(top5, references)
    assert results["real_accuracy"] == pytest.approx(literal_real(top5, sets, 1))
    assert results["real_accuracy_top5"] == pytest.approx(literal_real(top5, sets, 5))
    assert results["num_real_left_out"] == sum(not labels for labels in sets)
    assert results["num_real_scored"] + results["num_real_left_out"] == len(sets)
    assert "real_accuracy_top5" not in score_real(top5[:, 0], references)
    assert score_real(top5[:, 0], references)["real_accuracy"] == results["real_accuracy"]


def test_score_real_errors():
    names = ["ILSVRC2012_val_00000001.JPEG", "ILSVRC2012_val_00000002.JPEG"]
    with pytest.raises(ReferencesError, match="none of the 2 images has an accepted class"):
        score_real([1, 2], SetReferences.from_columns(names, [[], []]))
    with pytest.raises(ReferencesError, match="2 file names but 1 label sets"):
        SetReferences.from_columns(names, [[1]])
    with pytest.raises(ReferencesError, match="appear more than once"):
        SetReferences.from_columns([names[0], names[0]], [[1], [2]])
    with pytest.raises(ReferencesError, match="class ids must be in 0..999"):
        SetReferences.from_columns(names, [[1], [1000]])
    with pytest.raises(PredictionsError, match="got 1 rows for 2 reference rows"):
        score_real([1], SetReferences.from_columns(names, [[1], [2]]))
    with pytest.raises(ReferencesError, match="lack key 'real_labels'"):
        SetReferences.from_rows([{"file_name": names[0]}], "real_labels")


def test_score_original_is_the_plain_mean_over_images():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 1000, 300)
    top5 = np.stack([rng.permutation(1000)[:5] for _ in labels])
    top5[:100, 0] = labels[:100]
    results = score_original(top5, labels)
    assert results["top1_accuracy"] == pytest.approx(np.mean(top5[:, 0] == labels))
    assert results["top5_accuracy"] == pytest.approx(
        np.mean([label in row for label, row in zip(labels, top5, strict=True)])
    )
    assert results["num_scored"] == 300
    assert set(score_original(top5[:, 0], labels)) == {"top1_accuracy", "num_scored"}
    with pytest.raises(ReferencesError, match="class ids must be in 0..999"):
        score_original([0], [1000])
    with pytest.raises(ReferencesError, match="non-empty 1-d array of integer class ids"):
        score_original([0], [0.5])


def test_score_original_on_the_devkit_labels_is_exact():
    """Predicting every image's own devkit label gives 1.0; shifting them by one class, 0.0."""
    labels = classes.validation_labels()
    assert score_original(labels.astype(np.int64), labels)["top1_accuracy"] == 1.0
    shifted = (labels.astype(np.int64) + 1) % 1000
    assert score_original(shifted, labels)["top1_accuracy"] == 0.0


# ---------------------------------------------------------------------------------------------
# The evaluate module's `real` configuration


@pytest.fixture(scope="module")
def real_metric() -> evaluate.EvaluationModule:
    return evaluate.load(str(MODULE_PATH), "real")


def test_module_real_config_equals_the_scoring_core(real_metric, synthetic_file):
    labels = load_real_labels(synthetic_file[0], allow_unverified=True)
    names = [classes.file_name_from_image_id(i) for i in range(1, 2001)]
    rows = labels.reference_rows(names)
    rng = np.random.default_rng(3)
    top1 = rng.integers(0, 1000, len(rows))
    top1[::3] = [(i % 1000) for i in range(0, 2000, 3)]
    offsets = np.stack([rng.choice(999, 4, replace=False) + 1 for _ in rows])
    top5 = np.column_stack([top1, (top1[:, None] + offsets) % 1000])  # distinct, as required
    expected = score_real(top5, labels.take(np.arange(2000)))
    assert 0 < expected["real_accuracy"] < 1
    assert real_metric.compute(predictions=top5.tolist(), references=rows) == expected


def test_module_real_config_refuses_multilabel_options(real_metric):
    rows = [{"file_name": "ILSVRC2012_val_00000001.JPEG", "real_labels": [1]}]
    with pytest.raises(ValueError, match="not to the 'real' configuration"):
        real_metric.compute(predictions=[1], references=rows, imagenet_m=True)


def test_module_unknown_config_is_an_error():
    with pytest.raises(ValueError, match="unknown configuration 'reel'"):
        evaluate.load(str(MODULE_PATH), "reel")


# ---------------------------------------------------------------------------------------------
# `score --split full`: the 50,000-image numbers next to the label splits


def _full_predictions(path: Path, seed: int = 0) -> tuple[Path, np.ndarray]:
    """Top-5 for every validation image, written in shuffled order: the devkit label first for
    two images in three, else a random class."""
    rng = np.random.default_rng(seed)
    original = classes.validation_labels().astype(np.int64)
    top5 = np.stack([rng.permutation(1000)[:5] for _ in range(original.size)])
    keep = np.arange(original.size) % 3 != 0
    top5[keep, 0] = original[keep]
    top5[keep, 1:] = (original[keep, None] + np.arange(1, 5)) % 1000
    lines = [
        json.dumps({"file_name": classes.file_name_from_image_id(i + 1), "top5": top5[i].tolist()})
        for i in rng.permutation(original.size)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path, top5


def test_score_full_split_reports_every_label_set(annotation_file, tmp_path, capsys):
    from imagenet_multilabel.eval_cli.commands.cli import main

    predictions, top5 = _full_predictions(tmp_path / "predictions.jsonl")
    output = tmp_path / "results.json"
    args = ["score", "--predictions", str(predictions), "--split", "full", "--output", str(output)]
    labels = ["--annotations", str(annotation_file[0]), "--allow-unverified-annotations"]
    assert main([*args, *labels]) == 0
    document = json.loads(output.read_text())
    assert list(document["metrics"]) == ["full", "validation", "imagenet_m"]
    full = document["metrics"]["full"]
    original = classes.validation_labels()
    assert full["top1_accuracy"] == pytest.approx(np.mean(top5[:, 0] == original))
    assert full["top5_accuracy"] == pytest.approx(np.mean((top5 == original[:, None]).any(1)))
    real_labels = load_real_labels()
    assert {k: full[k] for k in ("real_accuracy", "num_real_scored", "num_real_left_out")} == {
        k: v
        for k, v in score_real(top5, real_labels.references).items()
        if k != "real_accuracy_top5"
    }
    assert (full["num_real_scored"], full["num_real_left_out"]) == (46_837, 3_163)
    assert full["num_missing_predictions"] == 0 and document["complete"] is True
    assert document["labels"]["real"]["verified"] is True
    for split in ("validation", "imagenet_m"):  # the label splits exactly as `--split all`
        assert document["metrics"][split]["num_missing_predictions"] == 0
    printed = capsys.readouterr().out
    assert "ReaL accuracy (top-1 in the ReaL set)" in printed and "UNVERIFIED ReaL" not in printed
    assert document["labels"]["real"]["source"].endswith("real.json")


def test_score_full_split_with_missing_images_and_unverified_real_labels(
    annotation_file, synthetic_file, tmp_path, capsys
):
    from imagenet_multilabel.eval_cli.commands.cli import main

    predictions, _ = _full_predictions(tmp_path / "all.jsonl", seed=1)
    lines = predictions.read_text().splitlines()
    partial = tmp_path / "partial.jsonl"
    partial.write_text("\n".join(lines[:40_000]) + "\n")
    output = tmp_path / "results.json"
    labels = ["--annotations", str(annotation_file[0]), "--allow-unverified-annotations"]
    args = ["score", "--predictions", str(partial), "--split", "full", *labels]
    real_args = ["--real-labels", str(synthetic_file[0])]
    assert main([*args, *real_args]) == 2
    assert "pass `--allow-unverified-real-labels` to use" in capsys.readouterr().err
    assert main([*args, *real_args, "--allow-unverified-real-labels", "--output", str(output)]) == 0
    document = json.loads(output.read_text())
    full = document["metrics"]["full"]
    assert full["num_missing_predictions"] == 10_000 and full["num_scored"] == 40_000
    assert full["num_real_scored"] + full["num_real_left_out"] == 40_000
    assert document["complete"] is False and document["labels"]["real"]["verified"] is False
    printed = capsys.readouterr().out
    assert "UNVERIFIED ReaL labels" in printed and "INCOMPLETE (full)" in printed


def test_real_options_outside_the_full_split_are_refused(annotation_file, tmp_path, capsys):
    from imagenet_multilabel.eval_cli.commands.cli import main

    predictions, _ = _full_predictions(tmp_path / "p.jsonl")
    labels = ["--annotations", str(annotation_file[0]), "--allow-unverified-annotations"]
    args = ["score", "--predictions", str(predictions), "--split", "validation", *labels]
    real = tmp_path / "real.json"
    real.write_text("[]")
    assert main([*args, "--real-labels", str(real)]) == 2
    assert "error: --real-labels applies to --split full only" in capsys.readouterr().err


def test_run_full_split_and_zero_shot_prompt_style(annotation_file, tmp_path):
    """`run --split full --limit 6`: the first 6 validation images scored against original
    labels and ReaL next to the label splits; the zero-shot prompt style is recorded."""
    from image_fixtures import make_val_tar
    from imagenet_multilabel.dataset_script.labels.loading import load_labels
    from imagenet_multilabel.eval_cli.commands.cli import main
    from model_fixtures import save_clip

    labels = load_labels(annotations=annotation_file[0], allow_unverified=True)
    names = {classes.file_name_from_image_id(i) for i in range(1, 7)}
    for split in ("validation", "imagenet_m"):
        names |= set(labels.split(split).file_names[:6].tolist())
    tar = make_val_tar(tmp_path / "val.tar", sorted(map(classes.image_id_from_file_name, names)))
    output = tmp_path / "run"
    args = [
        "run",
        "--model",
        str(save_clip(tmp_path / "clip")),
        "--images",
        str(tar),
        "--annotations",
        str(annotation_file[0]),
        "--allow-unverified-annotations",
        "--split",
        "full",
        "--limit",
        "6",
        "--zero-shot-prompts",
        "single",
        "--num-workers",
        "0",
        "--output-dir",
        str(output),
    ]
    assert main(args) == 0
    document = json.loads((output / "results.json").read_text())
    assert list(document["metrics"]) == ["full", "validation", "imagenet_m"]
    full = document["metrics"]["full"]
    assert (full["num_scored"], full["limit"], full["partial"]) == (6, 6, True)
    assert full["num_real_scored"] + full["num_real_left_out"] == 6
    assert document["labels"]["real"]["verified"] is True
    assert document["model"]["label_mapping"]["prompts"] == "single"

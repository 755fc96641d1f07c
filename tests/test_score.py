import json
import random

import numpy as np
import pytest
from imagenet_multilabel.dataset_script.classes import CLASS_NAMES
from imagenet_multilabel.dataset_script.labels.loading import LabelSource
from imagenet_multilabel.dataset_script.taxonomy.categories import (
    categorize_mistakes,
    lenient_accuracies,
)
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.eval_cli.scores.mistakes import LENIENT_ACCURACIES
from imagenet_multilabel.eval_cli.scores.predictions import PredictionsFileError, read_predictions
from imagenet_multilabel.eval_cli.scores.score import score_predictions
from imagenet_multilabel.metric.errors import ToolkitError
from imagenet_multilabel.metric.references import References
from imagenet_multilabel.metric.scoring import score


@pytest.fixture(scope="module")
def label_columns(annotation_file):
    from imagenet_multilabel.dataset_script.annotations.published import load_annotations

    path, sha = annotation_file
    annotations = load_annotations(path, expected_sha256=sha)
    return {split: annotations.split_columns(split) for split in ("validation", "imagenet_m")}


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _label_args(annotation_file):
    return ["--annotations", str(annotation_file[0]), "--allow-unverified-annotations"]


def _random_top5(names, seed=0):
    rng = random.Random(seed)
    return {name: rng.sample(range(1000), 5) for name in names}


def test_score_end_to_end_is_keyed_by_file_name(annotation_file, label_columns, tmp_path, capsys):
    names = label_columns["validation"]["file_name"]
    top5 = _random_top5(names)
    shuffled = list(names)
    random.Random(1).shuffle(shuffled)  # file order must not matter
    predictions = _write_jsonl(
        tmp_path / "p.jsonl", [{"file_name": n, "top5": top5[n]} for n in shuffled]
    )
    output = tmp_path / "results.json"
    args = ["score", "--predictions", str(predictions), *_label_args(annotation_file)]
    assert main([*args, "--split", "all", "--output", str(output)]) == 0
    document = json.loads(output.read_text())
    for split, columns in label_columns.items():
        expected = score(
            np.array([top5[n] for n in columns["file_name"]]),
            References.from_columns(columns),
            imagenet_m=split == "imagenet_m",
            allow_partial=True,
        )
        for entry in expected["outside_label_set"]:  # the toolkit names each class beside its id
            entry["prediction_name"] = CLASS_NAMES[entry["prediction"]]
        if split == "validation":  # the analysed split: Peychev et al.'s accuracies beside
            references = References.from_columns(columns)
            top1 = np.array([top5[n][0] for n in columns["file_name"]])
            auto = categorize_mistakes(top1, references)
            lenient = lenient_accuracies(top1, references, auto, allow_partial=True)
            expected.update({key: lenient[key] for key in LENIENT_ACCURACIES})
            assert expected["multilabel_accuracy"] < expected[LENIENT_ACCURACIES[0]]
        assert document["metrics"][split] == {**expected, "num_missing_predictions": 0}
    assert document["complete"] is True
    assert output.stat().st_mode & 0o644 == 0o644  # readable like any file the user writes
    assert document["labels"]["verified"] is False
    assert document["labels"]["sha256"] == annotation_file[1]
    assert document["predictions"]["num_outside_chosen_splits"] == 0
    assert set(document["environment"]["packages"]) >= {"numpy", "datasets", "evaluate"}
    printed = capsys.readouterr().out
    # unverified labels: the numbers are printed, but never called official
    assert "Multi-label accuracy, per class " in printed and "(official)" not in printed
    assert "UNVERIFIED labels: annotation file sha256" in printed


def test_csv_top1_and_ignored_and_missing_rows(annotation_file, label_columns, tmp_path, capsys):
    names = label_columns["imagenet_m"]["file_name"]
    lines = ["file_name,prediction"] + [f"{n},7" for n in names[1:]]
    lines.append("ILSVRC2012_val_00049999.JPEG,3")  # outside the split: ignored, counted
    predictions = tmp_path / "p.csv"
    predictions.write_text("\n".join(lines) + "\n")
    output = tmp_path / "r.json"
    args = ["score", "--predictions", str(predictions), *_label_args(annotation_file)]
    assert main([*args, "--split", "imagenet_m", "--output", str(output)]) == 0
    document = json.loads(output.read_text())
    metrics = document["metrics"]["imagenet_m"]
    assert metrics["imagenet_m_total"] == 67 and metrics["num_missing_predictions"] == 1
    assert document["complete"] is False
    assert document["predictions"]["num_outside_chosen_splits"] == 1
    printed = capsys.readouterr().out
    assert "Ignored 1 predictions" in printed and "INCOMPLETE (imagenet_m)" in printed


def test_partial_class_coverage_is_marked(annotation_file, label_columns, tmp_path, capsys):
    names = label_columns["validation"]["file_name"][:50]
    predictions = _write_jsonl(
        tmp_path / "p.jsonl", [{"file_name": n, "prediction": 1} for n in names]
    )
    output = tmp_path / "r.json"
    args = ["score", "--predictions", str(predictions), *_label_args(annotation_file)]
    assert main([*args, "--output", str(output)]) == 0
    metrics = json.loads(output.read_text())["metrics"]["validation"]
    assert metrics["partial"] is True and metrics["num_classes_covered"] < 1000
    assert "PARTIAL (validation)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"file_name": "cat.jpg", "prediction": 1}], "1 row.*unknown file name.*line.*\\[1\\]"),
        (
            [{"file_name": "ILSVRC2012_val_00000001.JPEG", "prediction": 1}] * 3,
            "2 row.*duplicate file name, first at line.*\\[2, 3\\] \\(repeating line.*\\[1, 1\\]",
        ),
        ([{"file_name": "ILSVRC2012_val_00000001.JPEG", "prediction": 1000}], "not an integer"),
        ([{"file_name": "ILSVRC2012_val_00000001.JPEG", "prediction": 2.5}], "not an integer"),
        ([{"file_name": "ILSVRC2012_val_00000001.JPEG", "prediction": "dog"}], "not an integer"),
        ([{"file_name": "ILSVRC2012_val_00000001.JPEG", "label": 1}], "expected columns"),
        ([{"name": "ILSVRC2012_val_00000001.JPEG", "prediction": 1}], "expected columns"),
        ([{"file_name": "ILSVRC2012_val_00000001.JPEG", "top5": [1, 1, 2, 3, 4]}], "five distinct"),
        (
            [
                {
                    "file_name": "ILSVRC2012_val_00000001.JPEG",
                    "prediction": 2,
                    "top5": [1, 2, 3, 4, 5],
                }
            ],
            "different from top5",
        ),
    ],
)
def test_bad_predictions_files(annotation_file, tmp_path, capsys, rows, message):
    predictions = _write_jsonl(tmp_path / "p.jsonl", rows)
    with pytest.raises(PredictionsFileError, match=message):
        read_predictions(predictions)
    args = ["score", "--predictions", str(predictions), *_label_args(annotation_file)]
    assert main(args) == 2
    assert "p.jsonl" in capsys.readouterr().err


def test_csv_quirks(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(b"\xef\xbb\xbffile_name,prediction\nILSVRC2012_val_00000001.JPEG,3\n")
    assert read_predictions(path).top1.tolist() == [3]  # a spreadsheet's byte-order mark
    path.write_text("file_name,prediction\nILSVRC2012_val_00000001.JPEG,3,4\n")
    with pytest.raises(PredictionsFileError, match="1 row.*more or fewer fields.*\\[2\\]"):
        read_predictions(path)
    path.write_text("file_name,prediction\nILSVRC2012_val_00000001.JPEG\n")
    with pytest.raises(PredictionsFileError, match="more or fewer fields"):
        read_predictions(path)
    path.write_bytes(b"file_name,prediction\n\xff\xfe,1\n")
    with pytest.raises(PredictionsFileError, match="p.csv.*not UTF-8"):
        read_predictions(path)


def test_unreadable_inputs(annotation_file, tmp_path, capsys):
    (tmp_path / "p.txt").write_text("x")
    (tmp_path / "p.jsonl").write_text('{"file_name": "ILSVRC2012_val_00000001.JPEG"\n')
    with pytest.raises(PredictionsFileError, match="expected .csv or .jsonl"):
        read_predictions(tmp_path / "p.txt")
    with pytest.raises(PredictionsFileError, match="not JSON objects, first at line.*\\[1\\]"):
        read_predictions(tmp_path / "p.jsonl")
    with pytest.raises(PredictionsFileError, match="does not exist"):
        read_predictions(tmp_path / "nope.csv")


def test_unverified_annotations_need_the_flag(annotation_file, tmp_path, capsys):
    predictions = _write_jsonl(
        tmp_path / "p.jsonl", [{"file_name": "ILSVRC2012_val_00000001.JPEG", "prediction": 1}]
    )
    args = ["score", "--predictions", str(predictions), "--annotations", str(annotation_file[0])]
    assert main(args) == 2
    printed = capsys.readouterr().err
    assert "Pass `--allow-unverified-annotations` to use it" in printed
    assert "allow_unverified" not in printed


def test_errors_through_the_api_name_its_parameters(annotation_file, tmp_path):
    predictions = _write_jsonl(
        tmp_path / "p.jsonl", [{"file_name": "ILSVRC2012_val_00000001.JPEG", "prediction": 1}]
    )
    with pytest.raises(ToolkitError, match="Pass `allow_unverified=True` to use it") as raised:
        score_predictions(predictions, labels=LabelSource(annotations=annotation_file[0]))
    assert "--" not in str(raised.value)


def test_no_prediction_for_the_split_is_an_error(annotation_file, label_columns, tmp_path, capsys):
    outside = "ILSVRC2012_val_00049999.JPEG"
    assert outside not in label_columns["validation"]["file_name"]
    predictions = _write_jsonl(tmp_path / "p.jsonl", [{"file_name": outside, "prediction": 1}])
    args = ["score", "--predictions", str(predictions), *_label_args(annotation_file)]
    assert main(args) == 2
    assert "no prediction for any of the 2,000 images" in capsys.readouterr().err


def test_labels_dataset_gives_the_same_scores(annotation_file, label_columns, tmp_path):
    from imagenet_multilabel.dataset_script.annotations.published import load_annotations
    from imagenet_multilabel.dataset_script.build import build_dataset

    path, _ = annotation_file
    built = build_dataset(tmp_path / "dataset", load_annotations(path, allow_unverified=True))
    names = label_columns["validation"]["file_name"]
    predictions = _write_jsonl(
        tmp_path / "p.jsonl", [{"file_name": n, "top5": t} for n, t in _random_top5(names).items()]
    )
    outputs = {}
    for name, label_args in {
        "annotations": _label_args(annotation_file),
        "labels": ["--labels", str(built)],
    }.items():
        outputs[name] = tmp_path / f"{name}.json"
        args = ["score", "--predictions", str(predictions), *label_args, "--split", "all"]
        assert main([*args, "--output", str(outputs[name])]) == 0
    from_annotations, from_labels = (json.loads(p.read_text()) for p in outputs.values())
    assert from_labels["metrics"] == from_annotations["metrics"]
    assert from_labels["labels"]["sha256"] == annotation_file[1]
    assert from_labels["labels"]["verified"] is False


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            [
                "score",
                "--predictions",
                "p.jsonl",
                "--labels",
                "d",
                "--allow-unverified-annotations",
            ],
            "applies to --annotations",
        ),
        (["run", "--model", "m", "--images", "i", "--dry-run"], "only applies with --push-to-hub"),
        (["run", "--model", "m", "--images", "i", "--hub-repo-id", "a/b"], "only applies with"),
    ],
)
def test_options_that_would_be_ignored_are_refused(extra, message, capsys):
    """The option objects refuse them (`LabelSource`, `RunOptions`), before any file is read."""
    assert main(extra) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", ["analyze", "compare"])
def test_an_images_split_without_images_is_refused(tmp_path, capsys, command):
    """`ImageOptions` holds the rule (it was the command line's alone)."""
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for path in paths:
        path.write_text("{}\n")
    given = ["--predictions", str(paths[0])] if command == "analyze" else list(map(str, paths))
    argv = [command, *given, "--output-dir", str(tmp_path / "out"), "--images-split", "train"]
    assert main(argv) == 2
    assert capsys.readouterr().err == "error: --images-split needs --images SOURCE\n"

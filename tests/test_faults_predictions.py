"""Hostile and broken predictions files: a clear error naming the file and line, never a
traceback, and messages of bounded size whatever the file holds (issue 8)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.eval_cli.scores import prediction_formats
from imagenet_multilabel.eval_cli.scores.predictions import PredictionsFileError, read_predictions

FIRST = "ILSVRC2012_val_00000001.JPEG"
SECOND = "ILSVRC2012_val_00000002.JPEG"


def _score(path: Path, annotation_file, capsys) -> str:
    """Run `score` on ``path``; it must exit 2 with one `error:` line. Returns that line."""
    args = ["score", "--predictions", str(path), "--annotations", str(annotation_file[0])]
    assert main([*args, "--allow-unverified-annotations"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


def _csv(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "p.csv"
    path.write_text(f"file_name,prediction\n{FIRST},1\n{body}", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # csv's field limit (131,072 characters) used to escape as _csv.Error
        (f"{'x' * 200_000},1\n", r"p\.csv': the CSV row starting at line 3 is malformed.*limit"),
        # strict CSV: a quote never closed is an error, not a field that swallows the rest
        (f'"{SECOND},2\n{FIRST},3\n', r"row starting at line 3 is malformed.*end of data"),
        # int() refuses 5,000 digits (ValueError), and '²'.isdigit() is True: both tracebacks
        (f"{SECOND},{'7' * 5000}\n", r"p\.csv': 1 row.*not an integer class id.*line\(s\) \[3\]"),
        (f"{SECOND},²\n", r"p\.csv': 1 row.*not an integer class id.*line\(s\) \[3\]"),
    ],
    ids=["huge-field", "unclosed-quote", "5000-digits", "superscript"],
)
def test_csv_faults_name_the_file_and_line(tmp_path, annotation_file, capsys, body, message):
    path = _csv(tmp_path, body)
    with pytest.raises(PredictionsFileError, match=message):
        read_predictions(path)
    assert "p.csv" in _score(path, annotation_file, capsys)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"file_name": "x", "top5": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deep"),
        (f'{{"file_name": "{SECOND}", "prediction": {"7" * 5000}}}', "4300 digits"),
    ],
    ids=["nested-100000-deep", "5000-digits"],
)
def test_jsonl_lines_that_cannot_be_read(tmp_path, annotation_file, capsys, line, message):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"file_name": FIRST, "prediction": 1}) + "\n" + line + "\n")
    pattern = rf"p\.jsonl': 1 line\(s\) are not JSON objects, first at line\(s\) \[2\].*{message}"
    with pytest.raises(PredictionsFileError, match=pattern):
        read_predictions(path)
    assert "line 2" in _score(path, annotation_file, capsys)


def test_superscript_digit_in_jsonl_is_not_a_class_id(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"file_name": FIRST, "top5": ["1", "²", "3", "4", "5"]}) + "\n")
    with pytest.raises(PredictionsFileError, match=r"1 row.*'top5'.*line\(s\) \[1\]"):
        read_predictions(path)


def test_a_million_duplicates_give_a_short_message(tmp_path):
    """Every name 20 times: one count and the first lines, not one entry per name (6 MB)."""
    names = [f"ILSVRC2012_val_{i % 50_000 + 1:08d}.JPEG" for i in range(1_000_000)]
    path = tmp_path / "p.csv"
    path.write_text("file_name,prediction\n" + "".join(f"{n},1\n" for n in names))
    with pytest.raises(PredictionsFileError) as raised:
        read_predictions(path)
    message = str(raised.value)
    assert len(message) < 400, message
    assert "950,000 row(s) with a duplicate file name" in message
    assert "first at line(s) [50002, 50003, 50004, 50005, 50006, ...]" in message
    assert "(repeating line(s) [2, 3, 4, 5, 6, ...])" in message


def test_every_kind_of_problem_is_counted_and_capped(tmp_path):
    rows = [{"file_name": f"bad_{i}.jpg" * 1000, "prediction": 1} for i in range(1000)]
    rows += [{"file_name": FIRST, "prediction": -5}] * 2
    rows += [{"file_name": FIRST + "x", "prediction": True}]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(PredictionsFileError) as raised:
        read_predictions(path)
    message = str(raised.value)
    assert "1,001 row(s) with an unknown file name" in message
    assert "first at line(s) [1, 2, 3, 4, 5, ...]" in message
    assert "1 row(s) with a duplicate file name, first at line(s) [1002]" in message
    # -5 twice, and True: a bool is not a class id
    assert "3 row(s) with a 'prediction' that is not an integer" in message
    assert "[1001, 1002, 1003]" in message
    assert len(message) < 800


def test_many_unknown_columns_are_listed_capped(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({f"column_{i:05d}": i for i in range(10_000)}) + "\n")
    with pytest.raises(PredictionsFileError, match="found 10000: column_00000, .*, ...$") as raised:
        read_predictions(path)
    assert len(str(raised.value)) < 400


def test_valid_files_read_the_same_as_before(tmp_path):
    """The vectorised reader keeps the format's rules: JSON ints or integer strings, CSV top5,
    blank lines, leading zeros, prediction taken from top5[0]."""
    path = tmp_path / "p.csv"
    path.write_text(
        f"file_name,prediction,top5\n{FIRST},007,7 1 2 3 4\n\n{SECOND},,9 8 6 5 0\n",
        encoding="utf-8",
    )
    read = read_predictions(path)
    assert read.file_names.tolist() == [FIRST, SECOND]
    assert read.top1.tolist() == [7, 9] and read.topk.tolist() == [[7, 1, 2, 3, 4], [9, 8, 6, 5, 0]]
    assert read.top1.dtype == np.int64
    path = tmp_path / "p.jsonl"
    path.write_text(
        json.dumps({"file_name": FIRST, "prediction": "12"})
        + "\n\n"
        + json.dumps({"file_name": SECOND, "prediction": 999})
        + "\n"
    )
    read = read_predictions(path)
    assert read.top1.tolist() == [12, 999] and read.topk is None


def test_not_a_regular_file_says_what_it_is(tmp_path, annotation_file, capsys):
    directory = tmp_path / "p.jsonl"
    directory.mkdir()
    with pytest.raises(PredictionsFileError, match="p.jsonl' is a directory; expected a file"):
        read_predictions(directory)
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)  # opening it would block forever
    with pytest.raises(PredictionsFileError, match=r"is a FIFO \(named pipe\)"):
        read_predictions(fifo)
    assert "is a FIFO" in _score(fifo, annotation_file, capsys)


def test_unreadable_file_is_a_clear_error(tmp_path, monkeypatch):
    """Tests run as root, where chmod 000 does not stop reads: the module's open is replaced by
    one raising what a file without read permission raises."""
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"file_name": FIRST, "prediction": 1}) + "\n")

    def refuse(file, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(prediction_formats, "open", refuse, raising=False)
    with pytest.raises(PredictionsFileError, match="cannot read .*p.jsonl.*Permission denied"):
        read_predictions(path)


def test_blank_lines_are_skipped_without_being_parsed(tmp_path, monkeypatch):
    """30 MB of blank lines took over 90 s, each refused by json.loads; now none reaches it,
    whitespace-only lines and lines cut between two read blocks included, and the lines keep
    their numbers."""
    calls = []
    monkeypatch.setattr(prediction_formats, "_BLOCK_CHARS", 7)  # lines cut
    real_loads = json.loads
    monkeypatch.setattr(json, "loads", lambda text: calls.append(text) or real_loads(text))
    path = tmp_path / "p.jsonl"
    first = json.dumps({"file_name": FIRST, "prediction": 3})
    second = json.dumps({"file_name": SECOND, "prediction": "x"})
    path.write_text("\n" * 1000 + f"{first}\n \t \n\r\n\n{second}\n" + "\n  \n" * 1000)
    with pytest.raises(PredictionsFileError, match=r"first at line\(s\) \[1005\]"):
        read_predictions(path)
    assert calls == []
    path.write_text("\n" * 1000 + f"{first}\n" + " \n" * 1000)
    assert read_predictions(path).top1.tolist() == [3] and calls == []
    path.write_text("\n \n" * 10_000)
    with pytest.raises(PredictionsFileError, match="holds no predictions: it is empty, its lines"):
        read_predictions(path)
    assert calls == []


def test_csv_top5_may_be_a_json_list(tmp_path):
    """Space-separated ids, or a JSON list (what pandas writes for a list column) (issue 19)."""
    path = tmp_path / "p.csv"
    path.write_text(
        f'file_name,prediction,top5\n{FIRST},65,"[65, 58, 62, 54, 49]"\n{SECOND},,9 8 6 5 0\n'
    )
    read = read_predictions(path)
    assert read.topk.tolist() == [[65, 58, 62, 54, 49], [9, 8, 6, 5, 0]]
    assert read.top1.tolist() == [65, 9]


@pytest.mark.parametrize(
    "top5", ['"65,58,62,54,49"', '"[65, 58, 62, 54]"', '"[65, 58, 62, 54, 49.0]"', '"[65, 58"']
)
def test_a_top5_in_another_form_says_the_expected_forms(tmp_path, top5):
    path = tmp_path / "p.csv"
    path.write_text(f"file_name,top5\n{FIRST},{top5}\n")
    with pytest.raises(PredictionsFileError) as raised:
        read_predictions(path)
    assert (
        "1 row(s) with a 'top5' that is not five distinct class ids in 0..999, first at line(s) "
        "[2] (expected five distinct class ids in 0..999, best first: [65, 58, 62, 54, 49] in "
        "JSONL; 65 58 62 54 49 or [65, 58, 62, 54, 49] in a CSV)"
    ) in str(raised.value)


def test_rows_keyed_by_a_path_join_on_the_base_name(tmp_path, annotation_file, capsys):
    """timm's inference script writes paths (val/n01440764/ILSVRC2012_val_00000293.JPEG);
    other tools .jpeg: the rows join on the base name and score as the canonical names do."""
    canonical, spelled = tmp_path / "canonical.jsonl", tmp_path / "spelled.jsonl"
    spellings = ("val/n01440764/{}", "{}", "C:\\val\\{}", "./{}")
    names = [classes.file_name_from_image_id(i) for i in range(1, 2001)]
    rows = [{"file_name": name, "prediction": i % 1000} for i, name in enumerate(names)]
    canonical.write_text("".join(json.dumps(row) + "\n" for row in rows))
    spelled.write_text(
        "".join(
            json.dumps({**row, "file_name": spellings[i % 4].format(row["file_name"])}) + "\n"
            for i, row in enumerate(rows)
        ).replace(".JPEG", ".jpeg")
    )
    assert read_predictions(spelled).file_names.tolist() == names
    scores = []
    for path in (canonical, spelled):
        output = tmp_path / f"{path.stem}.json"
        args = ["score", "--predictions", str(path), "--output", str(output)]
        assert (
            main(
                [*args, "--annotations", str(annotation_file[0]), "--allow-unverified-annotations"]
            )
            == 0
        )
        scores.append(json.loads(output.read_text())["metrics"])
    assert scores[0] == scores[1]


def test_two_rows_with_one_base_name_are_refused_naming_both(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(
        json.dumps({"file_name": "val/n01440764/ILSVRC2012_val_00000293.JPEG", "prediction": 1})
        + "\n"
        + json.dumps({"file_name": SECOND, "prediction": 1})
        + "\n"
        + json.dumps({"file_name": "ILSVRC2012_val_00000293.jpeg", "prediction": 2})
        + "\n"
    )
    with pytest.raises(PredictionsFileError) as raised:
        read_predictions(path)
    assert (
        "1 row(s) with a duplicate file name, first at line(s) [3] (repeating line(s) [1]; line 3 "
        "'ILSVRC2012_val_00000293.jpeg' and line 1 'val/n01440764/ILSVRC2012_val_00000293.JPEG' "
        "name one image)"
    ) in str(raised.value)


@pytest.mark.parametrize("command", ["score", "analyze", "compare"])
def test_help_says_the_predictions_formats(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "top5 as five ids separated by spaces (65 58 62 54 49) or as a JSON list" in out
    assert "file_name may be a path (val/n01440764/ILSVRC2012_val_00000293.JPEG)" in out

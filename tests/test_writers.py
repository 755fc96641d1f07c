"""One writer per output format (issue 19 item 3): each takes only text escaped for it, and hostile
text from model ids, file names and class names comes out inert in every file a command writes
(markdown rendered as CommonMark, CSV read as a spreadsheet reads it, pages' embedded data, plot
text); no local path is shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from imagenet_multilabel.dataset_script import dataset_card, dataset_rows, escape, writers
from imagenet_multilabel.dataset_script.hub import names as hub_names
from imagenet_multilabel.dataset_script.labels.loading import LabelSource
from imagenet_multilabel.eval_cli.commands import cli
from imagenet_multilabel.eval_cli.scores import model_card
from inert_checks import (
    FILE_NAMES,
    HOSTILE,
    assert_csv_inert,
    assert_markdown_inert,
    assert_page_data_inert,
    assert_svg_inert,
)


@pytest.fixture
def validation(annotation_file: tuple[Path, str]) -> tuple[list[str], list[int]]:
    """The synthetic annotation file's validation file names and original labels."""
    references = LabelSource(annotations=annotation_file[0], allow_unverified=True).load(
        "validation"
    )
    split = references.split("validation")
    return split.file_names.tolist(), split.original_label.tolist()


def _predictions(path: Path, validation: tuple[list[str], list[int]], shift: int) -> Path:
    """Every image predicted as its original class, every ``shift``-th as the next one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row, (name, original) in enumerate(zip(*validation, strict=True)):
            prediction = (original + 1) % 1000 if row % shift == 0 else original
            top5 = [prediction, *((prediction + k) % 1000 for k in range(2, 6))]
            handle.write(json.dumps({"file_name": name, "prediction": prediction, "top5": top5}))
            handle.write("\n")
    return path


WRITERS_GIVEN_PLAIN_TEXT = {
    "markdown table cell": lambda text: writers.markdown_table(
        [escape.markdown_text("model")], [[text]]
    ),
    "markdown table header": lambda text: writers.markdown_table([text], [[1]]),
    "markdown block": lambda text: writers.markdown_document([escape.markdown_format("#"), text]),
    "csv cell": lambda text: writers.csv_document([escape.csv_cell("model")], [[text]]),
    "csv column": lambda text: writers.csv_document([text], []),
    "page data": lambda text: writers.html_page(
        "<script>{{DATA}}</script>", text, data_marker="{{DATA}}", assets={}
    ),
    "plot text": lambda text: writers.draw_text(print, text),
    "plot tick labels": lambda text: writers.draw_text(print, [escape.plot_text("a"), text]),
    "plot legend label": lambda text: writers.draw_text(print, 1, label=text),
}


@pytest.mark.parametrize("write", WRITERS_GIVEN_PLAIN_TEXT.values(), ids=WRITERS_GIVEN_PLAIN_TEXT)
@pytest.mark.parametrize("text", ["=1+1", "plain", escape.markdown_text("x") + "y"])
def test_the_writers_refuse_text_that_was_not_escaped(write: Any, text: str) -> None:
    """A plain ``str`` (even one built from escaped pieces) is a bug, and a TypeError."""
    with pytest.raises(TypeError, match="made by dataset_script.escape"):
        write(text)


@pytest.mark.parametrize(
    "kind", [escape.MarkdownText, escape.CsvCell, escape.HtmlText, escape.PlotText]
)
def test_only_escape_makes_escaped_text(kind: type) -> None:
    with pytest.raises(TypeError, match="made by dataset_script.escape's functions only"):
        kind("<script>alert(1)</script>")


def test_markdown_format_escapes_every_field_but_keeps_its_template() -> None:
    text = escape.markdown_format("## {} of {:.1f}% {}", "<b>|x", 12.345, escape.markdown_text("*"))
    assert text == "## &lt;b&gt;\\|x of 12.3% \\*" and isinstance(text, escape.MarkdownText)


def test_compare_writes_hostile_model_ids_and_file_names_inert(
    tmp_path: Path, annotation_file, validation
) -> None:
    """Issue 19 problem 5: compare.csv kept ``=HYPERLINK(…)`` and ``@SUM(…)`` cells and
    compare.md raw ``<img onerror>`` and the annotation file's absolute path."""
    inputs = []
    for number, name in enumerate(FILE_NAMES):
        inputs.append(_predictions(tmp_path / "files" / f"{name}.jsonl", validation, number + 2))
    for number, model_id in enumerate(HOSTILE):
        folder = tmp_path / "runs" / str(number)
        _predictions(folder / "predictions.jsonl", validation, number + 2 + len(FILE_NAMES))
        labels = {"source": "annotations", "sha256": annotation_file[1], "version": "3.0.0"}
        document = {"model": {"id": model_id, "revision": None}, "labels": labels, "metrics": {}}
        (folder / "results.json").write_text(json.dumps(document), encoding="utf-8")
        inputs.append(folder)
    out = tmp_path / "compare"
    labels = ["--annotations", str(annotation_file[0]), "--allow-unverified-annotations"]
    assert cli.main(["compare", *map(str, inputs), "--output-dir", str(out), *labels]) == 0
    assert_csv_inert((out / "compare.csv").read_text(encoding="utf-8"))
    markdown = (out / "compare.md").read_text(encoding="utf-8")
    assert_markdown_inert(markdown)
    for name in ("compare.md", "compare.csv", "solved_vs_top1.svg"):  # what people read
        text = (out / name).read_text(encoding="utf-8")
        assert str(annotation_file[0].parent) not in text and str(tmp_path) not in text


@pytest.fixture
def scored(tmp_path: Path, annotation_file, validation) -> list[Path]:
    """`score` results of predictions files named by each hostile file name, then the same
    results as `run` results naming each hostile text as the model, a local path before it."""
    paths = []
    labels = ["--annotations", str(annotation_file[0]), "--allow-unverified-annotations"]
    for number, name in enumerate(FILE_NAMES):
        predictions = _predictions(tmp_path / "files" / f"{name}.jsonl", validation, number + 2)
        output = tmp_path / "results" / f"{number}.json"
        argv = ["score", "--predictions", str(predictions), "--output", str(output), *labels]
        assert cli.main(argv) == 0
        paths.append(output)
    document = json.loads(paths[0].read_text(encoding="utf-8"))
    for number, model_id in enumerate(HOSTILE):
        document["model"] = {"id": f"{tmp_path}/models/{model_id}", "revision": model_id}
        paths.append(tmp_path / "runs" / f"{number}.json")
        paths[-1].parent.mkdir(exist_ok=True)
        paths[-1].write_text(json.dumps(document), encoding="utf-8")
    return paths


def test_leaderboard_writes_hostile_model_ids_and_file_names_inert(
    tmp_path: Path, scored: list[Path]
) -> None:
    out = tmp_path / "board"
    assert cli.main(["leaderboard", *map(str, scored), "--output-dir", str(out)]) == 0
    assert_markdown_inert((out / "leaderboard.md").read_text(encoding="utf-8"))
    assert_csv_inert((out / "leaderboard.csv").read_text(encoding="utf-8"))
    assert_page_data_inert((out / "leaderboard.html").read_text(encoding="utf-8"))
    for svg in out.glob("*.svg"):
        assert_svg_inert(svg.read_text(encoding="utf-8"))
    for name in ("leaderboard.md", "leaderboard.csv", *(svg.name for svg in out.glob("*.svg"))):
        assert str(tmp_path) not in (out / name).read_text(encoding="utf-8"), name


@pytest.mark.parametrize("name", FILE_NAMES[:3] + FILE_NAMES[-4:])
def test_analyze_writes_a_hostile_file_name_inert(
    tmp_path: Path, annotation_file, validation, name: str
) -> None:
    predictions = _predictions(tmp_path / f"{name}.jsonl", validation, 3)
    out = tmp_path / "analysis"
    labels = ["--annotations", str(annotation_file[0]), "--allow-unverified-annotations"]
    argv = ["analyze", "--predictions", str(predictions), "--output-dir", str(out), *labels]
    assert cli.main(argv) == 0
    page = (out / "review" / "index.html").read_text(encoding="utf-8")
    assert_page_data_inert(page)
    assert str(tmp_path) not in page


def test_the_model_card_section_writes_hostile_model_ids_inert(
    tmp_path: Path, scored: list[Path]
) -> None:
    for path in scored[len(FILE_NAMES) :]:
        document = json.loads(path.read_text(encoding="utf-8"))
        section = model_card.model_card_section(document)
        assert_markdown_inert(section)
        assert str(tmp_path) not in section


@pytest.mark.parametrize("text", HOSTILE)
def test_the_dataset_card_writes_a_hostile_annotation_file_name_inert(text: str) -> None:
    """The build names a local annotation file by its name, which the user chose."""
    split = dataset_rows.SplitFiles(num_examples=10, num_bytes=10, file_bytes=10)
    written = {hub_names.LABELS_CONFIG: {"validation": split, "imagenet_m": split}}
    provenance = {
        "source": f"local file {text}",
        "sha256": "cd" * 32,
        "version": text,
        "verified": False,
        "patched": False,
        "num_annotated_images": 10,
    }
    card = dataset_card.render_card(written, provenance, repo_id="ORG/NAME")
    assert_markdown_inert(card.split("---", 2)[2])

"""The one escaper of text (`dataset_script.escape`) and the one validator of numbers read back
(`results_document.checked_metric`)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from imagenet_multilabel.dataset_script import dataset_card, dataset_rows, escape
from imagenet_multilabel.dataset_script.hub import names as hub_names
from imagenet_multilabel.eval_cli.scores import results_document
from markdown_it import MarkdownIt


@pytest.mark.parametrize(
    ("model", "public"),
    [
        ("timm/resnet50.a1_in1k", "timm/resnet50.a1_in1k"),
        ("/home/alice/models/my_vit/", "my_vit"),
        ("../checkpoints/run 1", "run 1"),
        ("./ckpt", "ckpt"),
    ],
)
def test_public_model_name_is_a_hub_id_or_a_folder_name(model: str, public: str) -> None:
    assert escape.public_model_name(model) == public


def test_an_existing_relative_folder_is_local(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert escape.public_model_name("org/name") == "name"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_that_start_a_formula_are_quoted(start: str) -> None:
    assert escape.csv_cell(f"{start}1+1") == f"'{start}1+1"
    assert escape.csv_cell(f"a{start}1") == f"a{start}1"


@pytest.mark.parametrize("blank", [" ", "  ", "\u3000", " \t"])
def test_csv_cells_with_blanks_before_a_formula_are_quoted(blank: str) -> None:
    """Spreadsheets skip leading blanks: " =1+1" ran as a formula."""
    assert escape.csv_cell(f"{blank}=1+1") == f"'{blank}=1+1"
    assert escape.csv_cell(f"{blank}1+1") == f"{blank}1+1"


def test_csv_cells_lose_control_and_reordering_characters() -> None:
    assert escape.csv_cell("a\x00b\x07c") == "a b c"
    assert escape.csv_cell("txt\u202eexe") == "txt\ufffdexe"
    assert escape.csv_cell("two\nlines\tand tab") == "two\nlines\tand tab"


LONE_SURROGATE = "\udcff"  # what json.loads makes of the escape "\udcff"


def test_lone_surrogates_become_replacement_characters_everywhere() -> None:
    """They used to fail writing a card (UnicodeEncodeError) and drawing a plot (TypeError)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    for escaper in (escape.markdown_text, escape.csv_cell, escape.plot_text):
        assert escaper(f"a{LONE_SURROGATE}b") == "a\ufffdb"
        escaper(f"a{LONE_SURROGATE}b").encode("utf-8")
    escape.preformatted_html(LONE_SURROGATE).encode("utf-8")
    figure = Figure()
    FigureCanvasAgg(figure)
    figure.text(0, 0, escape.plot_text(f"model {LONE_SURROGATE}"))
    figure.canvas.draw()


@pytest.mark.parametrize("hidden", ["\u202e", "\u2066", "\u200f", "\x00", "\x07", "\x9b"])
def test_markdown_text_shows_no_control_or_reordering_character(hidden: str) -> None:
    shown = escape.markdown_text(f"txt{hidden}exe")
    assert hidden not in shown
    assert hidden not in escape.preformatted_html(f"txt{hidden}exe")


def test_bare_urls_are_not_made_links() -> None:
    """A reviewer's note "see http://evil.example" was a live link on the card: autolinkers (GFM,
    linkify) look for "://" and "www." in the source, which the escaper breaks with a backslash
    (or a character reference) that the renderer shows as the text itself."""
    renderer = MarkdownIt("commonmark")
    for text in ("see http://evil.example/x now", "see WWW.evil.example now"):
        escaped = escape.markdown_text(text)
        assert not any(link in escaped.lower() for link in ("://", "//", "www."))
        assert renderer.render(escaped) == f"<p>{text}</p>\n"
    assert "://" not in escape.preformatted_html("http://evil.example")


def test_mathtext_is_never_parsed() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    raw = r"a $\frac{1}{$ b"
    for text, fails in ((raw, True), (escape.plot_text(raw), False)):
        figure = Figure()
        FigureCanvasAgg(figure)
        figure.text(0, 0, text)
        if fails:
            with pytest.raises(ValueError):
                figure.canvas.draw()
        else:
            figure.canvas.draw()


def test_markdown_text_leaves_no_markup() -> None:
    assert escape.markdown_text("[a](b) *c*|`d`\n<e>") == r"\[a\](b) \*c\*\|\`d\` &lt;e&gt;"


@pytest.mark.parametrize(
    ("value", "key", "expected"),
    [
        (math.nan, "multilabel_accuracy", "expected an accuracy"),
        (math.inf, "top1_accuracy", "expected an accuracy"),
        (True, "multilabel_accuracy", "expected a number"),
        ("0.5", "multilabel_accuracy", "expected a number"),
        (-3.0, "multilabel_accuracy", "expected an accuracy"),
        (69, "imagenet_m_correct", "0..68"),
        (2.0, "num_scored", "expected a count"),
        (50_001, "num_scored", "0..50,000"),
        (10**300, "limit", None),
    ],
)
def test_checked_metric_refuses_what_is_not_a_number_in_range(value, key, expected) -> None:
    if expected is None:
        assert results_document.checked_metric(value, key, "r.json") == value
        return
    with pytest.raises(results_document.MetricValueError, match=expected) as error:
        results_document.checked_metric(value, key, "r.json")
    assert "'r.json'" in str(error.value) and repr(key) in str(error.value)


def test_checked_metric_bounds_a_count_by_its_total() -> None:
    assert results_document.checked_metric(10, "imagenet_m_correct", "r.json", most=10) == 10
    with pytest.raises(results_document.MetricValueError, match="0..10"):
        results_document.checked_metric(11, "imagenet_m_correct", "r.json", most=10)


def test_the_dataset_card_shows_hostile_patch_fields_as_plain_text() -> None:
    """A patch's file name, reviewer and created are the patch author's words: in the card's
    table they add no link, image, emphasis, code, HTML, line break or cell (was: jinja's ``e``
    and a ``|`` replacement, which let links, emphasis, backticks and line breaks through)."""
    hostile = {
        "file": "[x](https://evil.example)`a`.json",
        "sha256": "ab" * 32,
        "reviewer": "**R** | <b>bold</b>\n| injected | row |",
        "created": "_2026_ ![i](https://evil.example/i.png) ~~x~~",
        "num_decisions": 1,
    }
    split = dataset_rows.SplitFiles(num_examples=10, num_bytes=10, file_bytes=10)
    written = {hub_names.LABELS_CONFIG: {"validation": split, "imagenet_m": split}}
    provenance = {
        "source": "local file a.json",
        "sha256": "cd" * 32,
        "version": "3.0.0+patch.abababab",
        "verified": False,
        "base_verified": True,
        "patched": True,
        "num_annotated_images": 10,
        "patches": [hostile],
    }
    card = dataset_card.render_card(written, provenance, repo_id="ORG/NAME")
    row = [line for line in card.splitlines() if hostile["sha256"] in line]
    assert len(row) == 1  # the line break made no second line
    html = MarkdownIt("commonmark").enable("table").render(card.split("---", 2)[2])
    (table_row,) = [
        row for row in re.findall(r"<tr>.*?</tr>", html, re.S) if hostile["sha256"] in row
    ]
    assert table_row.count("<td>") == 5
    for markup in ("<a ", "<img", "<em>", "<strong>", "<s>", "<b>", "<br"):
        assert markup not in table_row
    assert table_row.count("<code>") == 1  # the sha256's own
    assert "[x](https://evil.example)`a`.json" in table_row
    assert "**R** | &lt;b&gt;bold&lt;/b&gt; | injected | row |" in table_row

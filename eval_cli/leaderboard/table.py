"""The leaderboard's table: its columns, each row's cells as plain text, and the table written in
each format (`TABLE_FORMATS`, and ``leaderboard.md`` with the notes, the flags and the plots),
every text from a results file escaped for its format (`dataset_script.escape`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ...dataset_script import escape, writers
from ...dataset_script.escape import markdown_format
from ...dataset_script.taxonomy import experts
from ...dataset_script.taxonomy.categories import CATEGORIES
from ...metric import label_sets
from ..scores import results
from .category_bars import COUNTED_WITHOUT_IMAGES
from .entries import MISTAKE_SOURCES, SEVERITIES, Entry, Leaderboard
from .plots import category_column

# The table's files beside leaderboard.md, each the table in one format (docs/EXTENDING.md, "Add
# an output format").
TABLE_FORMATS = (
    # its file name, the escaper of its cells (`dataset_script.escape`), its writer
    ("leaderboard.csv", escape.csv_cell, writers.csv_document),
)
TABLE_FILES = (*(name for name, _, _ in TABLE_FORMATS), "leaderboard.md")
# (csv column, markdown header) of every column, in order.
COLUMNS = (
    ("rank", "#"),
    ("model", "Model"),
    ("revision", "Revision"),
    *((metric.column.name, metric.column.header) for _, metric in results.COLUMN_METRICS),
    *(
        (f"rejected_{source}", f"Rejected: {source.replace('-', ' ')}")
        for source in MISTAKE_SOURCES
    ),
    *((f"expert_{severity}", f"Expert: {severity}") for severity in SEVERITIES),
    *((category_column(c), f"Auto: {c.replace('-', ' ')}") for c in CATEGORIES),
    ("num_outside_label_set", "Outside label set"),
    ("labels_version", "Labels"),
    ("flags", "Flags"),
    ("source", "Results"),
)
TEXT_COLUMNS = {"model", "revision", "labels_version", "flags", "source"}
NUMERIC_COLUMNS = {name for name, _ in COLUMNS} - TEXT_COLUMNS
NOT_AVAILABLE = "n/a"  # an automatic category whose image rule did not run for the result


def row_cells(rank: int | str, entry: Entry) -> dict[str, str]:
    """One row as plain text, keyed by csv column; empty where the result lacks the number.
    Escaped by the writer of each format (`write_csv`, `markdown`)."""
    block = entry.mistakes or {
        "by_source": {},
        "severities": {},
        "auto_categories": {},
        "auto_not_available": (),
    }
    outside = entry.value("validation", "num_outside_label_set")
    return {
        "rank": str(rank),
        "model": entry.model,
        "revision": entry.revision or "",
        **{
            metric.column.name: results.column_cell(entry.metrics.get(split, {}), metric)
            for split, metric in results.COLUMN_METRICS
        },
        **{
            f"rejected_{source}": str(block["by_source"].get(source, ""))
            for source in MISTAKE_SOURCES
        },
        **{
            f"expert_{severity}": str(block["severities"].get(severity, ""))
            for severity in SEVERITIES
        },
        **{
            category_column(category): NOT_AVAILABLE
            if category in block["auto_not_available"]
            else str(block["auto_categories"].get(category, ""))
            for category in CATEGORIES
        },
        "num_outside_label_set": "" if outside is None else str(outside),
        "labels_version": entry.labels_version,
        "flags": ", ".join(entry.flags),
        "source": entry.source,
    }


def table_rows(board: Leaderboard) -> list[dict[str, str]]:
    ranked = [row_cells(rank, entry) for rank, entry in enumerate(board.entries, start=1)]
    return ranked + [row_cells("ref", entry) for entry in board.references]


def table_file(
    board: Leaderboard,
    escaper: Callable[[str], str],
    writer: Callable[[list[str], list[list[str]]], str],
) -> str:
    """The table in one of `TABLE_FORMATS`: its column names and every cell escaped for the
    format (`dataset_script.escape`), then written by the format's writer."""
    return writer(
        [escaper(name) for name, _ in COLUMNS],
        [[escaper(cells[name]) for name, _ in COLUMNS] for cells in table_rows(board)],
    )


def markdown(board: Leaderboard, plot_files: Sequence[str]) -> str:
    """The table (percentages), the notes, what the flags mean and the plots; every text from
    a results file escaped (`escape.markdown_text`)."""
    blocks = [
        markdown_format("# ImageNet multi-label leaderboard"),
        markdown_format(
            "Ranked by multi-label accuracy (per class, on the annotated validation images). {}. "
            "Percentages. Rejected: the top-1 predictions the multi-label score rejects, by "
            "source; Expert: the paper's experts' severity of those they reviewed; Auto: all of "
            "them by automatic category (docs/TAXONOMY.md), {} where that category's image rule "
            "did not run (its mistakes are counted under the later rules that ran: {}); Outside "
            "label set: top-1 predictions in none of the image's label sets.",
            markdown_format(
                "; ".join(
                    "{}: {}"
                    + (" (`--split " + split + "`)" if split == label_sets.FULL_SPLIT else "")
                    for split, _ in results.COLUMN_METRICS
                ),
                *(
                    text
                    for _, metric in results.COLUMN_METRICS
                    for text in (metric.column.header, metric.column.legend)
                ),
            ),
            NOT_AVAILABLE,
            COUNTED_WITHOUT_IMAGES,
        ),
        writers.markdown_table(
            [escape.markdown_text(header) for _, header in COLUMNS],
            (
                [escape.markdown_text(cells[name]) for name, _ in COLUMNS]
                for cells in table_rows(board)
            ),
            right_aligned=[name in NUMERIC_COLUMNS for name, _ in COLUMNS],
        ),
    ]
    if board.references:
        blocks.append(
            markdown_format(
                "ref: the paper's own models, their predictions rebuilt from its mistake metadata "
                f"({experts.SOURCE_REPOSITORY}) and scored by this toolkit; no top-1 on all "
                "50,000 images there."
            )
        )
    blocks.append(
        markdown_format(
            "Flags: partial (fewer images or classes than the split), incomplete (images without "
            "a prediction), unverified (labels whose sha256 is not the published one), patched "
            "(label patches applied). Flagged rows are not official numbers and are drawn hollow."
        )
    )
    if board.notes:
        blocks.append(markdown_format("\n".join("- Note: {}" for _ in board.notes), *board.notes))
    blocks += [markdown_format(f"![{Path(name).stem}]({name})") for name in plot_files]
    return writers.markdown_document(blocks)

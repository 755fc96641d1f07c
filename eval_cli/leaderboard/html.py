"""``leaderboard.html``: the leaderboard as one page to browse, offline.

One self-contained file (no network, no library: the page's own script and style, package data in
``page_assets/``, inlined): the table of `table.COLUMNS` (the same table as leaderboard.md, so a
new column appears here by itself) plus each model's family and pretraining data (`families`),
sortable by any column, searchable by model, filterable by family, pretraining data and official /
flagged; the paper's two plots drawn from the same `accuracy_plots.plot_layout` as the PNGs (axes,
ticks, reference lines), where hovering a point names its model and clicking it selects its row
(and a row its point); the mistakes stacked by automatic category, drawn from the table's own
columns for the results `category_bars.category_entries` picks (those passing the filters); links
to each model's results file and predictions.

Every text from a results file is outside text: the data travel as JSON in a
``<script type="application/json">`` block with no ``<`` in it (`escape.html_json`, filled in
by `writers.html_page`), and the
script puts every text into the page with ``textContent``, never as HTML. The page's Content
Security Policy allows only its own script and style (by their sha256), so even markup that got
in could run nothing. Links are relative to the page (percent-encoded: no ``javascript:``) or
addresses on the Hub.
"""

from __future__ import annotations

import base64
import hashlib
import os
import urllib.parse
from importlib import resources
from pathlib import Path
from typing import Any

from ...dataset_script import escape, writers
from ..analysis.review import page_script
from ..scores.results_dataset import ResultsFile, predictions_beside
from .accuracy_plots import PLOTS, plot_layout
from .category_bars import category_entries
from .entries import Leaderboard
from .plots import category_plot
from .table import COLUMNS, NUMERIC_COLUMNS, table_rows

_ASSETS = "page_assets"
# The page's columns: the table's, with the two the page filters by after the model's revision.
FACT_COLUMNS = (("family", "Family"), ("pretraining", "Pretraining data"))
LINK_COLUMN = "source"  # its cell links to the results file (and the predictions, if known)


def page_columns() -> list[dict[str, Any]]:
    """The page's columns in order: name, header, whether numeric (sorted as numbers)."""
    after = [name for name, _ in COLUMNS].index("revision") + 1
    columns = [*COLUMNS[:after], *FACT_COLUMNS, *COLUMNS[after:]]
    return [
        {"name": name, "header": header, "numeric": name in NUMERIC_COLUMNS}
        for name, header in columns
    ]


def page_data(board: Leaderboard, output_dir: Path) -> dict[str, Any]:
    """What the page's script reads: the columns, one row per result (then the references),
    the plots and the notes. Links are made relative to ``output_dir``."""
    columns = page_columns()
    entries = [*board.entries, *board.references]
    row_of = {id(entry): index for index, entry in enumerate(entries)}
    rows = []
    for cells, entry in zip(table_rows(board), entries, strict=True):
        cells = {**cells, "family": entry.family, "pretraining": entry.pretraining}
        results, predictions = _links(entry.file, output_dir)
        rows.append(
            {
                "cells": [cells[column["name"]] for column in columns],
                "status": "reference"
                if entry.reference
                else ("official" if entry.official else "flagged"),
                "results": results,
                "predictions": predictions,
            }
        )
    return {
        "columns": columns,
        "rows": rows,
        "plots": [_plot(board, which, row_of) for which in PLOTS],
        "category_plot": {
            **category_plot(board),
            "rows": [row_of[id(entry)] for entry in category_entries(board)],
        },
        "notes": list(board.notes),
        "link_column": LINK_COLUMN,
    }


def _plot(board: Leaderboard, which: str, row_of: dict[int, int]) -> dict[str, Any]:
    layout = plot_layout(board, which)
    return {
        "id": which,
        "title": layout.title,
        "x_label": layout.x_label.split("\n"),
        "y_label": layout.y_label,
        "x_view": list(layout.x_view),
        "y_view": list(layout.y_view),
        "x_ticks": layout.x_ticks,
        "y_ticks": layout.y_ticks,
        "diagonal": layout.diagonal,
        "points": [
            [row_of[id(entry)], float(x), float(y)]
            for entry, x, y in zip(layout.drawn, layout.xs, layout.ys, strict=True)
        ],
        "references": [
            {
                "row": row_of[id(reference.entry)],
                "level": reference.level,
                "legend": reference.legend,
            }
            for reference in layout.references
        ],
    }


def _links(file: ResultsFile | None, output_dir: Path) -> tuple[str | None, str | None]:
    """The links of a result's file and predictions: Hub addresses, or paths relative to the
    page; (None, None) for a paper reference."""
    if file is None:
        return None, None
    predictions = predictions_beside(file)
    if file.url is not None:
        return file.url, str(predictions) if predictions is not None else None
    return _relative(file.path, output_dir), (
        _relative(Path(predictions), output_dir) if predictions is not None else None
    )


def _relative(path: Path, output_dir: Path) -> str:
    """``path`` as a link from a page in ``output_dir``: relative, its bytes percent-encoded (a
    file named ``javascript:x`` stays a file; a name in another encoding keeps its bytes)."""
    relative = os.path.relpath(path.resolve(), output_dir.resolve())
    return urllib.parse.quote(os.fsencode(Path(relative).as_posix()))


def _csp_hash(text: str) -> str:
    return (
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"
    )


def render_page(board: Leaderboard, output_dir: str | os.PathLike) -> str:
    """The whole page, its script, style and data inlined."""
    assets = resources.files(__package__).joinpath(_ASSETS)
    template = assets.joinpath("index.html").read_text(encoding="utf-8")
    style = assets.joinpath("board.css").read_text(encoding="utf-8")
    script = page_script(assets.joinpath("board.js").read_text(encoding="utf-8"))
    policy = (
        f"default-src 'none'; style-src {_csp_hash(style)}; script-src {_csp_hash(script)}; "
        "img-src data:"
    )
    return writers.html_page(
        template,
        escape.html_json(page_data(board, Path(output_dir))),
        data_marker="{{DATA}}",
        assets={"{{POLICY}}": policy, "{{STYLE}}": style, "{{SCRIPT}}": script},
    )

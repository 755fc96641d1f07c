"""The leaderboard's plots as files and as the page draws them: every plot (`ALL_PLOTS`: the
paper's two, `accuracy_plots`, and the mistakes by automatic category, `category_bars`) rendered
as PNG and SVG (`render_plot`), and what the page and the table share with the category plot
(`category_plot`, `category_column`).
"""

from __future__ import annotations

import io
from typing import Any

from ...dataset_script.taxonomy.categories import CATEGORIES, family
from .accuracy_plots import PLOTS, plot_figure
from .category_bars import (
    CATEGORY_COLORS,
    CATEGORY_TITLE,
    CATEGORY_X_LABEL,
    MAX_BARS,
    NOT_JUDGED_NOTE,
    categories_figure,
)
from .entries import Leaderboard
from .plot_texts import plot_title

CATEGORY_PLOT = "error_categories"
ALL_PLOTS = (*PLOTS, CATEGORY_PLOT)
PLOT_FORMATS = ("png", "svg")


def render_plot(board: Leaderboard, which: str) -> dict[str, bytes]:
    """One of ``ALL_PLOTS`` as PNG and SVG bytes, by file name."""
    import matplotlib

    figure = categories_figure(board) if which == CATEGORY_PLOT else plot_figure(board, which)
    files = {}
    # SVG text stays text: searchable, selectable, and faster to write than glyph outlines.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        for suffix in PLOT_FORMATS:
            buffer = io.BytesIO()
            figure.savefig(buffer, format=suffix)
            files[f"{which}.{suffix}"] = buffer.getvalue()
    return files


def category_column(category: str) -> str:
    """The table's column of an automatic category's counts (`table.COLUMNS`)."""
    return f"auto_{category}"


def category_plot(board: Leaderboard) -> dict[str, Any]:
    """What a page needs to draw the category plot as `categories_figure` does: the categories in
    order with their family, colour and table column, the bars' limit, the texts."""
    return {
        "id": CATEGORY_PLOT,
        "title": plot_title(board, CATEGORY_TITLE),
        "x_label": CATEGORY_X_LABEL,
        "max_bars": MAX_BARS,
        "not_judged_note": NOT_JUDGED_NOTE,
        "categories": [
            {
                "name": category,
                "family": family(category),
                "color": CATEGORY_COLORS[category],
                "column": category_column(category),
            }
            for category in CATEGORIES
        ],
    }

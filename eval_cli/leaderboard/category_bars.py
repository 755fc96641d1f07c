"""Peychev et al.'s plot: each model's mistakes as one horizontal bar stacked by automatic
category, the models sorted by top-1 (`categories_figure`), and the results it can draw
(`category_entries`).
"""

from __future__ import annotations

import numpy as np

from ...dataset_script.escape import plot_text
from ...dataset_script.taxonomy.categories import (
    CATEGORIES,
    RULES_WITHOUT_IMAGES,
    counted_under,
    family,
)
from ...dataset_script.writers import draw_text
from .entries import Entry, Leaderboard
from .plot_texts import fitted_title, plot_title, shortened

# A colour per automatic category: the minor family in blues and greens, the explainable one in
# oranges, model failures red (colour-blind safe: Okabe-Ito's palette).
CATEGORY_COLORS = {
    "overlapping-classes": "#56B4E9",
    "fine-grained": "#0072B2",
    "fine-grained-oov": "#009E73",
    "spurious-correlation": "#E69F00",
    "non-prototypical": "#F0E442",
    "model-failure": "#D55E00",
}


BAR_NAME_WIDTH = 44  # characters of a model's name beside its bar (the table has it whole)


MAX_BARS = 60  # bars, highest top-1 first: more would not be legible (the table has them all)


CATEGORY_TITLE = "Mistakes by automatic category, models by top-1 (highest at the top)"


CATEGORY_X_LABEL = "Mistakes: rejected top-1 predictions on the annotated validation images"


# Where each image rule's mistakes are counted when the image rules did not run, read from the
# taxonomy's rule order (`counted_under`), e.g. "fine-grained-oov under spurious-correlation or
# model-failure; non-prototypical under model-failure".
COUNTED_WITHOUT_IMAGES = "; ".join(
    f"{category} under {' or '.join(later)}"
    for category, later in counted_under(RULES_WITHOUT_IMAGES).items()
)


NOT_JUDGED_NOTE = (
    "* image rules did not run: their mistakes are counted under later rules "
    f"({COUNTED_WITHOUT_IMAGES})"
)


def category_entries(board: Leaderboard) -> list[Entry]:
    """What the category plot can draw, highest top-1 first: the plotted results (one label
    version, as the paper's plots) and paper references that have automatic categories."""
    drawn = [
        entry
        for entry in [*board.plotted, *board.plotted_references]
        if entry.mistakes and entry.mistakes["auto_categories"]
    ]
    return sorted(drawn, key=lambda entry: entry.x if entry.x is not None else -1.0, reverse=True)


def categories_figure(board: Leaderboard):
    """Each plotted result's (and paper reference's) rejected top-1 predictions on the annotated
    images as one horizontal bar stacked by automatic category, sorted by top-1 (highest at the
    top), as Peychev et al.'s figures: the ``MAX_BARS`` with the highest top-1; a result whose
    image rules did not run is starred, one that is not official hatched. A Figure sized to its
    bars: 30 models stay legible."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    drawable = category_entries(board)
    drawn = drawable[:MAX_BARS][::-1]  # bottom to top
    figure = Figure(figsize=(11, 2.6 + 0.3 * max(len(drawn), 3)), dpi=100)
    axes = figure.add_axes((0.36, 0.14, 0.6, 0.72))
    positions = np.arange(len(drawn))
    left = np.zeros(len(drawn))
    for category in CATEGORIES:
        counts = np.array([e.mistakes["auto_categories"].get(category, 0) for e in drawn], float)
        for official in (True, False):
            chosen = [i for i, entry in enumerate(drawn) if entry.official == official]
            axes.barh(
                positions[chosen],
                counts[chosen],
                left=left[chosen],
                height=0.72,
                color=CATEGORY_COLORS[category],
                edgecolor="white" if official else "0.25",
                linewidth=0.5,
                hatch=None if official else "//",
            )
        left += counts
    axes.set_yticks(positions)
    draw_text(axes.set_yticklabels, [plot_text(_bar_label(entry)) for entry in drawn], fontsize=8)
    axes.set_ylim(-0.6, max(len(drawn), 1) - 0.4)
    axes.set_xlim(0, max(left.max(initial=0.0) * 1.04, 1.0))
    draw_text(axes.set_xlabel, plot_text(CATEGORY_X_LABEL))
    axes.grid(True, axis="x", color="0.9")
    axes.set_axisbelow(True)
    handles = [
        draw_text(
            Patch,
            color=CATEGORY_COLORS[category],
            label=plot_text(f"{category} ({family(category)})"),
        )
        for category in CATEGORIES
    ]
    notes = []
    if any(not entry.official for entry in drawn):
        handles.append(
            draw_text(
                Patch,
                facecolor="white",
                edgecolor="0.25",
                hatch="//",
                label=plot_text("flagged (see the table)"),
            )
        )
    if any(entry.mistakes["auto_not_available"] for entry in drawn):
        notes.append(NOT_JUDGED_NOTE)
    if len(drawable) > len(drawn):
        notes.append(
            f"the {len(drawn)} results with the highest top-1 of {len(drawable)}; every result "
            "is in the table"
        )
    if not drawn:
        notes.append("no result has automatic mistake categories (analyse them with this version)")
    figure.legend(
        handles=handles, loc="upper center", ncol=4, fontsize=8, bbox_to_anchor=(0.5, 0.995)
    )
    height = figure.get_figheight()
    legend_height = 0.22 * ((len(handles) + 3) // 4) + 0.1  # inches: rows of 4 entries
    title = plot_title(board, CATEGORY_TITLE)
    title_height = fitted_title(axes, title, FigureCanvasAgg(figure).get_renderer())
    top = 1 - (legend_height + (title_height + 14) / figure.dpi) / height
    bottom = (0.75 + 0.2 * len(notes)) / height
    axes.set_position((0.36, bottom, 0.6, top - bottom))
    for number, note in enumerate(notes):
        draw_text(figure.text, 0.01, 0.01 + 0.2 * number / height, plot_text(note), fontsize=7)
    return figure


def _bar_label(entry: Entry) -> str:
    """A bar's name: the model (shortened), its top-1 and a star where image rules did not run."""
    top1 = "" if entry.x is None else f" ({100 * entry.x:.1f}%)"
    star = " *" if entry.mistakes and entry.mistakes["auto_not_available"] else ""
    return f"{shortened(entry.model, BAR_NAME_WIDTH)}{top1}{star}"

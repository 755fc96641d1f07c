"""The paper's two plots: multi-label accuracy against original top-1 (with y = x) and ImageNet-M
correct against original top-1, official results filled and flagged ones hollow, the paper's
reference models as lines; labels placed so that none overlaps another, a marker, a line or the
corner note. What they draw and where (`plot_layout`) is decided once, for the PNG/SVG figure
(`plot_figure`) and the leaderboard page alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...dataset_script import escape
from ...dataset_script.escape import plot_text
from ...dataset_script.writers import draw_text
from ...metric import label_sets
from .entries import Entry, Leaderboard
from .plot_texts import fitted_title, plot_title, shortened

PLOTS = ("multilabel_vs_top1", "imagenet_m_vs_top1")  # the paper's: accuracy against top-1


NAMED_POINTS = 10  # up to this many points carry their model's name, more carry numbers


KEYED_POINTS = 40  # up to this many numbered points get a key beside the plot


MAX_LABELS = 60  # labels per plot, best-ranked first: more is unreadable, and text is slow


NAME_WIDTH = 80  # characters of a model's name beside its point (the table has it whole)


VIEW_MARGIN = 0.08  # of the shown range, beyond it on each side: room for a label at an end


MIN_COUNT_SPAN = 6  # images: equal ImageNet-M counts still get a readable integer axis


def _place_labels(
    points: np.ndarray,
    texts: Sequence[str],
    *,
    size_px: float,
    bounds: np.ndarray,
    obstacles: np.ndarray | None = None,
    limit: int | None = None,
) -> list[tuple[float, float] | None]:
    """Display-space offsets for each text that overlap no other label, no marker and no
    ``obstacles`` (boxes (x0, y0, x1, y1): reference lines, the corner note), or None when every
    candidate position is taken or ``limit`` labels are placed already. Greedy, in the given
    order (callers pass the best-ranked first)."""
    width = np.array([len(text) * 0.62 * size_px + 4 for text in texts])
    height = 1.25 * size_px
    marker = 5.0
    taken = [np.column_stack([points - marker, points + marker])]  # (x0, y0, x1, y1) per marker
    if obstacles is not None and len(obstacles):
        taken.append(np.asarray(obstacles, dtype=float))
    directions = [(1, 0), (0, 1), (0, -1), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1)]
    candidates = [(dx * radius, dy * radius) for radius in (8, 18, 30) for dx, dy in directions]
    placed: list[tuple[float, float] | None] = [None] * len(texts)
    num_placed = 0
    for index, (x, y) in enumerate(points):
        if limit is not None and num_placed >= limit:
            break
        boxes = np.concatenate(taken)
        for dx, dy in candidates:
            # box of the text anchored left/right/center by the direction
            x0 = x + dx if dx > 0 else x + dx - width[index] if dx < 0 else x - width[index] / 2
            y0 = y + dy if dy > 0 else y + dy - height if dy < 0 else y - height / 2
            box = np.array([x0, y0, x0 + width[index], y0 + height])
            if box[0] < bounds[0] or box[1] < bounds[1] or box[2] > bounds[2] or box[3] > bounds[3]:
                continue
            overlap = (
                (boxes[:, 0] < box[2])
                & (box[0] < boxes[:, 2])
                & (boxes[:, 1] < box[3])
                & (box[1] < boxes[:, 3])
            )
            if not overlap.any():
                placed[index] = (dx, dy)
                taken.append(box[None, :])
                num_placed += 1
                break
    return placed


def _y(entry: Entry, imagenet_m: bool) -> float | None:
    """The plotted y: ImageNet-M images correct, or multi-label accuracy in percent."""
    if imagenet_m:
        return entry.value("imagenet_m", "imagenet_m_correct")
    accuracy = entry.value("validation", "multilabel_accuracy")
    return None if accuracy is None else 100 * accuracy


def _limits(
    values: Sequence[float], low: float, high: float, min_span: float
) -> tuple[float, float]:
    """The range to show around ``values``: padded, within ``low``..``high``, at least
    ``min_span`` wide (equal values still get a readable axis)."""
    if not len(values):
        return low, high
    smallest, largest = min(values), max(values)
    pad = max(min_span / 2, 0.08 * (largest - smallest))
    start, end = max(low, smallest - pad), min(high, largest + pad)
    if end - start < min_span:  # clamped at one end: widen at the other
        start, end = (start, min(high, start + min_span)) if start == low else (end - min_span, end)
    return start, end


def _axis_view(start: float, end: float, *, integer: bool) -> tuple[tuple[float, float], list]:
    """The view of ``start``..``end``: with a margin beyond it, so that points at its ends are
    drawn whole, and ticks only within it (integers for counts: no tick at -1 or past the
    split's size)."""
    from matplotlib.ticker import MaxNLocator

    margin = VIEW_MARGIN * (end - start)
    ticks = MaxNLocator(nbins=8, integer=integer, steps=[1, 2, 5, 10]).tick_values(start, end)
    inside = [float(tick) for tick in ticks if start - 1e-9 <= tick <= end + 1e-9]
    return (start - margin, end + margin), inside


REFERENCE_COLORS = ("tab:red", "tab:green", "tab:purple")


X_LABEL = (
    "Top-1 on the original labels, annotated validation images, per class (%)\n"
    "(the images multi-label accuracy uses; top-1 on all 50,000 images is in the table)"
)


FLAGGED_LEGEND = "flagged: partial, incomplete, unverified or patched labels (see the table)"


@dataclass(frozen=True)
class PlotReference:
    """A paper reference model drawn as a horizontal line at ``level``, and its legend text."""

    entry: Entry
    level: float
    legend: str


@dataclass(frozen=True)
class PlotLayout:
    """What one of ``PLOTS`` draws and where, decided once for the PNG/SVG figure and the
    leaderboard page alike: the points (``drawn``, at ``xs``, ``ys``), the reference lines, the
    views (data ranges with margins) and ticks of both axes, the diagonal y = x, the texts."""

    which: str
    drawn: list[Entry]
    xs: np.ndarray
    ys: np.ndarray
    references: list[PlotReference]
    x_view: tuple[float, float]
    y_view: tuple[float, float]
    x_ticks: list[float]
    y_ticks: list[float]
    diagonal: bool
    title: str
    x_label: str
    y_label: str


def plot_layout(board: Leaderboard, which: str) -> PlotLayout:
    """The layout of plot ``which`` (one of ``PLOTS``) for ``board``'s plotted results."""
    imagenet_m = which == "imagenet_m_vs_top1"
    drawn = [e for e in board.plotted if _y(e, imagenet_m) is not None]
    xs = np.array([100 * entry.x for entry in drawn], dtype=float)
    ys = np.array([_y(entry, imagenet_m) for entry in drawn], dtype=float)
    lines = [
        (reference, _y(reference, imagenet_m))
        for reference in board.plotted_references
        if _y(reference, imagenet_m) is not None
    ]
    levels = [level for _, level in lines]
    if imagenet_m:
        totals = {e.value("imagenet_m", "imagenet_m_total") for e in drawn} - {None}
        total = max(totals, default=label_sets.IMAGENET_M_SIZE)
        x_view, x_ticks = _axis_view(*_limits(xs, 0.0, 100.0, 2.0), integer=False)
        y_view, y_ticks = _axis_view(
            *_limits([*ys, *levels], 0, total, MIN_COUNT_SPAN), integer=True
        )
        of = f"of {total}" if len(totals) <= 1 else "of the split's images"
        y_label = f"ImageNet-M images correct ({of})"
    else:  # one square view, so that y = x is the diagonal (x and y are on the same images)
        x_view, x_ticks = _axis_view(*_limits([*xs, *ys, *levels], 0.0, 100.0, 2.0), integer=False)
        y_view, y_ticks = x_view, x_ticks
        y_label = "Multi-label accuracy, per class (%)"
    references = []
    for reference, level in lines:
        shown = (
            f"{level}/{reference.value('imagenet_m', 'imagenet_m_total')} correct"
            if imagenet_m
            else f"{level:.2f}%"
        )
        legend = f"{reference.model}: {shown} (from the paper's artifacts, no top-1 there)"
        references.append(PlotReference(reference, level, legend))
    return PlotLayout(
        which=which,
        drawn=drawn,
        xs=xs,
        ys=ys,
        references=references,
        x_view=x_view,
        y_view=y_view,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        diagonal=not imagenet_m,
        title=plot_title(
            board,
            f"{'ImageNet-M images correct' if imagenet_m else 'Multi-label accuracy'} vs. "
            "original top-1",
        ),
        x_label=X_LABEL,
        y_label=y_label,
    )


def plot_figure(board: Leaderboard, which: str):
    """One of ``PLOTS`` as a matplotlib Figure, laid out and labelled."""
    # A Figure without pyplot: no GUI backend, no global figure registry, a faster import; it
    # renders with the Agg canvas (PNG) and the SVG one.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    layout = plot_layout(board, which)
    drawn, xs, ys = layout.drawn, layout.xs, layout.ys
    rank = {id(entry): position for position, entry in enumerate(board.entries, start=1)}
    keyed = NAMED_POINTS < len(drawn) <= KEYED_POINTS
    figure = Figure(figsize=(12 if keyed else 9, 7.5), dpi=100)
    axes = figure.add_axes((0.08, 0.27, 0.62 if keyed else 0.88, 0.66))
    for official in (True, False):
        chosen = [i for i, entry in enumerate(drawn) if entry.official == official]
        axes.scatter(
            xs[chosen],
            ys[chosen],
            s=36,
            facecolors="tab:blue" if official else "white",
            edgecolors="tab:blue",
            linewidths=1.3,
            zorder=3,
        )
    handles = [
        draw_text(
            Line2D, [], [], marker="o", color="tab:blue", linestyle="", label=plot_text("result")
        ),
        draw_text(
            Line2D,
            [],
            [],
            marker="o",
            markerfacecolor="white",
            color="tab:blue",
            linestyle="",
            label=plot_text(FLAGGED_LEGEND),
        ),
    ]
    axes.set_xlim(*layout.x_view)
    axes.set_xticks(layout.x_ticks)
    axes.set_ylim(*layout.y_view)
    axes.set_yticks(layout.y_ticks)
    if layout.diagonal:
        axes.plot(layout.x_view, layout.x_view, color="0.55", linewidth=1, zorder=1)
        handles.append(draw_text(Line2D, [], [], color="0.55", label=plot_text("y = x")))
    x_low, x_high = layout.x_view
    for number, reference in enumerate(layout.references):
        color = REFERENCE_COLORS[number % len(REFERENCE_COLORS)]
        axes.axhline(reference.level, color=color, linestyle="--", linewidth=1.2, zorder=1)
        handles.append(
            draw_text(
                Line2D,
                [],
                [],
                color=color,
                linestyle="--",
                label=plot_text(reference.legend),
            )
        )
    draw_text(axes.set_xlabel, escape.plot_lines(layout.x_label.split("\n")))
    draw_text(axes.set_ylabel, plot_text(layout.y_label))
    axes.grid(True, color="0.9", zorder=0)
    # The legend goes below the axes, which end above it and below the title; then the layout
    # is final.
    title_height = fitted_title(axes, layout.title, FigureCanvasAgg(figure).get_renderer())
    top = 1 - (title_height + 20) / figure.bbox.height  # the title's pad (6 pt) and a margin
    bottom = 0.13 + 0.03 * len(handles)
    axes.set_position((0.08, bottom, 0.62 if keyed else 0.88, top - bottom))
    figure.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.08, 0.01), fontsize=8)
    lines = [((x_low, r.level), (x_high, r.level)) for r in layout.references]
    if layout.diagonal:
        lines.append(((x_low, x_low), (x_high, x_high)))
    _label_points(figure, axes, drawn, xs, ys, rank, keyed, lines)
    return figure


def _line_boxes(
    axes, lines: Sequence[tuple[tuple[float, float], tuple[float, float]]]
) -> np.ndarray:
    """Display-space boxes along each line (data coordinates), spaced so that no label can
    slip between two of them: the reference lines as obstacles for the labels."""
    boxes = []
    for start, end in lines:
        first, last = axes.transData.transform([start, end])
        steps = max(2, int(np.hypot(*(last - first)) / 4) + 1)
        for x, y in np.linspace(first, last, steps):
            boxes.append((x - 3, y - 3, x + 3, y + 3))
    return np.array(boxes).reshape(-1, 4)


def _label_points(figure, axes, drawn, xs, ys, rank, keyed: bool, lines) -> None:
    """Names (few points) or rank numbers next to the points, never overlapping each other, a
    marker, a reference line or the note in the corner; with a key beside the plot for up to
    ``KEYED_POINTS`` numbered points."""
    from matplotlib.collections import LineCollection

    if not drawn:
        return
    named = len(drawn) <= NAMED_POINTS
    texts = [
        shortened(entry.model, NAME_WIDTH) if named else str(rank[id(entry)]) for entry in drawn
    ]
    size = 8.0 if named else 7.0
    to_display = axes.transData.transform(np.column_stack([xs, ys]))
    window = axes.get_window_extent()
    note_band = (window.x0, window.y1 - 14, window.x1, window.y1)  # the corner note's line
    offsets = _place_labels(
        to_display,
        texts,
        size_px=size * figure.dpi / 72,
        bounds=np.array([window.x0, window.y0, window.x1, window.y1]),
        obstacles=np.vstack([_line_boxes(axes, lines), note_band]),
        limit=MAX_LABELS,
    )
    # Plain texts at data positions and one collection of leader lines: matplotlib's annotate
    # with arrows costs ~25 ms per label to draw, far too much for hundreds of points.
    from_display = axes.transData.inverted()
    leaders, hidden = [], 0
    for text, point, offset in zip(texts, to_display, offsets, strict=True):
        if offset is None:
            hidden += 1
            continue
        dx, dy = offset
        anchor = from_display.transform(point + np.array([dx, dy]))
        draw_text(
            axes.text,
            *anchor,
            plot_text(text),
            fontsize=size,
            ha="left" if dx > 0 else "right" if dx < 0 else "center",
            va="bottom" if dy > 0 else "top" if dy < 0 else "center",
        )
        if abs(dx) + abs(dy) > 10:
            leaders.append([from_display.transform(point), anchor])
    if leaders:
        axes.add_collection(LineCollection(leaders, colors="0.6", linewidths=0.6, zorder=2))
    notes = []
    if hidden:
        notes.append(
            f"{hidden} point(s) unlabelled (crowded, or past the {MAX_LABELS} best-ranked)"
        )
    if not named and not keyed:
        notes.append("numbers: the # column of leaderboard.md")
    if notes:
        draw_text(
            axes.text,
            0.01,
            0.99,
            plot_text("; ".join(notes)),
            transform=axes.transAxes,
            fontsize=7,
            va="top",
            color="0.35",
        )
    if keyed:
        key = escape.plot_lines(
            f"{rank[id(entry)]:>2}  {shortened(entry.model, 34)}" for entry in drawn
        )
        top = axes.get_position().y1
        draw_text(figure.text, 0.72, top, key, fontsize=7, va="top", family="monospace")

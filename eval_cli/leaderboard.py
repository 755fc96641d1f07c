"""`imagenet-multilabel leaderboard`: many results files -> one table and the paper's two plots.

Reads the ``results.json`` of `score` and `run` (files or run directories, any mix) and writes
``leaderboard.md``, ``leaderboard.csv`` and, as PNG and SVG, multi-label accuracy against original
top-1 (with y = x) and ImageNet-M correct against original top-1 (the paper's figure).

Nothing is mixed silently: a result that is not official (partial, incomplete, unverified or
patched labels: `results.publication_problems`, the one rule) is flagged in the table and drawn
hollow; the label versions present are listed when there is more than one; of two results for
the same model and revision the newer (``environment.created_at``) is kept and the table says so.
The x axis is top-1 on all 50,000 images (`--split full`); a result without it is placed at its
top-1 on the annotated images instead, drawn as a square and said so in the legend.

Reference lines from the paper's own artifacts: ViT-3B and Greedy Soups, their top-1 predictions
rebuilt from the mistake metadata (`dataset_script.mistakes`) and scored by `metric.scoring` on
the given labels. The artifacts hold no 50,000-image top-1, so they are horizontal lines, not
points.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from imagenet_multilabel.dataset_script import mistakes
from imagenet_multilabel.dataset_script.annotations import (
    PUBLISHED_SHA256,
    SPLITS,
    default_cache_dir,
)
from imagenet_multilabel.eval_cli import results
from imagenet_multilabel.metric.errors import ToolkitError
from imagenet_multilabel.metric.scoring import score

if TYPE_CHECKING:  # loading labels imports datasets (seconds); only the reference lines need it
    from imagenet_multilabel.dataset_script.labels import Labels

RESULTS_FILE = "results.json"
DEFAULT_OUTPUT_DIR = "leaderboard"
PLOTS = ("multilabel_vs_top1", "imagenet_m_vs_top1")
PAPER_MODELS = {"vit3b": "ViT-3B", "greedy_soups": "Greedy Soups"}
MISTAKE_SOURCES = ("expert", "unreviewed", "confusion-pair", "uncategorized")
SEVERITIES = ("minor", "borderline", "major")
NAMED_POINTS = 10  # up to this many points carry their model's name, more carry numbers
KEYED_POINTS = 40  # up to this many numbered points get a key beside the plot
MAX_LABELS = 60  # labels per plot, best-ranked first: more is unreadable, and text is slow
# (csv column, markdown header) of every column, in order.
COLUMNS = (
    ("rank", "#"),
    ("model", "Model"),
    ("revision", "Revision"),
    ("top1_50k", "Top-1 (50k)"),
    ("real", "ReaL"),
    ("multilabel_accuracy", "Multi-label"),
    ("multilabel_accuracy_strict", "Strict"),
    ("multilabel_accuracy_micro", "Micro"),
    ("imagenet_m", "ImageNet-M"),
    *((f"rejected_{source}", f"Rejected: {source}") for source in MISTAKE_SOURCES),
    *((f"expert_{severity}", f"Expert: {severity}") for severity in SEVERITIES),
    ("num_unreviewed", "Unreviewed"),
    ("labels_version", "Labels"),
    ("flags", "Flags"),
    ("source", "Results file"),
)


class LeaderboardError(ToolkitError):
    """A results file that cannot be read as a `score` or `run` results document."""


@dataclass(frozen=True)
class Entry:
    """One row: a result, or a paper reference (``reference``: no file, drawn as a line)."""

    model: str
    revision: str | None
    source: str
    created_at: str
    metrics: Mapping[str, Mapping[str, Any]]
    mistakes: Mapping[str, Any] | None
    labels_version: str
    flags: tuple[str, ...]
    reference: bool = False

    def value(self, split: str, key: str) -> Any:
        return self.metrics.get(split, {}).get(key)

    @property
    def top1(self) -> tuple[float | None, bool]:
        """Original top-1 for the x axis, and whether it is over all 50,000 images (else over
        the annotated images of split validation)."""
        full = self.value("full", "top1_accuracy")
        if full is not None:
            return full, True
        return self.value("validation", "top1_accuracy_original"), False

    @property
    def official(self) -> bool:
        return not self.flags


@dataclass
class Leaderboard:
    """Rows in rank order, and the notes that say what was combined and how."""

    entries: list[Entry]
    references: list[Entry]
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Reading


def results_paths(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Each input as a results file: a file as is, a directory's ``results.json``."""
    paths = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            path = path / RESULTS_FILE
        if not path.is_file():
            raise LeaderboardError(
                f"{str(given)!r}: no results file; expected a results.json written by `score` or "
                f"`run`, or a run directory holding one"
            )
        paths.append(path)
    return paths


def read_entry(path: Path) -> Entry:
    """One results document as a row; the flags come from `results.publication_problems`."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LeaderboardError(f"cannot read results file {str(path)!r}: {error}") from None
    metrics = document.get("metrics") if isinstance(document, dict) else None
    if not isinstance(metrics, dict) or not metrics:
        raise LeaderboardError(
            f"{str(path)!r} is not a results document: expected a JSON object with 'metrics' "
            "per split, as `score --output` and `run` write"
        )
    model = document.get("model") or {}
    labels = document.get("labels") or {}
    mistakes_block = document.get("mistakes")
    return Entry(
        model=str(model.get("id") or model.get("model_id") or _name_from_predictions(document)),
        revision=model.get("revision"),
        source=str(path),
        created_at=str((document.get("environment") or {}).get("created_at") or ""),
        # Numbers only: the per-image listings (``unreviewed``) are not needed here.
        metrics={
            split: {key: value for key, value in values.items() if not isinstance(value, list)}
            for split, values in metrics.items()
            if isinstance(values, dict)
        },
        mistakes=mistakes_block if isinstance(mistakes_block, dict) else None,
        labels_version=_labels_version(labels),
        flags=_flags(document),
    )


def _name_from_predictions(document: Mapping[str, Any]) -> str:
    """A `score` result's name: its predictions file's stem (the folder for predictions.jsonl)."""
    source = Path(str((document.get("predictions") or {}).get("source") or "unnamed"))
    return (
        source.parent.name if source.stem == "predictions" and source.parent.name else source.stem
    )


def _labels_version(labels: Mapping[str, Any]) -> str:
    version = str(labels.get("version") or "unknown")
    return version if labels.get("verified") is True or labels.get("patched") else f"{version}?"


def _flags(document: Mapping[str, Any]) -> tuple[str, ...]:
    """Short names of the publication problems: partial, incomplete, unverified, patched."""
    found = []
    for problem in results.publication_problems(document):
        word = problem.split(":")[0].split(" (")[0].lower()
        flag = {"unverified real labels": "unverified ReaL", "patched labels": "patched"}.get(
            word, word.replace(" labels", "")
        )
        if flag not in found:
            found.append(flag)
    return tuple(found)


def newest_per_model(entries: Sequence[Entry]) -> tuple[list[Entry], list[str]]:
    """One entry per (model, revision): the newest by ``created_at``; a note for each merge."""
    groups: dict[tuple[str, str | None], list[Entry]] = {}
    for entry in entries:
        groups.setdefault((entry.model, entry.revision), []).append(entry)
    kept, notes = [], []
    for (model, revision), group in groups.items():
        ordered = sorted(group, key=lambda entry: entry.created_at, reverse=True)
        kept.append(ordered[0])
        if len(ordered) > 1:
            older = ", ".join(f"{e.source} ({e.created_at or 'no date'})" for e in ordered[1:])
            notes.append(
                f"{model}{f' @ {revision}' if revision else ''}: {len(ordered)} results; kept the "
                f"newest, {ordered[0].source} ({ordered[0].created_at or 'no date'}); "
                f"left out {older}"
            )
    return kept, notes


def _rank_key(entry: Entry) -> tuple:
    multilabel = entry.value("validation", "multilabel_accuracy")
    top1, _ = entry.top1
    return (multilabel is None, -(multilabel or 0.0), top1 is None, -(top1 or 0.0), entry.model)


def build_leaderboard(
    paths: Sequence[str | os.PathLike], references: Sequence[Entry] = ()
) -> Leaderboard:
    """Read, deduplicate and rank ``paths``; ``references`` (paper reference lines) are kept
    apart from the ranking."""
    entries, notes = newest_per_model([read_entry(path) for path in results_paths(paths)])
    entries.sort(key=_rank_key)
    versions = sorted({entry.labels_version for entry in [*entries, *references]})
    if len(versions) > 1:
        notes.append(
            f"Results on {len(versions)} label versions ({', '.join(versions)}; '?' marks "
            "unverified labels): compare numbers within one version only"
        )
    subset_top1 = [
        entry.model for entry in entries if entry.top1[0] is not None and not entry.top1[1]
    ]
    if subset_top1:
        notes.append(
            f"{len(subset_top1)} result(s) have no top-1 over all 50,000 images (scored without "
            "--split full): the plots place them at their top-1 on the annotated images, as "
            "squares"
        )
    unplotted = [entry.model for entry in entries if entry.top1[0] is None]
    if unplotted:
        notes.append(f"Not plotted (no top-1 at all): {', '.join(unplotted)}")
    return Leaderboard(entries=entries, references=list(references), notes=notes)


# ---------------------------------------------------------------------------------------------
# The paper's reference models


def published_labels_cached() -> bool:
    """Whether the published annotation file's parsed form is in the cache, so that the default
    labels load without a download (`dataset_script.annotations` keeps it under this name)."""
    return (default_cache_dir() / "compact" / f"{PUBLISHED_SHA256}.npz").is_file()


def paper_references(labels: Labels) -> list[Entry]:
    """ViT-3B and Greedy Soups, their predictions rebuilt from the paper's mistake metadata and
    scored by our scorer on ``labels`` (both label splits needed)."""
    flags = _flags({"labels": labels.provenance, "metrics": {}, "complete": True})
    references = []
    for model, name in PAPER_MODELS.items():
        metrics = {
            split: score(
                mistakes.paper_model_predictions(model, labels.split(split)),
                labels.split(split),
                imagenet_m=split == "imagenet_m",
                allow_partial=True,
            )
            for split in SPLITS
        }
        references.append(
            Entry(
                model=f"{name} (paper reference)",
                revision=None,
                source=f"{mistakes.SOURCE_REPOSITORY} at {mistakes.SOURCE_COMMIT}",
                created_at="",
                metrics=metrics,
                mistakes=None,
                labels_version=_labels_version(labels.provenance),
                flags=flags,
                reference=True,
            )
        )
    return references


def reference_labels(
    annotations: str | os.PathLike | None,
    labels_dataset: str | None,
    allow_unverified: bool,
) -> tuple[Labels | None, str | None]:
    """The labels for the reference lines, or None and why they are left out."""
    if annotations is None and labels_dataset is None and not published_labels_cached():
        return None, (
            "Paper reference lines left out: no labels given (--annotations or --labels) and the "
            "published annotation file is not cached yet (any `score` or `run` caches it)"
        )
    from imagenet_multilabel.dataset_script.labels import load_labels

    labels = load_labels(
        SPLITS, annotations=annotations, dataset=labels_dataset, allow_unverified=allow_unverified
    )
    return labels, None


# ---------------------------------------------------------------------------------------------
# Table


def _percent(value: Any) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def row_cells(rank: int | str, entry: Entry) -> dict[str, str]:
    """One row as text, keyed by csv column; empty where the result lacks the number."""
    correct, total = (
        entry.value("imagenet_m", "imagenet_m_correct"),
        entry.value("imagenet_m", "imagenet_m_total"),
    )
    by_source, by_severity = _mistake_counts(entry.mistakes)
    unreviewed = entry.value("validation", "num_unreviewed")
    return {
        "rank": str(rank),
        "model": entry.model,
        "revision": entry.revision or "",
        "top1_50k": _percent(entry.value("full", "top1_accuracy")),
        "real": _percent(entry.value("full", "real_accuracy")),
        "multilabel_accuracy": _percent(entry.value("validation", "multilabel_accuracy")),
        "multilabel_accuracy_strict": _percent(
            entry.value("validation", "multilabel_accuracy_strict")
        ),
        "multilabel_accuracy_micro": _percent(
            entry.value("validation", "multilabel_accuracy_micro")
        ),
        "imagenet_m": "" if correct is None else f"{correct}/{total}",
        **{f"rejected_{source}": by_source.get(source, "") for source in MISTAKE_SOURCES},
        **{f"expert_{severity}": by_severity.get(severity, "") for severity in SEVERITIES},
        "num_unreviewed": "" if unreviewed is None else str(unreviewed),
        "labels_version": entry.labels_version,
        "flags": ", ".join(entry.flags),
        "source": entry.source,
    }


def _mistake_counts(block: Mapping[str, Any] | None) -> tuple[dict[str, str], dict[str, str]]:
    """Counts by source and by severity (over the expert categories) of a ``mistakes`` block,
    read defensively: an absent or differently shaped part gives empty cells, never an error."""
    if not block:
        return {}, {}
    by_source = block.get("by_source")
    sources = (
        {key: str(value) for key, value in by_source.items() if isinstance(value, int)}
        if isinstance(by_source, dict)
        else {}
    )
    table = block.get("expert_category_severity")
    severities: dict[str, str] = {}
    if isinstance(table, dict):
        rows = [row for row in table.values() if isinstance(row, dict)]
        for severity in SEVERITIES:
            counts = [row.get(severity) for row in rows]
            if counts and all(isinstance(count, int) for count in counts):
                severities[severity] = str(sum(counts))
    return sources, severities


def table_rows(board: Leaderboard) -> list[dict[str, str]]:
    ranked = [row_cells(rank, entry) for rank, entry in enumerate(board.entries, start=1)]
    return ranked + [row_cells("ref", entry) for entry in board.references]


def write_csv(path: Path, board: Leaderboard) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[name for name, _ in COLUMNS], lineterminator="\n")
    writer.writeheader()
    writer.writerows(table_rows(board))
    path.write_text(buffer.getvalue(), encoding="utf-8")


def markdown(board: Leaderboard, plot_files: Sequence[str]) -> str:
    """The table (percentages), the notes, what the flags mean and the plots."""
    lines = [
        "# ImageNet multi-label leaderboard",
        "",
        "Ranked by multi-label accuracy (labels v3.0.0, per class, on the annotated validation "
        "images). Top-1 (50k): original labels, all 50,000 images; ReaL: top-1 in the ReaL set. "
        "Percentages. Rejected: the top-1 predictions the multi-label score rejects, by source; "
        "Expert: the paper's experts' severity of those they reviewed.",
        "",
        "| " + " | ".join(header for _, header in COLUMNS) + " |",
        "| "
        + " | ".join("---" if name in ("model", "source") else "---:" for name, _ in COLUMNS)
        + " |",
    ]
    for cells in table_rows(board):
        lines.append("| " + " | ".join(_markdown_cell(cells[name]) for name, _ in COLUMNS) + " |")
    lines.append("")
    if board.references:
        lines.append(
            "ref: the paper's own models, their predictions rebuilt from its mistake metadata "
            f"({mistakes.SOURCE_REPOSITORY}) and scored by this toolkit; no top-1 there."
        )
    lines.append(
        "Flags: partial (fewer images or classes than the split), incomplete (images without a "
        "prediction), unverified (labels whose sha256 is not the published one), patched (label "
        "patches applied). Flagged rows are not official numbers and are drawn hollow."
    )
    lines.extend(f"- Note: {note}" for note in board.notes)
    lines.append("")
    lines.extend(f"![{Path(name).stem}]({name})" for name in plot_files)
    return "\n".join(lines) + "\n"


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# ---------------------------------------------------------------------------------------------
# Plots


def _place_labels(
    points: np.ndarray,
    texts: Sequence[str],
    *,
    size_px: float,
    bounds: np.ndarray,
    limit: int | None = None,
) -> list[tuple[float, float] | None]:
    """Display-space offsets for each text that overlap no other label and no marker, or None
    when every candidate position is taken or ``limit`` labels are placed already. Greedy, in
    the given order (callers pass the best-ranked first)."""
    width = np.array([len(text) * 0.62 * size_px + 4 for text in texts])
    height = 1.25 * size_px
    marker = 5.0
    taken = [np.column_stack([points - marker, points + marker])]  # (x0, y0, x1, y1) per marker
    directions = [(1, 0), (0, 1), (0, -1), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1)]
    candidates = [(dx * radius, dy * radius) for radius in (8, 18, 30) for dx, dy in directions]
    placed: list[tuple[float, float] | None] = [None] * len(texts)
    for index, (x, y) in enumerate(points):
        if limit is not None and len(taken) > limit:
            break
        for dx, dy in candidates:
            # box of the text anchored left/right/center by the direction
            x0 = x + dx if dx > 0 else x + dx - width[index] if dx < 0 else x - width[index] / 2
            y0 = y + dy if dy > 0 else y + dy - height if dy < 0 else y - height / 2
            box = np.array([x0, y0, x0 + width[index], y0 + height])
            if box[0] < bounds[0] or box[1] < bounds[1] or box[2] > bounds[2] or box[3] > bounds[3]:
                continue
            boxes = np.concatenate(taken)
            overlap = (
                (boxes[:, 0] < box[2])
                & (box[0] < boxes[:, 2])
                & (boxes[:, 1] < box[3])
                & (box[1] < boxes[:, 3])
            )
            if not overlap.any():
                placed[index] = (dx, dy)
                taken.append(box[None, :])
                break
    return placed


def _y(entry: Entry, imagenet_m: bool) -> float | None:
    """The plotted y: ImageNet-M images correct, or multi-label accuracy in percent."""
    if imagenet_m:
        return entry.value("imagenet_m", "imagenet_m_correct")
    accuracy = entry.value("validation", "multilabel_accuracy")
    return None if accuracy is None else 100 * accuracy


def _limits(values: Sequence[float]) -> tuple[float, float]:
    """A view around ``values`` (percent), padded, within 0..100."""
    low, high = (min(values), max(values)) if len(values) else (60.0, 100.0)
    pad = max(1.0, 0.06 * (high - low))
    return max(0.0, low - pad), min(100.0, high + pad)


def plot(board: Leaderboard, which: str, output_dir: Path) -> list[Path]:
    """One of ``PLOTS`` as PNG and SVG in ``output_dir``; returns the files."""
    # A Figure without pyplot: no GUI backend, no global figure registry, a faster import; it
    # renders with the Agg canvas (PNG) and the SVG one.
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    imagenet_m = which == "imagenet_m_vs_top1"
    drawn = [e for e in board.entries if e.top1[0] is not None and _y(e, imagenet_m) is not None]
    rank = {id(entry): position for position, entry in enumerate(board.entries, start=1)}
    keyed = NAMED_POINTS < len(drawn) <= KEYED_POINTS
    figure = Figure(figsize=(12 if keyed else 9, 7.5), dpi=100)
    axes = figure.add_axes((0.08, 0.27, 0.62 if keyed else 0.88, 0.66))
    xs = np.array([100 * entry.top1[0] for entry in drawn])
    ys = np.array([_y(entry, imagenet_m) for entry in drawn], dtype=float)
    for full_top1, marker in ((True, "o"), (False, "s")):
        for official in (True, False):
            chosen = [
                i
                for i, entry in enumerate(drawn)
                if entry.top1[1] == full_top1 and entry.official == official
            ]
            axes.scatter(
                xs[chosen],
                ys[chosen],
                s=36,
                marker=marker,
                facecolors="tab:blue" if official else "white",
                edgecolors="tab:blue",
                linewidths=1.3,
                zorder=3,
            )
    handles = [
        Line2D([], [], marker="o", color="tab:blue", linestyle="", label="result"),
        Line2D(
            [],
            [],
            marker="o",
            markerfacecolor="white",
            color="tab:blue",
            linestyle="",
            label="flagged: partial, incomplete, unverified or patched labels (see the table)",
        ),
    ]
    if any(not entry.top1[1] for entry in drawn):
        handles.append(
            Line2D(
                [],
                [],
                marker="s",
                markerfacecolor="white",
                color="tab:blue",
                linestyle="",
                label="x: top-1 on the annotated images only (scored without --split full)",
            )
        )
    x_low, x_high = _limits(xs)
    if imagenet_m:
        totals = [e.value("imagenet_m", "imagenet_m_total") or 0 for e in drawn]
        y_low, y_high = -2.0, max([68, *totals]) + 2.0
    else:  # one square view, so that y = x is the diagonal
        levels = [*ys, *(_y(reference, False) for reference in board.references)]
        x_low, x_high = _limits([*xs, *levels])
        y_low, y_high = x_low, x_high
        axes.plot([x_low, x_high], [x_low, x_high], color="0.55", linewidth=1, zorder=1)
        handles.append(Line2D([], [], color="0.55", label="y = x"))
    for number, reference in enumerate(board.references):
        color = ("tab:red", "tab:green", "tab:purple")[number % 3]
        level = _y(reference, imagenet_m)
        axes.axhline(level, color=color, linestyle="--", linewidth=1.2, zorder=1)
        shown = (
            f"{level}/{reference.value('imagenet_m', 'imagenet_m_total')} correct"
            if imagenet_m
            else f"{level:.2f}%"
        )
        handles.append(
            Line2D(
                [],
                [],
                color=color,
                linestyle="--",
                label=f"{reference.model}: {shown} (from the paper's artifacts, no top-1 there)",
            )
        )
    axes.set_xlim(x_low, x_high)
    axes.set_ylim(y_low, y_high)
    axes.set_xlabel("Top-1 accuracy on the original ImageNet labels (%)")
    axes.set_ylabel(
        "ImageNet-M images correct (of 68)" if imagenet_m else "Multi-label accuracy (%)"
    )
    axes.set_title(
        "ImageNet-M: images correct vs. original top-1"
        if imagenet_m
        else "Multi-label accuracy (labels v3.0.0) vs. original top-1"
    )
    axes.grid(True, color="0.9", zorder=0)
    # The legend goes below the axes, which end above it; then the layout is final.
    bottom = 0.1 + 0.03 * len(handles)
    axes.set_position((0.08, bottom, 0.62 if keyed else 0.88, 0.93 - bottom))
    figure.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.08, 0.01), fontsize=8)
    _label_points(figure, axes, drawn, xs, ys, rank, keyed)
    files = []
    # SVG text stays text: searchable, selectable, and faster to write than glyph outlines.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        for suffix in ("png", "svg"):
            path = output_dir / f"{which}.{suffix}"
            figure.savefig(path)
            files.append(path)
    return files


def _shortened(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _label_points(figure, axes, drawn, xs, ys, rank, keyed: bool) -> None:
    """Names (few points) or rank numbers next to the points, never overlapping; with a key
    beside the plot for up to ``KEYED_POINTS`` numbered points."""
    from matplotlib.collections import LineCollection

    if not drawn:
        return
    named = len(drawn) <= NAMED_POINTS
    texts = [entry.model if named else str(rank[id(entry)]) for entry in drawn]
    size = 8.0 if named else 7.0
    to_display = axes.transData.transform(np.column_stack([xs, ys]))
    window = axes.get_window_extent()
    offsets = _place_labels(
        to_display,
        texts,
        size_px=size * figure.dpi / 72,
        bounds=np.array([window.x0, window.y0, window.x1, window.y1]),
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
        axes.text(
            *anchor,
            text,
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
        axes.text(
            0.01,
            0.99,
            "; ".join(notes),
            transform=axes.transAxes,
            fontsize=7,
            va="top",
            color="0.35",
        )
    if keyed:
        key = "\n".join(f"{rank[id(entry)]:>2}  {_shortened(entry.model, 34)}" for entry in drawn)
        figure.text(0.72, 0.93, key, fontsize=7, va="top", family="monospace")


# ---------------------------------------------------------------------------------------------
# The command


def write_leaderboard(
    paths: Sequence[str | os.PathLike],
    output_dir: str | os.PathLike = DEFAULT_OUTPUT_DIR,
    *,
    annotations: str | os.PathLike | None = None,
    labels_dataset: str | None = None,
    allow_unverified: bool = False,
) -> Leaderboard:
    """Write ``leaderboard.md``, ``leaderboard.csv`` and the plots for ``paths`` (results files
    or run directories) into ``output_dir``; the paper references use the labels given (as
    `score` takes them), else the cached published ones, else are left out with a note."""
    labels, why_not = reference_labels(annotations, labels_dataset, allow_unverified)
    board = build_leaderboard(paths, paper_references(labels) if labels is not None else ())
    if why_not:
        board.notes.append(why_not)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    write_csv(output / "leaderboard.csv", board)
    plot_files = [path for which in PLOTS for path in plot(board, which, output)]
    (output / "leaderboard.md").write_text(
        markdown(board, [path.name for path in plot_files if path.suffix == ".png"]),
        encoding="utf-8",
    )
    return board

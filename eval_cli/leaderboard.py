"""`imagenet-multilabel leaderboard`: many results files -> one table and the paper's two plots.

Reads the ``results.json`` of `score` and `run` (files or run directories, any mix) and writes
``leaderboard.md``, ``leaderboard.csv`` and, as PNG and SVG, multi-label accuracy against original
top-1 (with y = x) and ImageNet-M correct against original top-1 (the paper's figure).

Trust: every number read is checked (`results.checked_metric`: finite, in range, a number) and a
malformed file is an error naming it and the key; every text shown is escaped (`eval_cli.escape`)
and a local model is named by its folder name only. Nothing is mixed or dropped silently: a result
that is not official (partial, incomplete, unverified or patched labels:
`results.publication_problems`, the one rule) is flagged in the table and drawn hollow; results
are one per model identity (model id and revision, or the predictions file's sha256 for `score`),
a complete one kept over a partial or incomplete one, else the newest, and the notes say which
were left out. A plot has one definition per axis: x is top-1 on the annotated images (every
result has it; top-1 on all 50,000 images is in the table), and it draws one label version and
either complete or incomplete results, never both; the notes name what it leaves out.

Reference lines from the paper's own artifacts: ViT-3B and Greedy Soups, their top-1 predictions
rebuilt from the mistake metadata (`dataset_script.mistakes`) and scored by `metric.scoring` on
the given labels.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
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
from imagenet_multilabel.eval_cli import analysis, escape, outputs, results
from imagenet_multilabel.eval_cli.score import FULL_SPLIT
from imagenet_multilabel.metric.errors import ToolkitError, brief_repr
from imagenet_multilabel.metric.scoring import score

if TYPE_CHECKING:  # loading labels imports datasets (seconds); only the reference lines need it
    from imagenet_multilabel.dataset_script.labels import Labels

RESULTS_FILE = "results.json"
DEFAULT_OUTPUT_DIR = "leaderboard"
TABLE_FILES = ("leaderboard.csv", "leaderboard.md")
PLOTS = ("multilabel_vs_top1", "imagenet_m_vs_top1")
PLOT_FORMATS = ("png", "svg")
PAPER_MODELS = {"vit3b": "ViT-3B", "greedy_soups": "Greedy Soups"}
# Mistake sources under their names before the rename (``unreviewed`` meant two things).
OLD_MISTAKE_SOURCES = {"unreviewed": "outside-label-set"}
MISTAKE_SOURCES = analysis.SOURCES
SEVERITIES = ("minor", "borderline", "major")
# The metrics read of each split, in reading order (a total before the count it bounds).
READ_METRICS = {
    FULL_SPLIT: ("top1_accuracy", "real_accuracy", "num_missing_predictions", "limit"),
    "validation": (
        "multilabel_accuracy",
        "multilabel_accuracy_strict",
        "multilabel_accuracy_micro",
        "top1_accuracy_original",
        "num_outside_label_set",
        "num_classes_covered",
        "num_missing_predictions",
        "limit",
    ),
    "imagenet_m": (
        "imagenet_m_total",
        "imagenet_m_correct",
        "num_classes_covered",
        "num_missing_predictions",
        "limit",
    ),
}
X_METRIC = ("validation", "top1_accuracy_original")  # the plots' x: every label split result has it
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
    ("top1_annotated", "Top-1 (annotated)"),
    ("imagenet_m", "ImageNet-M"),
    *(
        (f"rejected_{source}", f"Rejected: {source.replace('-', ' ')}")
        for source in MISTAKE_SOURCES
    ),
    *((f"expert_{severity}", f"Expert: {severity}") for severity in SEVERITIES),
    ("num_outside_label_set", "Outside label set"),
    ("labels_version", "Labels"),
    ("flags", "Flags"),
    ("source", "Results"),
)
NUMERIC_COLUMNS = {name for name, _ in COLUMNS} - {"model", "revision", "labels_version", "flags"}


class LeaderboardError(ToolkitError):
    """A results file that cannot be read as a `score` or `run` results document."""


@dataclass(frozen=True)
class Entry:
    """One row: a result, or a paper reference (``reference``: no file, drawn as a line).

    ``model`` is the public name (a Hub id, or a local model's folder name); ``identity`` what
    makes two results the same model's; ``source`` the results file as shown (no local path)."""

    model: str
    revision: str | None
    identity: tuple[str, ...]
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
    def x(self) -> float | None:
        """The plots' x: original top-1 on the annotated images (`X_METRIC`)."""
        return self.value(*X_METRIC)

    @property
    def official(self) -> bool:
        return not self.flags

    @property
    def complete(self) -> bool:
        return "partial" not in self.flags and "incomplete" not in self.flags

    @property
    def unverified(self) -> bool:
        return self.labels_version.endswith("?")


@dataclass
class Leaderboard:
    """Rows in rank order, the results each plot draws, and the notes that say what was
    combined, left out and how."""

    entries: list[Entry]
    references: list[Entry]
    notes: list[str] = field(default_factory=list)
    plotted: list[Entry] = field(default_factory=list)
    plotted_references: list[Entry] = field(default_factory=list)


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
    """One results document as a row: every value read is checked, and a file that is not a
    results document is a `LeaderboardError` naming it and the key; the flags come from
    `results.publication_problems`."""
    source = str(path)
    document = _read_json(path)
    metrics_block = document.get("metrics") if isinstance(document, dict) else None
    if not isinstance(metrics_block, dict) or not metrics_block:
        raise LeaderboardError(
            f"{source!r} is not a results document: expected a JSON object with 'metrics' "
            "per split, as `score --output` and `run` write"
        )
    unknown = [split for split in metrics_block if split not in READ_METRICS]
    if unknown:
        raise LeaderboardError(
            f"results file {source!r}: unknown split(s) {brief_repr(unknown)} in 'metrics'; "
            f"expected {', '.join(READ_METRICS)}"
        )
    metrics = {
        split: _split_metrics(_object(metrics_block, split, source, "metrics"), split, source)
        for split in metrics_block
    }
    labels = _checked_labels(_object(document, "labels", source), source)
    model = _object(document, "model", source)
    predictions = _object(document, "predictions", source)
    complete = document.get("complete")
    if not isinstance(complete, bool | None):
        raise LeaderboardError(
            f"results file {source!r}: 'complete' is {brief_repr(complete)}; expected true or false"
        )
    model_id = _text(model, "id", source, "model") or _text(model, "model_id", source, "model")
    revision = _text(model, "revision", source, "model")
    if model_id:
        name, identity = escape.public_model_name(model_id), ("model", model_id, revision or "")
    else:  # a `score` result: its predictions file is its identity
        predictions_file = _text(predictions, "source", source, "predictions")
        sha256 = _text(predictions, "sha256", source, "predictions")
        name = _name_from_predictions(predictions_file)
        identity = ("predictions", sha256 or predictions_file or source)
        revision = f"predictions sha256 {sha256[:12]}" if sha256 else None
    return Entry(
        model=name,
        revision=revision,
        identity=identity,
        source=_shown_source(path),
        created_at=_text(_object(document, "environment", source), "created_at", source) or "",
        metrics=metrics,
        mistakes=_checked_mistakes(document, source),
        labels_version=_labels_version(labels),
        flags=_flags({"labels": labels, "metrics": metrics, "complete": complete}),
    )


def _read_json(path: Path) -> Any:
    """The parsed file; huge integers (ValueError) and deep nesting (RecursionError) are
    errors naming the file, as unparsable JSON is."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is one
        raise LeaderboardError(f"cannot read results file {str(path)!r}: {error}") from None
    except RecursionError:
        raise LeaderboardError(
            f"cannot read results file {str(path)!r}: nested too deeply to be a results document"
        ) from None


def _object(block: Mapping[str, Any], key: str, source: str, within: str = "") -> dict:
    """``block[key]`` as a JSON object; ``{}`` when absent, an error when it is something else."""
    value = block.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LeaderboardError(
            f"results file {source!r}: {_where(within, key)!r} is {brief_repr(value)}; expected "
            "a JSON object"
        )
    return value


def _text(block: Mapping[str, Any], key: str, source: str, within: str = "") -> str | None:
    """``block[key]`` as a string; None when absent, an error when it is something else."""
    value = block.get(key)
    if value is not None and not isinstance(value, str):
        raise LeaderboardError(
            f"results file {source!r}: {_where(within, key)!r} is {brief_repr(value)}; expected "
            "a string"
        )
    return value


def _where(within: str, key: str) -> str:
    return f"{within}.{key}" if within else key


def _split_metrics(values: Mapping[str, Any], split: str, source: str) -> dict[str, Any]:
    """The metrics of ``split`` that the leaderboard reads, each checked; ``partial`` a flag."""
    checked: dict[str, Any] = {}
    for key in READ_METRICS[split]:
        value = results.metric_value(values, key)
        if value is not None:
            most = checked.get("imagenet_m_total") if key == "imagenet_m_correct" else None
            checked[key] = results.checked_metric(value, key, f"{source}, split {split}", most=most)
    partial = values.get("partial", False)
    if not isinstance(partial, bool):
        raise LeaderboardError(
            f"results file {source!r}: 'metrics.{split}.partial' is {brief_repr(partial)}; "
            "expected true or false"
        )
    checked["partial"] = partial
    return checked


def _checked_labels(labels: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The labels provenance fields that the flags and the version read, each checked."""
    checked: dict[str, Any] = {
        key: _text(labels, key, source, "labels") for key in ("version", "sha256", "source")
    }
    for key in ("verified", "patched"):
        value = labels.get(key)
        if not isinstance(value, bool | None):
            raise LeaderboardError(
                f"results file {source!r}: 'labels.{key}' is {brief_repr(value)}; expected true "
                "or false"
            )
        checked[key] = value
    patches = labels.get("patches", [])
    if not isinstance(patches, list):
        raise LeaderboardError(
            f"results file {source!r}: 'labels.patches' is {brief_repr(patches)}; expected a list"
        )
    checked["patches"] = patches
    real = _object(labels, "real", source, "labels")
    if real:
        verified = real.get("verified")
        checked["real"] = {
            "source": _text(real, "source", source, "labels.real"),
            "sha256": _text(real, "sha256", source, "labels.real"),
            "verified": verified if isinstance(verified, bool) else None,
        }
    return checked


def _checked_mistakes(document: Mapping[str, Any], source: str) -> dict[str, Any] | None:
    """The ``mistakes`` block's counts by source (old source names read as today's) and the
    expert severities, each count checked; None when the result has no block."""
    block = _object(document, "mistakes", source)
    if not block:
        return None
    by_source = {}
    for name, count in _object(block, "by_source", source, "mistakes").items():
        name = OLD_MISTAKE_SOURCES.get(name, name)
        by_source[name] = results.checked_metric(count, f"mistakes.by_source.{name}", source)
    severities: Counter[str] = Counter()
    table = _object(block, "expert_category_severity", source, "mistakes")
    for category in table:
        within = f"mistakes.expert_category_severity.{category}"
        row = _object(table, category, source, "mistakes.expert_category_severity")
        for severity in SEVERITIES:
            if severity in row:
                severities[severity] += results.checked_metric(
                    row[severity], f"{within}.{severity}", source
                )
    return {"by_source": by_source, "severities": dict(severities) if table else {}}


def _shown_source(path: Path) -> str:
    """The results file as the table names it, with no local path: its name, or a run
    directory's name for its ``results.json``."""
    if path.name == RESULTS_FILE and path.resolve().parent.name:
        return path.resolve().parent.name
    return path.name


def _name_from_predictions(predictions_file: str | None) -> str:
    """A `score` result's name: its predictions file's stem (the folder for predictions.jsonl)."""
    source = Path(escape.last_component(os.path.dirname(predictions_file or "") or "."))
    stem = Path(escape.last_component(predictions_file or "unnamed")).stem
    return source.name if stem == "predictions" and source.name not in ("", ".") else stem


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


def one_per_model(entries: Sequence[Entry]) -> tuple[list[Entry], list[str]]:
    """One entry per model identity: a complete one over a partial or incomplete one, then the
    newest by ``created_at``; a note for each model with more than one result."""
    groups: dict[tuple[str, ...], list[Entry]] = {}
    for entry in entries:
        groups.setdefault(entry.identity, []).append(entry)
    kept, notes = [], []
    for group in groups.values():
        ordered = sorted(group, key=lambda entry: (entry.complete, entry.created_at), reverse=True)
        kept.append(ordered[0])
        if len(ordered) > 1:
            chosen = ordered[0]
            replaced_incomplete = chosen.complete and any(not e.complete for e in ordered[1:])
            why = "the complete one" if replaced_incomplete else "the newest"
            left_out = "; ".join(_described(entry) for entry in ordered[1:])
            notes.append(
                f"{_named(chosen)}: {len(ordered)} results; kept {why}, {_described(chosen)}; "
                f"left out {left_out}"
            )
    return kept, notes


def _named(entry: Entry) -> str:
    return f"{entry.model}{f' @ {entry.revision}' if entry.revision else ''}"


def _described(entry: Entry) -> str:
    incomplete = [flag for flag in entry.flags if flag in ("partial", "incomplete")]
    return f"{entry.source} ({', '.join([entry.created_at or 'no date', *incomplete])})"


def _rank_key(entry: Entry) -> tuple:
    multilabel = entry.value("validation", "multilabel_accuracy")
    top1 = entry.x
    return (multilabel is None, -(multilabel or 0.0), top1 is None, -(top1 or 0.0), entry.model)


def build_leaderboard(
    paths: Sequence[str | os.PathLike], references: Sequence[Entry] = ()
) -> Leaderboard:
    """Read, deduplicate and rank ``paths``; ``references`` (paper reference lines) are kept
    apart from the ranking; choose what the plots draw."""
    entries, notes = one_per_model([read_entry(path) for path in results_paths(paths)])
    entries.sort(key=_rank_key)
    versions = sorted({entry.labels_version for entry in [*entries, *references]})
    if len(versions) > 1:
        notes.append(
            f"Results on {len(versions)} label versions ({', '.join(versions)}; '?' marks "
            "unverified labels): compare numbers within one version only"
        )
    board = Leaderboard(entries=entries, references=list(references), notes=notes)
    _choose_plotted(board)
    return board


def _choose_plotted(board: Leaderboard) -> None:
    """One definition per axis: the plots draw the results of one label version, complete ones
    (or, when none is, the partial and incomplete ones), and the reference lines of that version;
    the notes name every result left out and why."""
    drawable = [entry for entry in board.entries if entry.x is not None]
    unplotted = [entry.model for entry in board.entries if entry.x is None]
    if unplotted:
        board.notes.append(
            "Not plotted (no top-1 on the annotated images: scored without split validation): "
            + ", ".join(unplotted)
        )
    if not drawable:
        return
    complete = any(entry.complete for entry in drawable)
    candidates = [entry for entry in drawable if entry.complete == complete]
    counts = Counter(entry.labels_version for entry in candidates)
    reference_versions = {reference.labels_version for reference in board.references}
    version = max(counts, key=lambda v: (counts[v], v in reference_versions, v))
    board.plotted = [entry for entry in candidates if entry.labels_version == version]
    plotted = {id(entry) for entry in board.plotted}
    left_out = [
        f"{entry.model} (labels {entry.labels_version})"
        if entry.complete == complete
        else f"{entry.model} (partial or incomplete)"
        for entry in drawable
        if id(entry) not in plotted
    ]
    if left_out:
        board.notes.append(
            f"The plots draw {'complete' if complete else 'partial or incomplete'} results on "
            f"labels {version} only (one definition per axis); left out of them: "
            + ", ".join(left_out)
        )
    board.plotted_references = [r for r in board.references if r.labels_version == version]
    if len(board.plotted_references) < len(board.references):
        board.notes.append(
            f"Paper reference lines not drawn: they are scored on labels "
            f"{', '.join(sorted(reference_versions))}, the plotted results on labels {version}"
        )


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
                identity=("reference", model),
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
    """One row as plain text, keyed by csv column; empty where the result lacks the number.
    Escaped by the writer of each format (`write_csv`, `markdown`)."""
    correct, total = (
        entry.value("imagenet_m", "imagenet_m_correct"),
        entry.value("imagenet_m", "imagenet_m_total"),
    )
    block = entry.mistakes or {"by_source": {}, "severities": {}}
    outside = entry.value("validation", "num_outside_label_set")
    return {
        "rank": str(rank),
        "model": entry.model,
        "revision": entry.revision or "",
        "top1_50k": _percent(entry.value(FULL_SPLIT, "top1_accuracy")),
        "real": _percent(entry.value(FULL_SPLIT, "real_accuracy")),
        "multilabel_accuracy": _percent(entry.value("validation", "multilabel_accuracy")),
        "multilabel_accuracy_strict": _percent(
            entry.value("validation", "multilabel_accuracy_strict")
        ),
        "multilabel_accuracy_micro": _percent(
            entry.value("validation", "multilabel_accuracy_micro")
        ),
        "top1_annotated": _percent(entry.x),
        "imagenet_m": "" if correct is None else f"{correct}/{total}",
        **{
            f"rejected_{source}": str(block["by_source"].get(source, ""))
            for source in MISTAKE_SOURCES
        },
        **{
            f"expert_{severity}": str(block["severities"].get(severity, ""))
            for severity in SEVERITIES
        },
        "num_outside_label_set": "" if outside is None else str(outside),
        "labels_version": entry.labels_version,
        "flags": ", ".join(entry.flags),
        "source": entry.source,
    }


def table_rows(board: Leaderboard) -> list[dict[str, str]]:
    ranked = [row_cells(rank, entry) for rank, entry in enumerate(board.entries, start=1)]
    return ranked + [row_cells("ref", entry) for entry in board.references]


def csv_text(board: Leaderboard) -> str:
    """The table as CSV, every cell neutralised for spreadsheets (`escape.csv_cell`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[name for name, _ in COLUMNS], lineterminator="\n")
    writer.writeheader()
    writer.writerows(
        {name: escape.csv_cell(cell) for name, cell in row.items()} for row in table_rows(board)
    )
    return buffer.getvalue()


def markdown(board: Leaderboard, plot_files: Sequence[str]) -> str:
    """The table (percentages), the notes, what the flags mean and the plots; every text from
    a results file escaped (`escape.markdown_text`)."""
    lines = [
        "# ImageNet multi-label leaderboard",
        "",
        "Ranked by multi-label accuracy (per class, on the annotated validation images). Top-1 "
        "(50k): original labels, all 50,000 images (`--split full`); ReaL: top-1 in the ReaL set; "
        "Top-1 (annotated): original labels, per class, on the same images as multi-label "
        "accuracy (the plots' x axis). Percentages. Rejected: the top-1 predictions the "
        "multi-label score rejects, by source; Expert: the paper's experts' severity of those "
        "they reviewed; Outside label set: top-1 predictions in none of the image's label sets.",
        "",
        "| " + " | ".join(header for _, header in COLUMNS) + " |",
        "| "
        + " | ".join("---:" if name in NUMERIC_COLUMNS else "---" for name, _ in COLUMNS)
        + " |",
    ]
    for cells in table_rows(board):
        lines.append(
            "| " + " | ".join(escape.markdown_text(cells[name]) for name, _ in COLUMNS) + " |"
        )
    lines.append("")
    if board.references:
        lines.append(
            "ref: the paper's own models, their predictions rebuilt from its mistake metadata "
            f"({mistakes.SOURCE_REPOSITORY}) and scored by this toolkit; no top-1 on all 50,000 "
            "images there."
        )
    lines.append(
        "Flags: partial (fewer images or classes than the split), incomplete (images without a "
        "prediction), unverified (labels whose sha256 is not the published one), patched (label "
        "patches applied). Flagged rows are not official numbers and are drawn hollow."
    )
    lines.extend(f"- Note: {escape.markdown_text(note)}" for note in board.notes)
    lines.append("")
    lines.extend(f"![{Path(name).stem}]({name})" for name in plot_files)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Plots


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


def _limits(values: Sequence[float], low: float, high: float) -> tuple[float, float]:
    """A view around ``values``, padded, within ``low``..``high``."""
    if not len(values):
        return low, high
    smallest, largest = min(values), max(values)
    pad = max(1.0, 0.08 * (largest - smallest))
    return max(low, smallest - pad), min(high, largest + pad)


def _title(board: Leaderboard, imagenet_m: bool) -> str:
    """What is plotted, with the labels' version and every caveat shared by the points."""
    plotted = board.plotted
    version = plotted[0].labels_version.rstrip("?") if plotted else ""
    caveats = []
    if plotted and plotted[0].unverified:
        caveats.append("unverified labels")
    if plotted and not plotted[0].complete:
        caveats.append("partial or incomplete results")
    what = "ImageNet-M images correct" if imagenet_m else "Multi-label accuracy"
    title = f"{what} vs. original top-1" + (f", labels {version}" if version else "")
    return escape.mathtext_text(title + (f" ({'; '.join(caveats)})" if caveats else ""))


def render_plot(board: Leaderboard, which: str) -> dict[str, bytes]:
    """One of ``PLOTS`` as PNG and SVG bytes, by file name."""
    # A Figure without pyplot: no GUI backend, no global figure registry, a faster import; it
    # renders with the Agg canvas (PNG) and the SVG one.
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    imagenet_m = which == "imagenet_m_vs_top1"
    drawn = [e for e in board.plotted if _y(e, imagenet_m) is not None]
    rank = {id(entry): position for position, entry in enumerate(board.entries, start=1)}
    keyed = NAMED_POINTS < len(drawn) <= KEYED_POINTS
    figure = Figure(figsize=(12 if keyed else 9, 7.5), dpi=100)
    axes = figure.add_axes((0.08, 0.27, 0.62 if keyed else 0.88, 0.66))
    xs = np.array([100 * entry.x for entry in drawn], dtype=float)
    ys = np.array([_y(entry, imagenet_m) for entry in drawn], dtype=float)
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
    references = [
        (reference, _y(reference, imagenet_m))
        for reference in board.plotted_references
        if _y(reference, imagenet_m) is not None
    ]
    levels = [level for _, level in references]
    x_low, x_high = _limits(xs, 0.0, 100.0)
    if imagenet_m:
        totals = {e.value("imagenet_m", "imagenet_m_total") for e in drawn} - {None}
        total = max(totals, default=results.IMAGENET_M_SIZE)
        y_low, y_high = _limits([*ys, *levels], -2.0, total + 2.0)
        of = f"of {total}" if len(totals) <= 1 else "of the split's images"
    else:  # one square view, so that y = x is the diagonal (x and y are on the same images)
        x_low, x_high = _limits([*xs, *ys, *levels], 0.0, 100.0)
        y_low, y_high = x_low, x_high
        axes.plot([x_low, x_high], [x_low, x_high], color="0.55", linewidth=1, zorder=1)
        handles.append(Line2D([], [], color="0.55", label="y = x"))
    for number, (reference, level) in enumerate(references):
        color = ("tab:red", "tab:green", "tab:purple")[number % 3]
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
                label=escape.mathtext_text(
                    f"{reference.model}: {shown} (from the paper's artifacts, no top-1 there)"
                ),
            )
        )
    axes.set_xlim(x_low, x_high)
    axes.set_ylim(y_low, y_high)
    axes.set_xlabel(
        "Top-1 on the original labels, annotated validation images, per class (%)\n"
        "(the images multi-label accuracy uses; top-1 on all 50,000 images is in the table)"
    )
    axes.set_ylabel(
        f"ImageNet-M images correct ({of})" if imagenet_m else "Multi-label accuracy, per class (%)"
    )
    axes.set_title(_title(board, imagenet_m))
    axes.grid(True, color="0.9", zorder=0)
    # The legend goes below the axes, which end above it; then the layout is final.
    bottom = 0.13 + 0.03 * len(handles)
    axes.set_position((0.08, bottom, 0.62 if keyed else 0.88, 0.93 - bottom))
    figure.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.08, 0.01), fontsize=8)
    lines = [((x_low, level), (x_high, level)) for level in levels]
    if not imagenet_m:
        lines.append(((x_low, x_low), (x_high, x_high)))
    _label_points(figure, axes, drawn, xs, ys, rank, keyed, lines)
    files = {}
    # SVG text stays text: searchable, selectable, and faster to write than glyph outlines.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        for suffix in PLOT_FORMATS:
            buffer = io.BytesIO()
            figure.savefig(buffer, format=suffix)
            files[f"{which}.{suffix}"] = buffer.getvalue()
    return files


def _shortened(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


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
    texts = [entry.model if named else str(rank[id(entry)]) for entry in drawn]
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
        axes.text(
            *anchor,
            escape.mathtext_text(text),
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
        key = "\n".join(
            f"{rank[id(entry)]:>2}  {escape.mathtext_text(_shortened(entry.model, 34))}"
            for entry in drawn
        )
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
    `score` takes them), else the cached published ones, else are left out with a note.

    Everything is read and rendered before the first file is written, each file whole or not at
    all (`eval_cli.outputs`), under the output directory's lock: a second leaderboard into the
    same directory is refused, so the md and csv always come from one run."""
    output = Path(output_dir)
    files = [*TABLE_FILES, *(f"{which}.{suffix}" for which in PLOTS for suffix in PLOT_FORMATS)]
    outputs.refuse_overwriting_inputs(
        {f"--output-dir file {name}": output / name for name in files},
        {f"results {str(path)!r}": path for path in results_paths(paths)},
    )
    with outputs.exclusive_directory(output, "--output-dir"):
        labels, why_not = reference_labels(annotations, labels_dataset, allow_unverified)
        board = build_leaderboard(paths, paper_references(labels) if labels is not None else ())
        if why_not:
            board.notes.append(why_not)
        rendered = {
            name: data for which in PLOTS for name, data in render_plot(board, which).items()
        }
        pngs = [name for name in rendered if name.endswith(".png")]
        rendered["leaderboard.csv"] = csv_text(board).encode("utf-8")
        rendered["leaderboard.md"] = markdown(board, pngs).encode("utf-8")
        for name, data in rendered.items():  # the table last: it shows the plots
            outputs.write_bytes(output / name, data)
    return board

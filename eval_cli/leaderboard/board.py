"""`imagenet-multilabel leaderboard`: many results files -> one table and three plots.

Reads the ``results.json`` of `score` and `run` (files, run directories or results datasets, any
mix) and writes ``leaderboard.md``, ``leaderboard.csv``, ``leaderboard.html`` (the same table and
plots to browse: `html`) and, as PNG and SVG, multi-label accuracy against original top-1 (with
y = x), ImageNet-M correct against original top-1 (the paper's figure) and each model's mistakes
stacked by automatic category, sorted by top-1 (Peychev et al.'s figures).

Trust: every number read is checked (`leaderboard_entries`) and a malformed file is an error
naming it and the key; every text shown is escaped (`dataset_script.escape`) and a local model is
named by its folder name only. Nothing is mixed or dropped silently: a result
that is not official (partial, incomplete, unverified or patched labels:
`results.publication_problems`, the one rule) is flagged in the table and drawn hollow; results
are one per model identity (model id and revision, or the predictions file's sha256 for `score`),
kept by `KEEP_RULES` (complete, then official, then most splits, then newest), and the notes say
which were left out and which rule decided. A plot has one definition per axis: x is top-1 on
the annotated images (every result has it; top-1 on all 50,000 images is in the table), and it
draws one label version and either complete or incomplete results, never both; the notes name
what it leaves out.

Reference lines from the paper's own artifacts: ViT-3B and Greedy Soups, their top-1 predictions
rebuilt from the mistake metadata (`dataset_script.mistakes`) and scored by `metric.scoring` on
the given labels.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ...dataset_script import escape, writers
from ...dataset_script.annotations.published import PUBLISHED_SHA256, SPLITS, default_cache_dir
from ...dataset_script.escape import markdown_format
from ...dataset_script.taxonomy import experts
from ...dataset_script.taxonomy.categories import CATEGORIES
from ...metric import label_sets
from ...metric.errors import expect_path, expect_paths, named
from .. import outputs
from ..frame import FOLDER, LABEL_FILES, SOURCE, Read, Write, command
from ..scores import results
from ..scores.mistakes import analyze_split
from ..scores.results_dataset import ResultsFile
from ..scores.score import with_lenient_accuracies
from .entries import (
    MISTAKE_SOURCES,
    SEVERITIES,
    Entry,
    Leaderboard,
    checked_mistakes,
    labels_version_of,
    read_entry,
    results_paths,
)
from .families import ModelFacts
from .plots import ALL_PLOTS, PLOT_FORMATS, category_column, render_plot

if TYPE_CHECKING:  # loading labels imports datasets (seconds); only the reference lines need it
    from ...dataset_script.labels.loading import Labels, LabelSource

DEFAULT_OUTPUT_DIR = "leaderboard"
# The table's files beside leaderboard.md, each the table in one format (docs/EXTENDING.md, "Add
# an output format").
TABLE_FORMATS = (
    # its file name, the escaper of its cells (`dataset_script.escape`), its writer
    ("leaderboard.csv", escape.csv_cell, writers.csv_document),
)
TABLE_FILES = (*(name for name, _, _ in TABLE_FORMATS), "leaderboard.md")
PAGE_FILE = "leaderboard.html"  # written by `html.render_page`
OUTPUT_FILES = (
    *TABLE_FILES,
    PAGE_FILE,
    *(f"{which}.{suffix}" for which in ALL_PLOTS for suffix in PLOT_FORMATS),
)
PAPER_MODELS = {"vit3b": "ViT-3B", "greedy_soups": "Greedy Soups"}
# Both are ViTs pretrained on JFT-3B: ViT-3B (Zhai et al. 2022, "Scaling Vision Transformers"),
# Greedy Soups a soup of fine-tuned ViT-G/14 (Wortsman et al. 2022, "Model soups").
PAPER_MODEL_FACTS = ModelFacts(family="ViT", pretraining="JFT-3B")
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


_NO_DATE = datetime.min.replace(tzinfo=timezone.utc)  # older than any recorded date
# What decides between two results of one model, in order; the note names the deciding one.
KEEP_RULES = (
    ("the complete one", lambda entry: entry.complete),
    ("the official one", lambda entry: entry.official),
    ("the one covering the most splits", lambda entry: len(entry.metrics)),
    ("the newest", lambda entry: entry.created_at or _NO_DATE),
)


def one_per_model(entries: Sequence[Entry]) -> tuple[list[Entry], list[str]]:
    """One entry per model identity, by `KEEP_RULES`: a complete one over a partial or
    incomplete one, then an official one over one on unverified or patched labels (a newer run
    on patched labels never hides the official number), then the one covering more splits (an
    ImageNet-M-only result never hides a full one), then the newest by ``created_at``; a note
    for each model with more than one result, naming the rule that decided."""
    groups: dict[tuple[str, ...], list[Entry]] = {}
    for entry in entries:
        groups.setdefault(entry.identity, []).append(entry)
    kept, notes = [], []
    for group in groups.values():
        ordered = sorted(
            group, key=lambda entry: tuple(rule(entry) for _, rule in KEEP_RULES), reverse=True
        )
        kept.append(ordered[0])
        if len(ordered) > 1:
            chosen, others = ordered[0], ordered[1:]
            why = next(
                (name for name, rule in KEEP_RULES if rule(chosen) != rule(others[0])),
                "the first given (nothing else tells them apart)",
            )
            left_out = "; ".join(_described(entry) for entry in others)
            notes.append(
                f"{_named(chosen)}: {len(ordered)} results; kept {why}, {_described(chosen)}; "
                f"left out {left_out}"
            )
    return kept, notes


def _named(entry: Entry) -> str:
    return f"{entry.model}{f' @ {entry.revision}' if entry.revision else ''}"


def _described(entry: Entry) -> str:
    """The result's file, date and flags: what the keep rules read."""
    date = entry.created_at.isoformat() if entry.created_at else "no date"
    return f"{entry.source} ({', '.join([date, *entry.flags])})"


def _rank_key(entry: Entry) -> tuple:
    multilabel = entry.value("validation", "multilabel_accuracy")
    top1 = entry.x
    return (multilabel is None, -(multilabel or 0.0), top1 is None, -(top1 or 0.0), entry.model)


def build_leaderboard(
    paths: Sequence[str | os.PathLike], references: Sequence[Entry] = ()
) -> Leaderboard:
    """Read, deduplicate and rank the results files of ``paths`` (files, run directories,
    results datasets); ``references`` (paper reference lines) are kept apart from the ranking;
    choose what the plots draw."""
    return board_of(results_paths(paths), references)


def board_of(files: Sequence[ResultsFile], references: Sequence[Entry] = ()) -> Leaderboard:
    """`build_leaderboard` of results files already found."""
    entries, notes = one_per_model([read_entry(file) for file in files])
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
    """ViT-3B and Greedy Soups, their predictions rebuilt from the paper's mistake metadata,
    scored by our scorer on ``labels`` (both label splits needed) and their mistakes analysed
    as `score` analyses any model's (automatic categories included)."""
    flags = results.short_names(results.label_problems(labels.provenance))
    source = f"{experts.SOURCE_REPOSITORY} at {experts.SOURCE_COMMIT}"
    references = []
    for model, name in PAPER_MODELS.items():
        predictions = {
            split: experts.paper_model_predictions(model, labels.split(split)) for split in SPLITS
        }
        metrics = {
            split: label_sets.by_name(split).score(predictions[split], labels.split(split))
            for split in SPLITS
        }
        analysis = analyze_split(
            "validation",
            predictions["validation"],
            labels.split("validation"),
            imagenet_m_file_names=None,
        )
        references.append(
            Entry(
                model=f"{name} (paper reference)",
                revision=None,
                identity=("reference", model),
                source=source,
                created_at=None,
                metrics=with_lenient_accuracies(metrics, analysis),
                mistakes=checked_mistakes({"mistakes": analysis.summary}, source),
                labels_version=labels_version_of(labels.provenance),
                flags=flags,
                reference=True,
                family=PAPER_MODEL_FACTS.family,
                pretraining=PAPER_MODEL_FACTS.pretraining,
            )
        )
    return references


def reference_labels(labels: Labels | LabelSource | None) -> tuple[Labels | None, str | None]:
    """The labels for the reference lines, or None and why they are left out."""
    from ...dataset_script.labels.loading import LabelSource, resolve_labels

    if labels in (None, LabelSource()) and not published_labels_cached():
        return None, (
            "Paper reference lines left out: no labels given "
            f"({named('annotations')} or {named('dataset')}) and the "
            "published annotation file is not cached yet (any `score` or `run` caches it)"
        )
    return resolve_labels(labels), None


# ---------------------------------------------------------------------------------------------
# Table


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
            "did not run (its mistakes are counted under the later categories); Outside label "
            "set: top-1 predictions in none of the image's label sets.",
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


# ---------------------------------------------------------------------------------------------
# The command


@command(
    # Results files, run folders, results datasets (folders, or hf://datasets/... not on disk):
    # every file of a folder is read and protected.
    Read(
        "paths",
        SOURCE,
        expected="a results.json of `score` or `run`, a run folder or a results dataset",
        many=True,
        whole=True,
    ),
    Write("output_dir", FOLDER, writes=OUTPUT_FILES, locked=True),
    LABEL_FILES,
)
def write_leaderboard(
    paths: Sequence[str | os.PathLike],
    output_dir: str | os.PathLike = DEFAULT_OUTPUT_DIR,
    *,
    labels: Labels | LabelSource | None = None,
) -> Leaderboard:
    """Write ``leaderboard.md``, ``leaderboard.csv``, ``leaderboard.html`` and the plots for
    ``paths`` (results files, run directories, results datasets) into ``output_dir``; the paper
    references use the ``labels`` given (as `score_predictions` takes them), else the cached
    published ones, else are left out with a note.

    Everything is read and rendered before the first file is written, each file whole or not at
    all (`eval_cli.outputs`), under the output directory's lock (`eval_cli.frame`): a second
    leaderboard into the same directory is refused, so the md and csv always come from one run."""
    from .html import render_page  # the page reads this module's table

    paths = expect_paths(paths, "write_leaderboard(paths=...)")
    output = Path(expect_path(output_dir, "write_leaderboard(output_dir=...)"))
    loaded, why_not = reference_labels(labels)
    board = board_of(results_paths(paths), paper_references(loaded) if loaded else ())
    if why_not:
        board.notes.append(why_not)
    rendered = {
        name: data for which in ALL_PLOTS for name, data in render_plot(board, which).items()
    }
    pngs = [name for name in rendered if name.endswith(".png")]
    for name, escaper, writer in TABLE_FORMATS:
        rendered[name] = table_file(board, escaper, writer).encode("utf-8")
    rendered[PAGE_FILE] = render_page(board, output).encode("utf-8")
    rendered["leaderboard.md"] = markdown(board, pngs).encode("utf-8")
    for name, data in rendered.items():  # the table last: it shows the plots
        outputs.write_bytes(output / name, data)
    return board

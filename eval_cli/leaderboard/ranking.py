"""The leaderboard's rows: results read, one kept per model identity by `KEEP_RULES` (the notes
say which were left out and which rule decided), ranked by multi-label accuracy, and what the
plots draw chosen (one label version, complete or incomplete results, never both)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone

from ..scores.results_dataset import ResultsFile
from .entries import Entry, Leaderboard, read_entry, results_paths

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

"""Reading results files for the leaderboard: each ``results.json`` of `score` or `run` as one
checked row (`Entry`). Every number read is checked (`results_document.checked_metric`: finite,
in range, a number) and a malformed file is an error naming it and the key; a local model is
named by its folder name only; the flags come from `results.publication_problems`, the one rule
for what is official.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ...dataset_script import escape
from ...dataset_script.taxonomy.categories import CATEGORIES
from ...metric import label_sets
from ...metric.errors import ToolkitError, brief_repr, named
from ..outputs import RESULTS_FILE
from ..scores import mistakes, results, results_document
from ..scores.results_dataset import ResultsFile, results_files
from .families import UNKNOWN, model_facts

# Mistake sources under their names before the rename (``unreviewed`` meant two things).
OLD_MISTAKE_SOURCES = {"unreviewed": "outside-label-set"}
MISTAKE_SOURCES = mistakes.SOURCES
SEVERITIES = ("minor", "borderline", "major")
# What the leaderboard shows of each split: every registered set's column metrics (a total before
# the count it bounds), the outside-label-set count, and what the flags read.
SHOWN_METRICS = {
    split: tuple(
        key
        for label_set in label_sets.in_split(split)
        for metric in label_set.metrics
        if metric.column is not None
        for key in (metric.total, metric.key)
        if key is not None
    )
    for split in label_sets.SPLITS
}
FLAG_METRICS = ("num_outside_label_set", "num_classes_covered", "num_missing_predictions", "limit")
# The metrics read of each split, in reading order.
READ_METRICS = {split: (*shown, *FLAG_METRICS) for split, shown in SHOWN_METRICS.items()}
X_METRIC = ("validation", "top1_accuracy_original")  # the plots' x: every label split result has it


class LeaderboardError(ToolkitError):
    """A results file that cannot be read as a `score` or `run` results document."""


@dataclass(frozen=True)
class Entry:
    """One row: a result, or a paper reference (``reference``: no file, drawn as a line).

    ``model`` is the public name (a Hub id, or a local model's folder name); ``identity`` what
    makes two results the same model's; ``source`` the results file as shown (no local path);
    ``family`` and ``pretraining`` as `families` reads them from the name; ``file`` the results
    file read (None for a reference); ``created_at`` when it was written (UTC when the file names
    no zone), None if unrecorded."""

    model: str
    revision: str | None
    identity: tuple[str, ...]
    source: str
    created_at: datetime | None
    metrics: Mapping[str, Mapping[str, Any]]
    mistakes: Mapping[str, Any] | None
    labels_version: str
    flags: tuple[str, ...]
    reference: bool = False
    family: str = UNKNOWN
    pretraining: str = UNKNOWN
    file: ResultsFile | None = None

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
        """Scored on labels not proven to be the published ones (unverified or unchecked)."""
        return "unverified" in self.flags or "unchecked" in self.flags


@dataclass
class Leaderboard:
    """Rows in rank order, the results each plot draws, and the notes that say what was
    combined, left out and how."""

    entries: list[Entry]
    references: list[Entry]
    notes: list[str] = field(default_factory=list)
    plotted: list[Entry] = field(default_factory=list)
    plotted_references: list[Entry] = field(default_factory=list)


# Reading


def results_paths(inputs: Iterable[str | os.PathLike]) -> list[ResultsFile]:
    """Each input as its results files: a file as is, a run directory's ``results.json``, every
    results file of a results dataset (a local copy, or ``hf://datasets/ORG/NAME``:
    `results_dataset.results_files`)."""
    found = []
    for given in inputs:
        in_dataset = results_files(given)
        if in_dataset is not None:
            found.extend(in_dataset)
            continue
        path = Path(given)
        if path.is_dir():
            path = path / RESULTS_FILE
        if not path.is_file():
            raise LeaderboardError(
                f"{named('paths')} {brief_repr(str(given))}: no results file; expected a "
                "results.json written by `score` or `run`, a run directory holding one, or a "
                "results dataset (a folder written by `push-results`, or hf://datasets/ORG/NAME)"
            )
        found.append(ResultsFile(path))
    return found


def read_entry(file: ResultsFile) -> Entry:
    """One results document as a row: every value read is checked, and a file that is not a
    results document is a `LeaderboardError` naming it and the key; the flags come from
    `results.publication_problems`."""
    path = file.path
    source = str(path)
    document = results_document.read_document(path, LeaderboardError)
    metrics_block = document.get("metrics")
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
        public_name = escape.public_model_name(model_id, local=model.get("local") is True)
        name, identity = public_name, ("model", model_id, revision or "")
    else:  # a `score` result: its predictions file is its identity
        predictions_file = _text(predictions, "source", source, "predictions")
        sha256 = _text(predictions, "sha256", source, "predictions")
        name = _name_from_predictions(predictions_file)
        identity = ("predictions", sha256 or predictions_file or source)
        revision = f"predictions sha256 {sha256[:12]}" if sha256 else None
    facts = model_facts(name)
    return Entry(
        model=name,
        revision=revision,
        identity=identity,
        source=_shown_source(path),
        created_at=_created_at(_object(document, "environment", source), source),
        metrics=metrics,
        mistakes=checked_mistakes(document, source),
        labels_version=labels_version_of(labels),
        flags=results.problem_flags({"labels": labels, "metrics": metrics, "complete": complete}),
        family=facts.family,
        pretraining=facts.pretraining,
        file=file,
    )


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


def _created_at(environment: Mapping[str, Any], source: str) -> datetime | None:
    """``environment.created_at`` as a date and time, so that "newest" compares times, not
    strings ("zzz" would beat any year); None when absent, an error when it is not a date."""
    text = _text(environment, "created_at", source, "environment")
    if not text:
        return None
    try:
        created = datetime.fromisoformat(text)
    except ValueError:
        raise LeaderboardError(
            f"results file {source!r}: 'environment.created_at' is {brief_repr(text)}; expected "
            "an ISO 8601 date and time such as '2026-01-31T12:00:00+00:00'"
        ) from None
    return created if created.tzinfo else created.replace(tzinfo=timezone.utc)


def _where(within: str, key: str) -> str:
    return f"{within}.{key}" if within else key


def _split_metrics(values: Mapping[str, Any], split: str, source: str) -> dict[str, Any]:
    """The metrics of ``split`` that the leaderboard reads, each checked; ``partial`` a flag."""
    checked: dict[str, Any] = {}
    for key in READ_METRICS[split]:
        value = results.metric_value(values, key)
        if value is not None:
            total = label_sets.METRIC_BY_KEY[key].total if key in label_sets.METRIC_BY_KEY else None
            most = checked.get(total) if total is not None else None
            checked[key] = results_document.checked_metric(
                value, key, f"{source}, split {split}", most=most
            )
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
        key: _text(labels, key, source, "labels")
        for key in ("version", "sha256", "source", "verification")
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
    for key in filter(None, (label_set.provenance_key for label_set in label_sets.REGISTRY)):
        block = _object(labels, key, source, "labels")
        if block:
            within = f"labels.{key}"
            verified = block.get("verified")
            checked[key] = {
                "source": _text(block, "source", source, within),
                "sha256": _text(block, "sha256", source, within),
                "verified": verified if isinstance(verified, bool) else None,
            }
    return checked


def checked_mistakes(document: Mapping[str, Any], source: str) -> dict[str, Any] | None:
    """The ``mistakes`` block's counts by source (old source names read as today's), the
    expert severities and the automatic categories (with those not available), each count
    checked; None when the result has no block."""
    block = _object(document, "mistakes", source)
    if not block:
        return None
    by_source = {}
    for name, count in _object(block, "by_source", source, "mistakes").items():
        name = OLD_MISTAKE_SOURCES.get(name, name)
        by_source[name] = results_document.checked_metric(
            count, f"mistakes.by_source.{name}", source
        )
    severities: Counter[str] = Counter()
    table = _object(block, "expert_category_severity", source, "mistakes")
    for category in table:
        within = f"mistakes.expert_category_severity.{category}"
        row = _object(table, category, source, "mistakes.expert_category_severity")
        for severity in SEVERITIES:
            if severity in row:
                severities[severity] += results_document.checked_metric(
                    row[severity], f"{within}.{severity}", source
                )
    auto = _object(block, "auto_categories", source, "mistakes")
    within = "mistakes.auto_categories"
    categories = {}
    for name, count in _object(auto, "categories", source, within).items():
        if name not in CATEGORIES:
            raise LeaderboardError(
                f"results file {source!r}: unknown automatic category {brief_repr(name)} in "
                f"'{within}.categories'; expected {', '.join(CATEGORIES)}"
            )
        categories[name] = results_document.checked_metric(
            count, f"{within}.categories.{name}", source
        )
    not_available = _object(auto, "not_available", source, within)
    unknown = [name for name in not_available if name not in CATEGORIES]
    if unknown:
        raise LeaderboardError(
            f"results file {source!r}: unknown automatic category {brief_repr(unknown[0])} in "
            f"'{within}.not_available'; expected {', '.join(CATEGORIES)}"
        )
    return {
        "by_source": by_source,
        "severities": dict(severities) if table else {},
        "auto_categories": categories,  # empty for results written before them
        "auto_not_available": tuple(not_available),
    }


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


def labels_version_of(labels: Mapping[str, Any]) -> str:
    """The labels' version as tables show it: unverified labels (recomputed from the recorded
    sha256, not a stored ``verified``) say so once, in words."""
    version = str(labels.get("version") or "unknown")
    if results.labels_verified(labels) or labels.get("patched") or "unverified" in version:
        return version
    return f"{version} (unverified)"

"""Where each model of a sweep stands, read from its results tree: done, failed (with the
reason), running (the lock's owner), missing; and the failure record a sweep leaves in a
model's folder.

A model's folder is ``ModelSpec.output_dir(tree)``, as `run --models` names it. It is **done**
when its ``results.json`` reads as a results document and is not older than its predictions
(a rerun that appended predictions and stopped is not done); **running** while a process holds
its ``.run.lock`` (the kernel drops the lock when the holder dies, so a killed job is never
shown as running); **failed** when the sweep recorded a ``failure.json`` there (removed again
when the model succeeds); **missing** otherwise, with the predictions kept so far.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...dataset_script.json_input import JsonInputError, read_json
from ...metric.errors import ToolkitError, named
from .. import outputs
from ..frame import FILE, FOLDER, Read, command
from ..outputs import LOCK_FILE, PREDICTIONS_FILE, RESULTS_FILE
from ..scores import results, results_document
from .manifest import MANIFEST_COPY, SWEEP_FOLDER, ManifestEntry, read_manifest

FAILURE_FILE = "failure.json"
DONE, FAILED, RUNNING, MISSING, SKIPPED = "done", "failed", "running", "missing", "skipped"
STATES = (DONE, FAILED, RUNNING, MISSING, SKIPPED)


@dataclass(frozen=True)
class ModelStatus:
    entry: ManifestEntry
    folder: Path | None
    state: str
    detail: str = ""


def model_folder_in(tree: Path, entry: ManifestEntry) -> Path:
    """The model's folder in a sweep's tree, named as `ModelSpec.output_dir` names it."""
    from ..engine.sweep import ModelSpec

    return ModelSpec(entry.model, entry.revision).output_dir(tree)


def tree_status(entries: Sequence[ManifestEntry], tree: str | os.PathLike) -> list[ModelStatus]:
    """Every entry of a manifest, in order, as its folder in ``tree`` shows it."""
    tree = Path(tree)
    statuses = []
    for entry in entries:
        if entry.skipped is not None:
            statuses.append(ModelStatus(entry, None, SKIPPED, entry.skipped))
        else:
            folder = model_folder_in(tree, entry)
            statuses.append(ModelStatus(entry, folder, *folder_state(folder)))
    return statuses


def folder_state(folder: Path) -> tuple[str, str]:
    """(state, detail) of one model's folder."""
    holder = lock_holder(folder)
    if holder is not None:
        return RUNNING, holder
    document = done_document(folder)
    if document is not None:
        return DONE, _main_number(document)
    failure = _recorded_failure(folder)
    if failure is not None:
        return FAILED, failure
    return MISSING, _kept(folder)


def lock_holder(folder: Path) -> str | None:
    """Who holds the folder's run lock (as they wrote it), or None when nobody does. The lock
    is probed shared and released at once; the file is never created or written."""
    try:
        descriptor = os.open(folder / LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 4096, 0).decode("utf-8", "replace").strip()
            return holder or "holder not yet recorded"
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return None
    finally:
        os.close(descriptor)


def done_document(folder: Path) -> dict[str, Any] | None:
    """The results document of a finished model, or None when it is not finished."""
    path = folder / RESULTS_FILE
    try:
        finished = path.stat().st_mtime_ns
        predicted = (folder / PREDICTIONS_FILE).stat().st_mtime_ns
    except OSError:
        return None
    if finished < predicted:
        return None
    try:
        return results_document.read_document(path)
    except ToolkitError:
        return None


def _main_number(document: dict[str, Any]) -> str:
    metrics = document.get("metrics", {})
    split = "validation" if "validation" in metrics else next(iter(metrics), None)
    if split is None or results.OFFICIAL_KEY not in metrics[split]:
        return "results written"
    cell = results.format_cell(metrics[split], results.OFFICIAL_KEY)
    flags = results.problem_flags(document)
    return f"{split} {cell}" + (f" (not official: {', '.join(flags)})" if flags else "")


def _recorded_failure(folder: Path) -> str | None:
    try:
        record = read_json(folder / FAILURE_FILE, FAILURE_FILE, "a JSON object", top=dict)
        return f"{record['error']}: {record['message']}"
    except (JsonInputError, KeyError):
        return None


def _kept(folder: Path) -> str:
    """How many predictions an unfinished run kept (resumed by the next)."""
    try:
        with open(folder / PREDICTIONS_FILE, "rb") as handle:
            count = sum(1 for _ in handle)
    except OSError:
        return ""
    return f"{count:,} predictions kept, resumed by the next run" if count else ""


def record_failure(folder: Path, name: str, error: ToolkitError) -> None:
    """The failure of a model, kept in its folder for `sweep status` (written whole)."""
    record = {"model": name, "error": type(error).__name__, "message": str(error)}
    outputs.write_json(folder / FAILURE_FILE, record)


def clear_failure(folder: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (folder / FAILURE_FILE).unlink()


def status_report(statuses: Sequence[ModelStatus]) -> str:
    """One line a model (state, model, detail), then the counts per state."""
    width = max((len(status.entry.name) for status in statuses), default=5)
    lines = [f"{'state':<8} {'model':<{width}} detail"]
    for status in statuses:
        lines.append(f"{status.state:<8} {status.entry.name:<{width}} {status.detail}".rstrip())
    counts = Counter(status.state for status in statuses)
    lines.append(
        f"{len(statuses):,} model(s): "
        + ", ".join(f"{counts[state]:,} {state}" for state in STATES if counts[state])
    )
    return "\n".join(lines)


@command(
    Read(
        "tree",
        FOLDER,
        expected="the results tree of `sweep run`",
        may=(f"{SWEEP_FOLDER}/{MANIFEST_COPY}",),
    ),
    Read("manifest", FILE, expected="a manifest of `sweep plan` (JSONL)"),
)
def sweep_status(
    tree: str | os.PathLike, *, manifest: str | os.PathLike | None = None
) -> list[ModelStatus]:
    """`sweep status`: where each model of ``manifest`` (default: the copy `sweep run` keeps in
    the tree) stands in ``tree``."""
    if manifest is None:
        manifest = Path(tree) / SWEEP_FOLDER / MANIFEST_COPY
        if not manifest.exists():
            raise ToolkitError(
                f"{str(tree)!r} holds no {SWEEP_FOLDER}/{MANIFEST_COPY} (no `sweep run` has "
                f"started there yet); pass the manifest with {named('manifest', 'FILE')}"
            )
    return tree_status(read_manifest(manifest), tree)

"""`sweep run`: one shard of a manifest in one launch (one process, or one accelerate/torchrun
launch), into a results tree that is the same whatever the number of shards.

The whole manifest is checked first (every line's kind, every model findable), so that a bad
line stops every shard before anything runs. Then the shard's models that are not done are run
in the manifest's order: labels, images and the decoded cache prepared once; models of one
geometry taken together (up to `run.MAX_MODELS_SHARING_DECODE`), each model's folder locked only
while it runs, so `sweep status` shows as running exactly the models being run. A model whose
folder another process holds is left to it; a model that fails has its reason recorded in its
folder (`status.FAILURE_FILE`) and the others go on; a model finished on the split and limit
asked is never run again (on others, it is resumed: only what is missing is predicted).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...dataset_script.labels.loading import Labels, LabelSource
from ...metric.errors import ToolkitError, first_few
from .. import outputs
from ..engine.distributed import accelerator_for, on_main
from ..engine.launch import Launch, open_launch
from ..engine.run import MAX_MODELS_SHARING_DECODE, run_models
from ..engine.run_options import RunOptions
from ..engine.sweep import (
    RUN_FOLDER_READS_BACK,
    RUN_FOLDER_WRITES,
    ModelSpec,
    Outcome,
    evaluation_declarations,
)
from ..frame import FILE, Read, Subfolders, command
from ..models import ModelLoadError, model_problem
from ..outputs import RESULTS_FILE
from .manifest import DEFAULT_TREE, MANIFEST_COPY, SWEEP_FOLDER, ManifestEntry, read_manifest
from .shards import Shard, shard_entries
from .status import FAILURE_FILE, clear_failure, done_document, model_folder_in, record_failure


@dataclass
class ShardRun:
    """What one shard did: its models, those done before, those another process held, and the
    outcome of each model it ran."""

    shard: Shard
    tree: Path
    entries: list[ManifestEntry]
    done_before: list[ManifestEntry] = field(default_factory=list)
    held_elsewhere: list[ManifestEntry] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)


MANIFEST_EXPECTED = "a manifest of `sweep plan` (JSONL)"


def _default_tree(values: Mapping[str, Any]) -> str:
    return DEFAULT_TREE


def _shard_share(
    entries: Sequence[ManifestEntry], shard: Shard | str | None, tree: str | os.PathLike | None
) -> tuple[list[ManifestEntry], list[Path]]:
    """The shard's entries and each one's folder in ``tree`` (default ``eval_results``)."""
    mine = shard_entries(entries, shard if isinstance(shard, Shard) else Shard.parse(shard))
    return mine, [model_folder_in(Path(tree or DEFAULT_TREE), entry) for entry in mine]


def _shard_folders(values: Mapping[str, Any]) -> list[Path]:
    """The model folders this shard writes, for the frame to examine."""
    entries = read_manifest(values["manifest"])
    return _shard_share(entries, values.get("shard"), values.get("output_dir"))[1]


# A model's folder in the tree: a run's files, and its failure record; locked by this command
# only while that model runs (other shards run the others meanwhile, and `sweep status` shows
# as running exactly the models being run).
_MODEL_FOLDER = Subfolders(
    _shard_folders,
    writes=(*RUN_FOLDER_WRITES, FAILURE_FILE, outputs.LOCK_FILE),
    reads_back=(*RUN_FOLDER_READS_BACK, RESULTS_FILE),
)


@command(
    Read("manifest", FILE, expected=MANIFEST_EXPECTED),
    # The tree: the manifest's copy, and each model's folder.
    *evaluation_declarations(
        writes=(f"{SWEEP_FOLDER}/{MANIFEST_COPY}",),
        default=_default_tree,
        subfolders=_MODEL_FOLDER,
    ),
    plain=("shard",),
)
def sweep_shard(
    manifest: str | os.PathLike,
    images: str | os.PathLike,
    *,
    shard: Shard | str | None = None,
    labels: Labels | LabelSource | None = None,
    options: RunOptions | None = None,
) -> ShardRun:
    """Run ``shard``'s share of ``manifest`` on ``images`` into the tree ``options.output_dir``
    (default ``eval_results``), each model into ``ModelSpec.output_dir(tree)``. ``shard``: a
    `Shard`, its ``K/N`` text, or None for SLURM's array task (else the whole manifest)."""
    options = options or RunOptions()
    if not isinstance(shard, Shard):
        shard = Shard.parse(shard)
    entries = read_manifest(manifest)
    _check_entries(manifest, entries)
    tree = Path(options.output_dir or DEFAULT_TREE)
    mine, folders = _shard_share(entries, shard, tree)
    report = ShardRun(shard, tree, mine)
    accelerator = accelerator_for(options.mixed_precision, options.cpu)
    done = on_main(accelerator, lambda: [_done(folder, options) for folder in folders])
    todo = [(e, f) for e, f, finished in zip(mine, folders, done, strict=True) if not finished]
    report.done_before = [e for e, finished in zip(mine, done, strict=True) if finished]
    if not todo:
        return report
    launch = open_launch(accelerator, images, labels, options)
    on_main(accelerator, lambda: _keep_manifest(Path(manifest), tree))
    for chunk in _chunks(todo):
        _run_chunk(launch, chunk, report)
    return report


def _done(folder: Path, options: RunOptions) -> bool:
    """Finished, on the split and limit asked now (else run again: resumed and scored anew)."""
    document = done_document(folder)
    run = (document or {}).get("run") or {}
    return document is not None and (run.get("split"), run.get("limit")) == (
        options.split,
        options.limit,
    )


def _check_entries(manifest: str | os.PathLike, entries: Sequence[ManifestEntry]) -> None:
    """Every model to score checked before anything runs (its kind, that it can be found: an
    unknown folder, a name that is no Hub id, a model missing from the cache offline)."""
    problems = []
    for entry in entries:
        if entry.skipped is not None:
            continue
        try:
            problem = model_problem(entry.model, entry.revision)
            entry.spec()
        except ModelLoadError as error:
            problem = str(error)
        if problem is not None:
            problems.append(f"line {entry.line}: {problem}")
    if problems:
        raise ModelLoadError(
            f"manifest {str(manifest)!r}: {len(problems)} model(s) cannot be evaluated (first: "
            f"{first_few(problems)}); fix or remove those lines; nothing was run"
        )


def _keep_manifest(manifest: Path, tree: Path) -> None:
    """The manifest swept, kept in the tree for `sweep status` (rewritten only if it changed)."""
    copy = tree / SWEEP_FOLDER / MANIFEST_COPY
    data = manifest.read_bytes()
    with contextlib.suppress(OSError):
        if copy.read_bytes() == data:
            return
    outputs.write_bytes(copy, data)


def _chunks(
    todo: Sequence[tuple[ManifestEntry, Path]],
) -> list[list[tuple[ManifestEntry, Path]]]:
    """Consecutive models of one geometry, at most as many as a launch holds at once."""
    chunks: list[list[tuple[ManifestEntry, Path]]] = []
    for item in todo:
        last = chunks[-1] if chunks else None
        if (
            last is not None
            and len(last) < MAX_MODELS_SHARING_DECODE
            and item[0].geometry_key is not None
            and last[0][0].geometry_key == item[0].geometry_key
        ):
            last.append(item)
        else:
            chunks.append([item])
    return chunks


def _run_chunk(
    launch: Launch, chunk: Sequence[tuple[ManifestEntry, Path]], report: ShardRun
) -> None:
    """The chunk's models whose folders this process can lock, run and their failures kept."""
    with contextlib.ExitStack() as locks:
        free = on_main(launch.accelerator, lambda: _locked(locks, [f for _, f in chunk]))
        runs = [item for item, ok in zip(chunk, free, strict=True) if ok]
        report.held_elsewhere += [
            entry for (entry, _), ok in zip(chunk, free, strict=True) if not ok
        ]
        specs: list[ModelSpec] = [entry.spec() for entry, _ in runs]
        outcomes = run_models(launch, specs, [folder for _, folder in runs], keep_going=True)
        if launch.accelerator.is_main_process:
            for (_, folder), (spec, outcome) in zip(runs, outcomes, strict=True):
                _keep_outcome(folder, spec, outcome)
        report.outcomes += outcomes


def _locked(locks: contextlib.ExitStack, folders: Sequence[Path]) -> list[bool]:
    """Each folder locked into ``locks``, or False where another process holds it."""
    free = []
    for folder in folders:
        try:
            locks.enter_context(outputs.locked_folder(folder))
            free.append(True)
        except outputs.OutputDirectoryInUseError as error:
            print(f"note: {error}", file=sys.stderr)
            free.append(False)
    return free


def _keep_outcome(folder: Path, spec: ModelSpec, outcome: Any) -> None:
    """A failure recorded in the model's folder; a success clears an earlier one."""
    if isinstance(outcome, ToolkitError):
        record_failure(folder, spec.name, outcome)
    else:
        clear_failure(folder)


def shard_summary(report: ShardRun) -> str:
    """One line: what this shard had, skipped as done, left to others, ran and failed."""
    failed = sum(isinstance(outcome, ToolkitError) for _, outcome in report.outcomes)
    return (
        f"shard {report.shard}: {len(report.entries):,} model(s); {len(report.done_before):,} "
        f"done before, {len(report.held_elsewhere):,} held by another process, "
        f"{len(report.outcomes):,} run ({failed:,} failed) into {report.tree}"
    )

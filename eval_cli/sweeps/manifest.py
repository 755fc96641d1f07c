"""A sweep's manifest: the classifiers to score, one JSON object a line.

``{"model": ID, "revision": REV, "kind": KIND, "geometry": {...}, "cost": 1.0, "skipped": null}``:
``model`` a Hub id or local folder, ``revision`` and ``kind`` as in `ModelSpec` (null: the
default branch, detected; the kind is checked when the sweep runs, as reading a manifest imports
no model code), ``geometry`` how the model resizes and crops (models with equal
geometry resize the same decoded pixels the same way, so a shard keeps them together; null:
not known before the model loads), ``cost`` its estimated cost relative to a 224x224 model
(shards balance it), ``skipped`` why the model is not scored (no ImageNet-1k head, a label space
the adapters cannot map), or null. The file is written in the order shards run it: by geometry,
the most common first, then by model.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...dataset_script.json_input import JsonLineError, json_line
from ...metric.errors import ToolkitError, brief_repr, first_few, text_file_lines
from .. import outputs

if TYPE_CHECKING:
    from ..engine.sweep import ModelSpec

_FIELDS = ("model", "revision", "kind", "geometry", "cost", "skipped")
_LINE = (
    '{"model": ID, "revision": REV or null, "kind": KIND or null, "geometry": {...} or null, '
    '"cost": NUMBER, "skipped": REASON or null}'
)

# Where a results tree keeps what its sweep swept: the manifest's copy, SLURM's script and logs.
SWEEP_FOLDER = "_sweep"
MANIFEST_COPY = "manifest.jsonl"
DEFAULT_TREE = "eval_results"


class ManifestError(ToolkitError):
    """A manifest that cannot be read as one."""


@dataclass(frozen=True)
class ManifestEntry:
    """One model of a sweep (see the module's docstring for the fields)."""

    model: str
    revision: str | None = None
    kind: str | None = None
    geometry: Mapping[str, Any] | None = field(default=None, hash=False)
    cost: float = 1.0
    skipped: str | None = None
    line: int | None = field(default=None, compare=False)  # in the manifest read, for messages

    def spec(self) -> ModelSpec:
        """The engine's spec of this model; its kind is checked here (importing the models'
        code, which reading a manifest does not need)."""
        from ..engine.sweep import ModelSpec

        return ModelSpec(self.model, self.revision, self.kind)

    @cached_property
    def geometry_key(self) -> str | None:
        """Equal for equal geometries (the grouping key); None when the geometry is unknown."""
        return None if self.geometry is None else json.dumps(self.geometry, sort_keys=True)

    @property
    def name(self) -> str:
        """How reports name it (as `ModelSpec.name`)."""
        return f"{self.model}@{self.revision}" if self.revision else self.model

    def as_record(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}


def ordered(entries: Iterable[ManifestEntry]) -> list[ManifestEntry]:
    """The manifest's order: the models to score grouped by geometry (the most common first,
    unknown geometries last), each group by model; then the skipped ones, by model."""
    entries = list(entries)
    scored = [entry for entry in entries if entry.skipped is None]
    sizes = Counter(entry.geometry_key for entry in scored)

    def place(entry: ManifestEntry) -> tuple:
        key = entry.geometry_key
        return (key is None, -sizes[key], key or "", entry.model, entry.revision or "")

    skipped = sorted((e for e in entries if e.skipped is not None), key=lambda e: e.model)
    return sorted(scored, key=place) + skipped


def write_manifest(path: str | os.PathLike, entries: Sequence[ManifestEntry]) -> None:
    """The manifest written whole (JSON lines, ``ordered``)."""
    outputs.write_lines(path, (json.dumps(entry.as_record()) for entry in ordered(entries)))


def read_manifest(path: str | os.PathLike) -> list[ManifestEntry]:
    """Every entry of a manifest, checked whole: a bad line (not JSON, an unknown field, a cost
    that is no positive number) or a model to score listed twice is refused, naming the lines."""
    path = Path(path)
    lines = text_file_lines(path, "manifest", "a JSONL file of `sweep plan`", ManifestError)
    entries, problems = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entries.append((number, _entry(line, number)))
        except ValueError as error:
            problems.append(f"line {number}: {error}")
    if problems:
        raise ManifestError(
            f"manifest {str(path)!r}: {len(problems)} line(s) are not entries (first: "
            f"{first_few(problems)}); expected one object a line: {_LINE}"
        )
    seen: set[tuple[str, str | None]] = set()
    twice = []
    for number, entry in entries:  # a skipped line only informs: it may repeat a model
        key = (entry.model, entry.revision)
        if key in seen and entry.skipped is None:
            twice.append(f"line {number}: {entry.name}")
        if entry.skipped is None:
            seen.add(key)
    if twice:
        raise ManifestError(
            f"manifest {str(path)!r} lists {len(twice)} line(s) of a model already listed (first: "
            f"{first_few(twice)}); expected each model, or each revision of it, once"
        )
    if not entries:
        raise ManifestError(f"manifest {str(path)!r} lists no model; expected {_LINE}")
    return [entry for _, entry in entries]


def _entry(line: str, number: int) -> ManifestEntry:
    """One line as an entry, or ValueError saying what is wrong with it."""
    try:
        record = json_line(line)
    except JsonLineError as problem:
        raise ValueError(f"{problem}: {brief_repr(line)}") from None
    if not isinstance(record, dict):
        raise ValueError(f"not an object: {brief_repr(line)}")
    unknown = sorted(set(record) - set(_FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(map(brief_repr, unknown))}")
    model, revision, kind = record.get("model"), record.get("revision"), record.get("kind")
    geometry, cost, skipped = record.get("geometry"), record.get("cost", 1.0), record.get("skipped")
    if not isinstance(model, str) or not model:
        raise ValueError(f"model {brief_repr(model)} is not a model id or folder")
    for name, value in (("revision", revision), ("skipped", skipped)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"{name} of {brief_repr(model)} is {brief_repr(value)}, not text")
    if kind is not None and (not isinstance(kind, str) or not kind):
        raise ValueError(f"kind of {brief_repr(model)} is {brief_repr(kind)}, not text")
    if geometry is not None and not isinstance(geometry, dict):
        raise ValueError(f"geometry of {brief_repr(model)} is {brief_repr(geometry)}")
    if isinstance(cost, bool) or not isinstance(cost, int | float) or not 0 < cost < math.inf:
        raise ValueError(f"cost of {brief_repr(model)} is {brief_repr(cost)}")
    return ManifestEntry(model, revision, kind, geometry, float(cost), skipped, number)

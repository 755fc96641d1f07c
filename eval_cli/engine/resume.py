"""Resuming a run: what its predictions depend on, which images it already predicted, and that
those images still hold the same bytes.

``run_identity.json`` records the model, precision, where images are preprocessed and decoded,
and the labels; a restart with another is refused,
not mixed in. Each prediction line records its image's fingerprint, so a prediction is reused only
for the same bytes wherever they are read from now. What a kill leaves (a torn line, duplicates) is
repaired before anything is reused.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ...dataset_script.images.source import ImageSource, LocatedImages
from ...dataset_script.json_input import JsonInputError, JsonLineError, json_line, read_json
from ...metric.errors import (
    ToolkitError,
    brief_repr,
    first_few,
    named,
    shorten,
)
from .. import outputs
from ..feed.fingerprint import ImageFingerprint
from ..outputs import IDENTITY_FILE, PREDICTIONS_FILE
from ..scores.predictions import read_predictions


class ResumeError(ToolkitError):
    """The output directory holds predictions that this run cannot continue."""


def run_identity(
    model: Mapping[str, Any],
    mixed_precision: str,
    labels: Mapping[str, Any],
    *,
    preprocess_on: str,
    decode_on: str,
) -> dict[str, Any]:
    """What the predictions depend on; a resumed run must match it exactly. Where images are
    resized and decoded is part of it: a device decoder's pixels are not PIL's."""
    return {
        "model": model,
        "mixed_precision": mixed_precision,
        "preprocess_on": preprocess_on,
        "decode_on": decode_on,
        "labels_sha256": labels.get("sha256"),
    }


_IDENTITY_BEFORE_FEED_CHOICES = {"preprocess_on": "cpu", "decode_on": "cpu"}


def predicted_before(
    source: ImageSource, wanted: Sequence[str], output_dir: Path, identity: dict[str, Any]
) -> list[str]:
    """Main process: the ``wanted`` images that an interrupted run of the same identity
    predicted into ``output_dir``, their bytes checked against ``source``."""
    _prepare_output_dir(output_dir, identity)
    predictions_path = output_dir / PREDICTIONS_FILE
    recorded = _completed(predictions_path)
    reused = source.locate([name for name in wanted if name in recorded])
    _check_same_images(recorded, reused, predictions_path)
    return list(reused.file_names)


def _prepare_output_dir(output_dir: Path, identity: dict) -> None:
    """Main process: record the run's identity, or check it against an interrupted run's."""
    identity_path, predictions_path = output_dir / IDENTITY_FILE, output_dir / PREDICTIONS_FILE
    if not predictions_path.exists():
        try:
            outputs.write_json(identity_path, identity)
        except OSError as error:
            raise outputs.write_error(identity_path, error, "nothing was run") from error
        return
    recorded, unreadable = _recorded_identity(identity_path)
    if unreadable is not None:
        raise ResumeError(
            f"{str(output_dir)!r} holds predictions, but {IDENTITY_FILE}, which says which run "
            f"made them, {unreadable}; they cannot be resumed: choose another output directory "
            "or remove that one"
        )
    # Runs recorded before these keys existed decoded and preprocessed on the CPU (PIL).
    recorded = {**_IDENTITY_BEFORE_FEED_CHOICES, **recorded}
    if recorded != identity:
        raise ResumeError(
            f"{str(output_dir)!r} holds predictions of a different run: "
            f"{_identity_difference(recorded, identity)}; choose another output directory or "
            "remove that one"
        )


def _recorded_identity(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The identity an earlier run recorded, or why it cannot be read (missing, not UTF-8 JSON,
    not an object, nested too deep to compare)."""
    try:
        recorded = read_json(path, IDENTITY_FILE, "the JSON object a run records", top=dict)
        repr(recorded)  # nested too deep for Python to print, it could not be compared either
    except JsonInputError as error:
        return None, f"cannot be read ({shorten(str(error))})"
    except RecursionError:
        return None, "cannot be read (nested too deeply to compare)"
    return recorded, None


def _identity_difference(recorded: dict[str, Any], identity: dict[str, Any]) -> str:
    """The fields that differ, each with the recorded and the new value."""
    differences = [
        f"{path}: recorded {brief_repr(old)}, now {brief_repr(new)}"
        for path, old, new in _leaf_differences(recorded, identity, "")
    ]
    return "; ".join(differences[:5]) + (
        f" (+{len(differences) - 5} more)" if len(differences) > 5 else ""
    )


def _leaf_differences(old: Any, new: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            yield from _leaf_differences(
                old.get(key), new.get(key), f"{path}.{key}" if path else key
            )
    elif old != new:
        yield path, old, new


def _completed(predictions_path: Path) -> dict[str, ImageFingerprint | None]:
    """File names already predicted by an earlier, interrupted run of the same identity (for
    any split: a later run over more splits reuses them), with their images' fingerprints."""
    if not predictions_path.exists() or predictions_path.stat().st_size == 0:
        return {}
    records = _first_complete_record_per_image(predictions_path)
    read_predictions(predictions_path)  # every kept line as `score` reads it, or a clear error
    return {name: ImageFingerprint.from_record(record) for name, record in records.items()}


def _first_complete_record_per_image(path: Path) -> dict[str, dict[str, Any]]:
    """Repair what a kill or two concurrent runs (before runs took a lock) leave behind: a torn
    line, interleaved fragments, the same image predicted twice. The first complete line of each
    file name is kept; the rest is dropped (their images are predicted again if none is kept)
    and counted in one line on stderr. The file is replaced atomically, only if something
    was dropped."""
    kept: dict[str, tuple[bytes, dict[str, Any]]] = {}
    duplicates = incomplete = 0
    with open(path, "rb") as handle:
        for line in handle:
            record = _record_of_line(line)
            if record is None:
                incomplete += 1
            elif record["file_name"] in kept:
                duplicates += 1
            else:
                kept[record["file_name"]] = line, record
    if duplicates or incomplete:
        outputs.write_bytes(
            path, b"".join(line for line, _ in kept.values()), mode=path.stat().st_mode & 0o777
        )
        print(
            f"note: repaired {path}: dropped {duplicates} duplicate and {incomplete} incomplete "
            f"line(s), kept the first complete line of each of {len(kept)} images",
            file=sys.stderr,
        )
    return {name: record for name, (_, record) in kept.items()}


def _record_of_line(line: bytes) -> dict[str, Any] | None:
    """A whole JSON object line (ending in a newline) with a string file name, else None."""
    if not line.endswith(b"\n"):
        return None
    try:
        record = json_line(line)
    except JsonLineError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("file_name"), str):
        return None
    return record


def _check_same_images(
    recorded: Mapping[str, ImageFingerprint | None],
    reused: LocatedImages,
    predictions_path: Path,
) -> None:
    """Reuse predictions only of the same bytes, wherever they are read from now (another path,
    a tar instead of a folder): each reused image is read and hashed again, never decoded."""
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        now = pool.map(lambda index: ImageFingerprint.of(reused[index][1]), range(len(reused)))
        differing = [
            f"{name}: {recorded[name]} then, {fingerprint} now"
            for name, fingerprint in zip(reused.file_names, now, strict=True)
            if recorded[name] not in (None, fingerprint)
        ]
    if differing:
        raise ResumeError(
            f"{len(differing)} of the {len(reused)} images already predicted in "
            f"{str(predictions_path)!r} differ in {reused.source} (first: {first_few(differing)});"
            " those predictions were made from other images: evaluate this source into another "
            f"{named('output_dir')}, or remove the directory to predict every image again"
        )
    unchecked = sum(recorded[name] is None for name in reused.file_names)
    if unchecked:
        print(
            f"note: {unchecked} reused prediction(s) in {predictions_path} were written before "
            f"runs recorded image fingerprints; they are not checked against {reused.source}",
            file=sys.stderr,
        )

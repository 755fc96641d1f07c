"""``imagenet-multilabel patches merge``: the merged patch and its conflicts written to disk.

The merging itself is `dataset_script.labels.consensus`; this declares its files to the command
frame (`eval_cli.frame`: never over one of the patches merged, two outputs never one file) and
writes the patch and its conflicts together through `eval_cli.outputs` (both whole or neither).
`merge_patches` is the API's name for the merge alone, framed the same way (it reads the patches
and writes nothing).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...dataset_script.labels import consensus
from ...dataset_script.labels.consensus import DEFAULT_MIN_AGREEMENT
from ...metric.errors import expect_path
from .. import outputs
from ..frame import FILE, Read, Write, command

CONFLICTS_FILE = "conflicts.jsonl"
_PATCHES = Read("paths", FILE, expected="a label patch file", many=True)

merge_patches = command(_PATCHES, plain=("min_agreement", "base_sha256"))(consensus.merge_patches)


def default_conflicts(values: Mapping[str, Any]) -> Path | None:
    """``conflicts.jsonl`` beside the merged patch."""
    output = values.get("output")
    return Path(output).parent / CONFLICTS_FILE if isinstance(output, str | os.PathLike) else None


@command(
    _PATCHES,
    # Each folder they go into is locked: two merges into one place never mix their files.
    Write("output", FILE, locked=True),
    Write("conflicts", FILE, default=default_conflicts, locked=True),
    plain=("min_agreement",),
)
def write_merged_patch(
    paths: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    conflicts: str | os.PathLike | None = None,
    min_agreement: int = DEFAULT_MIN_AGREEMENT,
) -> dict[str, Any]:
    """Merge ``paths`` into the patch ``output`` and write the conflicts (default:
    ``conflicts.jsonl`` beside it); return the merge report.

    The two files are one result, written together (both or neither) while their folders are
    locked, so that a merge never leaves its patch beside another merge's conflicts."""
    expect_path(output, "output")
    expect_path(conflicts, "conflicts", optional=True)
    conflicts_path = Path(conflicts or default_conflicts({"output": output}))
    document, found, report = consensus.merge_patches(paths, min_agreement=min_agreement)
    outputs.write_files(
        {
            conflicts_path: "".join(f"{json.dumps(item)}\n" for item in found).encode(),
            Path(output): f"{json.dumps(document, indent=2)}\n".encode(),
        }
    )
    return report


def summary(report: Mapping[str, Any]) -> str:
    """What `patches merge` prints: what was kept, the conflicts, and the agreement."""
    lines = [
        f"{report['num_kept']} of {report['num_pairs_decided']} (image, class) pair(s) kept "
        f"(at least {report['min_agreement']} of {len(report['reviewers'])} reviewers agreeing); "
        f"{report['num_conflicts']} conflict(s), {report['num_conflicts_resolved']} resolved by "
        f"majority; {report['num_held_back']} held back (too few reviewers)"
    ]
    agreement = report["agreement"]
    lines += [
        f"Cohen's kappa {' / '.join(pair['reviewers'])}: {_kappa_text(pair)}"
        for pair in agreement["cohen"]
    ]
    lines.append(
        f"Fleiss' kappa ({agreement['fleiss']['num_raters']} reviewers): "
        f"{_kappa_text(agreement['fleiss'])}"
    )
    return "\n".join(lines)


def _kappa_text(result: dict[str, Any]) -> str:
    if result["kappa"] is None:
        return f"undefined on {result['num_items']} item(s): {result['undefined']}"
    return f"{result['kappa']:.3f} on {result['num_items']} item(s)"

"""``imagenet-multilabel patches merge``: the merged patch and its conflicts written to disk.

The merging itself is `dataset_script.patch_merge`; this writes its results through
`eval_cli.outputs` (whole or nothing, never over one of the patches merged).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...dataset_script.labels.consensus import DEFAULT_MIN_AGREEMENT, merge_patches
from .. import outputs

CONFLICTS_FILE = "conflicts.jsonl"


def write_merged_patch(
    paths: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    conflicts_output: str | os.PathLike | None = None,
    min_agreement: int = DEFAULT_MIN_AGREEMENT,
) -> dict[str, Any]:
    """Merge ``paths`` into the patch ``output`` and write the conflicts (default:
    ``conflicts.jsonl`` beside it); return the merge report."""
    output = Path(output)
    conflicts_path = Path(conflicts_output or output.parent / CONFLICTS_FILE)
    outputs.refuse_overwriting_inputs(
        {"--output": output, "--conflicts": conflicts_path},
        {f"patch {path}": path for path in paths},
    )
    document, conflicts, report = merge_patches(paths, min_agreement=min_agreement)
    outputs.write_lines(conflicts_path, (json.dumps(conflict) for conflict in conflicts))
    outputs.write_json(output, document)
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

"""``imagenet-multilabel patches merge``: the merged patch and its conflicts written to disk.

The merging itself is `dataset_script.labels.consensus`; this writes its results through
`eval_cli.outputs`: the patch and its conflicts together, whole or nothing, under a lock, never
over one of the patches merged.
"""

from __future__ import annotations

import contextlib
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
    ``conflicts.jsonl`` beside it); return the merge report.

    The two files are one result: both are checked before the merge (files, not folders; two
    files, not one under two names; none of the patches merged), then written together (both or
    neither) while their folders are locked, so that two merges into one place never leave one's
    patch beside the other's conflicts."""
    output = Path(output)
    conflicts_path = Path(conflicts_output or output.parent / CONFLICTS_FILE)
    targets = {"--output": output, "--conflicts": conflicts_path}
    for option, path in targets.items():
        outputs.refuse_directory_as_file(path, option)
    if _same_file(output, conflicts_path):
        raise outputs.OutputOverwritesInputError(
            f"--output {str(output)!r} and --conflicts {str(conflicts_path)!r} are one file; the "
            "conflicts would replace the merged patch: choose two files; nothing was written"
        )
    outputs.refuse_overwriting_inputs(targets, {f"patch {path}": path for path in paths})
    document, conflicts, report = merge_patches(paths, min_agreement=min_agreement)
    folders = {path.parent.expanduser().resolve(): option for option, path in targets.items()}
    with contextlib.ExitStack() as locks:
        for folder, option in sorted(folders.items()):
            locks.enter_context(outputs.exclusive_directory(folder, option))
        outputs.write_files(
            {
                conflicts_path: "".join(f"{json.dumps(item)}\n" for item in conflicts).encode(),
                output: f"{json.dumps(document, indent=2)}\n".encode(),
            }
        )
    return report


def _same_file(first: Path, second: Path) -> bool:
    """Whether two paths name one file: the same path resolved, or (when both exist) the same
    file under two names (a hard link)."""
    if first.expanduser().resolve() == second.expanduser().resolve():
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them is not there yet
        return False


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

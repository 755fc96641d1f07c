"""`imagenet-multilabel push-results TREE --repo-id ORG/DATASET`: a tree of run folders published
as one results dataset (`results_dataset`: the layout, official and flagged results apart), in
batched commits (`dataset_script.hub.files`).

Everything is checked before the first commit (`results_dataset.plan_tree`: every predictions
file is the one its results were scored from, no two results at one path, no local path in a
public document, no image among the files), so a bad tree sends nothing. ``--dry-run`` does all
of that offline and prints every file it would send. An upload stopped midway keeps its whole
commits; the same command resumes it (the Hub skips files it already holds unchanged). The card
is committed last: it declares the configs of what the repository then holds.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from huggingface_hub import HfApi

from ...dataset_script.hub.access import PushError, hub_call, resolve_token
from ...dataset_script.hub.files import (
    FILES_PER_COMMIT,
    PendingFile,
    commit_in_batches,
    refuse_images,
)
from ...dataset_script.hub.ids import hub_repo_id_problem
from ...metric.errors import brief_repr, expect_count, expect_flag, expect_path, named
from ..frame import FOLDER, Read, command
from . import results
from .results_dataset import (
    CARD_FILE,
    FLAGGED,
    OFFICIAL,
    STATUS_FOLDERS,
    ResultsDatasetError,
    TreePlan,
    dataset_card,
    plan_tree,
    result_files,
)


@command(
    Read("tree", FOLDER, expected="a folder of run folders", whole=True),
    plain=("repo_id", "private", "dry_run", "files_per_commit", "api", "echo"),
)
def push_results(
    tree: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    dry_run: bool = False,
    files_per_commit: int = FILES_PER_COMMIT,
    api: HfApi | None = None,
    echo: Callable[[str], None] = print,
) -> str | None:
    """Publish the run folders under ``tree`` to the dataset repository ``repo_id`` (created if
    absent, ``private`` then); its URL, or None on a dry run, which touches no network."""
    tree = expect_path(tree, "tree")
    expect_flag(private, "private")
    expect_flag(dry_run, "dry_run")
    expect_count(files_per_commit, "files_per_commit")
    problem = hub_repo_id_problem(repo_id)
    if problem is not None:
        raise PushError(
            f"{named('repo_id')} {brief_repr(repo_id)} is not a Hub dataset id: {problem}"
        )
    plan = plan_tree(tree)
    if not plan.published:
        raise ResultsDatasetError(
            f"nothing to publish under {str(tree)!r}: no run folder with results.json and its "
            f"predictions{_skipped_summary(plan)}"
        )
    files = [file for result in plan.published for file in result_files(result)]
    refuse_images([path for path, _ in files], repo_id)
    counts = _counts(plan)
    if dry_run:
        echo(_dry_run_report(plan, Path(tree), repo_id, len(files) + 1, files_per_commit))
        return None
    for note in _notes(plan, Path(tree)):
        echo(note)
    api = api or HfApi(token=resolve_token())
    target = f"datasets/{repo_id}"
    with hub_call(
        f"could not publish the results to {target}",
        advice="the commits already made are kept; run the same command again to finish (files "
        "the repository holds unchanged are skipped)",
    ):
        remote = (
            api.list_repo_files(repo_id, repo_type="dataset")
            if api.repo_exists(repo_id, repo_type="dataset")
            else []
        )
        url = str(api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True))
        held = {path.split("/", 1)[0] for path in remote} | {r.status for r in plan.published}
        card = dataset_card(
            repo_id, [status for status in STATUS_FOLDERS if status in held], counts
        )
        pending = [PendingFile(path, make) for path, make in files]
        pending.append(PendingFile(CARD_FILE, card.encode))
        commits = commit_in_batches(
            api,
            repo_id,
            pending,
            message=f"Add {len(plan.published):,} ImageNet multi-label result(s)",
            files_per_commit=files_per_commit,
            echo=echo,
        )
    echo(
        f"published {counts[OFFICIAL]:,} official and {counts[FLAGGED]:,} flagged result(s) to "
        f"{url} in {commits:,} commit(s){_skipped_summary(plan)}"
    )
    return url


def _dry_run_report(
    plan: TreePlan, tree: Path, repo_id: str, num_files: int, files_per_commit: int
) -> str:
    """Every result with its status, place and source folder; the card; the folders left out."""
    commits = -(-num_files // files_per_commit)
    lines = [
        f"DRY RUN: nothing is sent. A real run creates datasets/{repo_id} if it is absent and "
        f"commits {num_files:,} file(s) in {commits:,} commit(s) of at most {files_per_commit:,}:"
    ]
    for result in plan.published:
        flags = results.short_names(result.problems)
        lines.append(
            f"  {result.status:<8}  {result.results_path}  (+ {Path(result.predictions_path).name})"
            f"  <- {_shown(result.folder, tree)}" + (f"  [{', '.join(flags)}]" if flags else "")
        )
    lines.append(f"  card      {CARD_FILE}  (its configs: the status folders the repository holds)")
    counts = _counts(plan)
    lines.append(
        f"{counts[OFFICIAL]:,} official and {counts[FLAGGED]:,} flagged result(s) (flagged: not "
        f"official, published under {FLAGGED}/ with the reasons){_skipped_summary(plan)}"
    )
    return "\n".join([*lines, *_notes(plan, tree)])


def _counts(plan: TreePlan) -> dict[str, int]:
    return {status: sum(r.status == status for r in plan.published) for status in STATUS_FOLDERS}


def _notes(plan: TreePlan, tree: Path) -> list[str]:
    return [f"note: left out {_shown(folder, tree)}: {reason}" for folder, reason in plan.skipped]


def _shown(folder: Path, tree: Path) -> str:
    return folder.relative_to(tree).as_posix() if folder != tree else "."


def _skipped_summary(plan: TreePlan) -> str:
    return f"; {len(plan.skipped):,} folder(s) left out (see the notes)" if plan.skipped else ""

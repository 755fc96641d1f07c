"""Many small files to and from a Hub dataset repository: uploaded in batched commits, and a
filtered snapshot of some of them downloaded.

Batches, because one commit of thousands of files is what the Hub advises against (its
"repository limitations" page: under ~100 files per commit over the HTTP API) and what times out;
huggingface_hub's own streamed ``upload_folder`` (2.x, with hf_xet) also splits large uploads
into commits of 20 to 1,000 files. Here each batch is one ``HfApi.create_commit`` of at most
``files_per_commit`` ``CommitOperationAdd``, whose contents are made only when their batch is
sent (a sweep's 2,600 files are never all in memory). ``create_commit`` skips files whose content
equals the remote one, and a commit that would change nothing, so an interrupted push resumes by
running it again. No file that holds images is ever sent (`push_dataset.image_paths`: ImageNet's
terms forbid re-hosting them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi

from .access import HUB_ERRORS, PushError
from .push_dataset import image_paths

FILES_PER_COMMIT = 100


@dataclass(frozen=True)
class PendingFile:
    """A file to upload: where it goes in the repository and how to make its bytes."""

    path_in_repo: str
    content: Callable[[], bytes]


def refuse_images(paths: Sequence[str], repo_id: str) -> None:
    """A `PushError` when any of ``paths`` would publish images (`image_paths`)."""
    images = image_paths(paths)
    if images:
        raise PushError(
            f"refusing to upload {len(images):,} image file(s) to datasets/{repo_id} (first: "
            f"{images[0]!r}): ImageNet's terms (https://image-net.org/download.php) do not allow "
            "re-hosting its images, and this upload is meant to hold none"
        )


def commit_in_batches(
    api: HfApi,
    repo_id: str,
    files: Sequence[PendingFile],
    *,
    message: str,
    files_per_commit: int = FILES_PER_COMMIT,
    echo: Callable[[str], None] = print,
) -> int:
    """Commit ``files`` to the dataset repository ``repo_id`` (which exists), in order, at most
    ``files_per_commit`` per commit; the number of commits sent. A batch whose file cannot be
    made or sent stops the upload: the commits before it stay, whole."""
    refuse_images([file.path_in_repo for file in files], repo_id)
    batches = [
        files[start : start + files_per_commit] for start in range(0, len(files), files_per_commit)
    ]
    for number, batch in enumerate(batches, start=1):
        operations = [
            CommitOperationAdd(path_in_repo=file.path_in_repo, path_or_fileobj=file.content())
            for file in batch
        ]
        part = f" (part {number} of {len(batches)})" if len(batches) > 1 else ""
        api.create_commit(
            repo_id,
            operations,
            commit_message=f"{message}{part}",
            repo_type="dataset",
        )
        echo(f"commit {number}/{len(batches)}: {len(batch):,} file(s) sent")
    return len(batches)


def download_files(repo_id: str, patterns: Sequence[str], *, error: type[Exception]) -> Path:
    """The local folder of a snapshot of the dataset repository ``repo_id`` holding only the
    files matching ``patterns`` (huggingface_hub's cache: offline, what was downloaded before).
    Hub and network errors become ``error`` naming the repository."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, repo_type="dataset", allow_patterns=list(patterns)))
    except HUB_ERRORS as problem:
        raise error(
            f"cannot read the dataset repository {repo_id!r} from the Hub: "
            f"{type(problem).__name__}: {problem}"
        ) from None

"""The one writer of the toolkit's output files.

Every command writes through here, so three guarantees hold at one place instead of per input:
an output never replaces one of the command's own inputs; a file is written whole or not at all
(a temporary file beside it, synced, then renamed; a failure removes the temporary and leaves the
old file); and a failed write is one ``OutputWriteError`` naming the path and what to do. An
output directory that a command fills with several files is held under an exclusive lock, so two
runs into it never mix their files. A run's folder is named here too, and its predictions file
grows through the one appender that keeps it whole batch by batch.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..metric.errors import ToolkitError, brief_repr

if TYPE_CHECKING:
    from ..dataset_script.labels.loading import LabelSource

LOCK_FILE = ".run.lock"
# What `run` writes into its output folder.
PREDICTIONS_FILE = "predictions.jsonl"
RESULTS_FILE = "results.json"
IDENTITY_FILE = "run_identity.json"


class OutputWriteError(ToolkitError):
    """An output could not be written (a full disk, a read-only directory, a name too long)."""


class OutputOverwritesInputError(ToolkitError):
    """An output path names one of the command's inputs: writing it would destroy the input."""


class OutputDirectoryInUseError(ToolkitError):
    """Another command holds the output directory; two writers into one folder would mix it."""


def write_error(path: str | os.PathLike, error: OSError, consequence: str) -> OutputWriteError:
    """The one message of a failed write: which path, why, what it means, what to do."""
    return OutputWriteError(
        f"cannot write {str(path)!r} ({error.strerror or error}); {consequence}; free space on "
        "that disk (or make the directory writable) and run the same command again"
    )


def refuse_overwriting_inputs(
    outputs: Mapping[str, str | os.PathLike | None],
    inputs: Mapping[str, str | os.PathLike | None],
) -> None:
    """Refuse before anything is written if an output file is an input file, or an output folder
    is an input. ``outputs`` and ``inputs`` map the parameter name (as the user gave it) to its
    path; ``None`` entries are ignored. A folder the command reads file by file (a labels
    dataset, a run folder) is given as its files (`folder_inputs`)."""
    # Each input resolved and stat-ed once: its path, and its file's identity (hard links).
    known = [
        (name, _resolved(given), _file_id(given))
        for name, given in inputs.items()
        if given is not None
    ]
    for output_name, output in outputs.items():
        if output is None:
            continue
        output_path, output_id = _resolved(output), _file_id(output)
        for input_name, input_path, input_id in known:
            if output_path == input_path or (output_id is not None and output_id == input_id):
                raise OutputOverwritesInputError(
                    f"{output_name} {str(output)!r} is the {input_name} it reads; writing it "
                    f"would destroy that input: choose another {output_name}; nothing was written"
                )


def folder_inputs(
    name: str, folder: str | os.PathLike, *, recursive: bool = True
) -> dict[str, Path]:
    """Every file of an input ``folder`` (with ``recursive``, of its subfolders too), each named
    as ``name``'s file, for `refuse_overwriting_inputs`; none for a folder that is not there."""
    root = Path(folder).expanduser()
    if not _is_directory(root):
        return {}
    files = root.rglob("*") if recursive else root.iterdir()
    return {
        f"{name}'s {path.relative_to(root).as_posix()}": path for path in files if path.is_file()
    }


def label_inputs(labels: LabelSource) -> dict[str, str | os.PathLike | None]:
    """The files a ``LabelSource`` reads, named by option, for `refuse_overwriting_inputs`: the
    annotation file, each patch, and every file of a local labels dataset folder."""
    return {
        "`annotations`": labels.annotations,
        **{f"`patches` {Path(patch).name}": patch for patch in labels.patches},
        "`dataset`": labels.dataset,
        **(folder_inputs("`dataset`", labels.dataset) if labels.dataset is not None else {}),
    }


def refuse_directory_as_file(path: str | os.PathLike | None, option: str) -> None:
    """Refuse before any work an output file path that is an existing directory."""
    if path is not None and _is_directory(_resolved(path)):
        raise OutputWriteError(
            f"{option} {str(path)!r} is a directory; expected the path of a file to write "
            "(such as results.json inside it); nothing was run"
        )


def _resolved(path: str | os.PathLike) -> Path:
    return Path(path).expanduser().resolve()


def _is_directory(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):  # a name too long to look up, or holding NUL: no folder
        return False


def _file_id(path: str | os.PathLike) -> tuple[int, int] | None:
    """The device and inode of an existing file, which every name of it shares (hard links;
    ``resolve`` already follows symbolic links); None for a path that is not there."""
    try:
        status = os.stat(_resolved(path))
    except (OSError, ValueError):
        return None
    return status.st_dev, status.st_ino


def write_bytes(path: str | os.PathLike, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` whole or not at all: a kill, a full disk or a read-only folder
    leaves the old file (or none) and no temporary file behind. ``mode`` defaults to what a plain
    ``open`` would give (a temporary file is private; results are not)."""
    write_files({path: data}, mode=mode)


def write_files(files: Mapping[str | os.PathLike, bytes], *, mode: int | None = None) -> None:
    """Write several files as one: every file goes to a synced temporary beside it before the
    first is renamed over its target, so a kill, a full disk or a read-only folder while writing
    leaves every old file (or none) and no temporary (a merged patch and its conflicts never
    come from two merges). ``mode`` as in `write_bytes`."""
    staged: dict[Path, str] = {}  # target -> its temporary, written and synced
    renamed: list[str] = []
    path = Path()
    try:
        for given, data in files.items():
            path = Path(given)
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor, staged[path] = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name[:64]}.", suffix=".tmp"
            )
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(staged[path], mode if mode is not None else 0o666 & ~_umask())
        for path, temporary in staged.items():
            os.replace(temporary, path)
            renamed.append(str(path))
    except OSError as error:
        _remove(staged.values())
        if renamed:  # a rename in the file's own folder: all but unheard of
            consequence = f"only {', '.join(map(repr, renamed))} was written"
        elif len(files) > 1:
            consequence = "none of the files was changed"
        elif path.exists():
            consequence = "the existing file is unchanged"
        else:
            consequence = "nothing was written"
        raise write_error(path, error, consequence) from error
    except BaseException:
        _remove(staged.values())
        raise


def _remove(temporaries: Iterable[str]) -> None:
    """Remove the temporaries that are still there (a renamed one is not)."""
    for temporary in temporaries:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def write_text(path: str | os.PathLike, text: str, *, mode: int | None = None) -> None:
    """``write_bytes`` for UTF-8 text."""
    write_bytes(path, text.encode("utf-8"), mode=mode)


def write_json(path: str | os.PathLike, document: Mapping[str, Any]) -> None:
    """A JSON document, indented, ending in a newline, written whole or not at all."""
    write_text(path, json.dumps(document, indent=2) + "\n")


def write_lines(path: str | os.PathLike, lines: Iterable[str]) -> None:
    """A text file of lines (JSON lines, CSV rows), written whole or not at all."""
    write_text(path, "".join(f"{line}\n" for line in lines))


def check_writable(output_dir: Path, option: str = "--output-dir") -> None:
    """Fail before any work if files could not be created in ``output_dir``."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=output_dir):
            pass
    except OSError as error:
        raise OutputWriteError(
            f"output directory {str(output_dir)!r} cannot be written ({error.strerror or error}); "
            f"choose another with {option}; nothing was run and nothing in it was changed"
        ) from None


@contextlib.contextmanager
def exclusive_directory(output_dir: Path, option: str = "--output-dir") -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``output_dir/.run.lock`` while the work lasts; refuse at once
    if another process holds it. The kernel drops the lock when its holder dies (even by
    ``kill -9``), so a stale lock file never blocks; the holder's pid, host and start time are
    written into it for the refusal message."""
    check_writable(output_dir, option)
    lock_path = output_dir / LOCK_FILE
    try:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise write_error(lock_path, error, "nothing was run") from error
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 4096, 0).decode("utf-8", "replace").strip()
            raise OutputDirectoryInUseError(
                f"output directory {str(output_dir)!r} is in use by another command "
                f"({holder or 'holder not yet recorded'}); wait for it to end or choose another "
                f"{option}; nothing was run"
            ) from None
        holder = (
            f"pid {os.getpid()} on host {socket.gethostname()}, started "
            f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}"
        )
        try:
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, f"{holder}\n".encode(), 0)
        except OSError as error:
            raise write_error(lock_path, error, "nothing was run") from error
        yield
    finally:
        os.close(descriptor)  # releases the lock


def folder_name(text: str) -> str:
    """``text`` as one path component: every run of other characters than ``\\w.-`` is ``--``."""
    return re.sub(r"[^\w.-]+", "--", text)


def model_folder(parent: Path, name: str, model: str, advice: str) -> Path:
    """``parent / name``, refused before any work when ``name``, made from the model's name, is
    longer than the file system allows a name to be."""
    limit = _longest_name(parent)
    if len(name.encode()) > limit:
        raise OutputWriteError(
            f"the output folder of model {brief_repr(model)} would be named {brief_repr(name)}, "
            f"{len(name.encode()):,} bytes, longer than the {limit} this file system allows in a "
            f"name; {advice}; nothing was run"
        )
    return parent / name


def _longest_name(directory: Path) -> int:
    """The longest file name (in bytes) allowed where ``directory`` is or would be created."""
    for folder in (directory, *directory.absolute().parents):
        with contextlib.suppress(OSError, ValueError):
            return os.pathconf(folder, "PC_NAME_MAX")
    return 255


class PredictionsAppender:
    """Appends whole batches of lines, each synced to disk before the next batch runs. A write
    that fails (a full disk, a directory turned read-only) is cut back to the last whole batch,
    so the file stays readable and a rerun resumes from it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.num_appended = 0
        try:
            self._descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as error:
            raise write_error(path, error, "nothing was run") from error

    def append(self, lines: Iterator[str] | Sequence[str]) -> None:
        lines = list(lines)
        end = os.lseek(self._descriptor, 0, os.SEEK_END)
        try:
            _write_all(self._descriptor, "".join(lines).encode())
            os.fsync(self._descriptor)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.ftruncate(self._descriptor, end)
            raise write_error(
                self.path,
                error,
                f"nothing was lost: the {self.num_appended:,} predictions of this session's "
                "earlier batches (and any of earlier runs) are kept in it, synced to disk, and the "
                "rerun predicts only the images still missing",
            ) from error
        self.num_appended += len(lines)

    def close(self) -> None:
        os.close(self._descriptor)


def _write_all(descriptor: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a write may take only part)."""
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

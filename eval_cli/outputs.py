"""The one writer of the toolkit's output files, and the lock of an output folder.

A file is written whole or not at all (a temporary file beside it, synced, then renamed; a
failure removes the temporary and leaves the old file), and a failed write is one
``OutputWriteError`` naming the path and what to do. An output folder that a command fills with
several files is held under an exclusive lock (`locked_folder`, which the command frame,
`eval_cli.frame`, takes for each folder a command declares locked), so two commands into it never
mix their files. A run's folder is named here too, and its predictions file grows through the one
appender that keeps it whole batch by batch.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import socket
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..metric.errors import ToolkitError, brief_repr, what_it_is

LOCK_FILE = ".run.lock"
_LOCK_CONTENT = re.compile(rb"(pid \d+ on host [^\n]*\n?)?")
_LOCK_BYTES = 4096
# What `run` writes into its output folder.
PREDICTIONS_FILE = "predictions.jsonl"
RESULTS_FILE = "results.json"
IDENTITY_FILE = "run_identity.json"


class OutputWriteError(ToolkitError):
    """An output could not be written (a full disk, a read-only directory, a name too long)."""


class OutputDirectoryInUseError(ToolkitError):
    """Another command holds the output folder; two writers into one folder would mix it."""


class LockFileError(ToolkitError):
    """The lock file's name holds something else: a link, a FIFO, another file."""


def write_error(path: str | os.PathLike, error: OSError, consequence: str) -> OutputWriteError:
    """The one message of a failed write: which path, why, what it means, what to do."""
    return OutputWriteError(
        f"cannot write {str(path)!r} ({error.strerror or error}); {consequence}; free space on "
        "that disk (or make the directory writable) and run the same command again"
    )


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


@contextlib.contextmanager
def locked_folder(folder: Path, spelled: str = "output_dir") -> Iterator[None]:
    """Hold ``folder`` for one command: an exclusive ``flock`` on ``folder/.run.lock``, refused at
    once (naming the holder) when another process holds it; the kernel drops it when its holder
    dies, even by ``kill -9``. The lock file is opened without following a link, must be a
    regular file with one name holding nothing but a holder line (else it is refused, never
    written), and is removed when the command ends, as is the folder when the command created it
    and left it empty."""
    created = _created_folders(folder, spelled)
    lock = folder / LOCK_FILE
    try:
        descriptor = _open_lock(lock, spelled)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                if os.stat(lock, follow_symlinks=False).st_ino == os.fstat(descriptor).st_ino:
                    os.unlink(lock)
            os.close(descriptor)  # releases the lock
    finally:
        for made in reversed(created):
            with contextlib.suppress(OSError):
                made.rmdir()  # only an empty one: nothing was written there


def _created_folders(folder: Path, spelled: str) -> list[Path]:
    """Make ``folder`` (and its missing parents) and check that files can be created in it;
    return the folders made, outermost first."""
    missing = [path for path in (folder, *folder.parents) if not path.exists()][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OutputWriteError(
            f"output folder {str(folder)!r} cannot be written ({error.strerror or error}); "
            f"choose another {spelled}; nothing was run and nothing in it was changed"
        ) from None
    return missing


def _open_lock(lock: Path, spelled: str) -> int:
    """The lock file opened and locked, its holder recorded: see `locked_folder`."""
    for _ in range(3):  # the holder may remove it between our open and our lock: open again
        descriptor = _open_lock_file(lock)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, _LOCK_BYTES, 0).decode("utf-8", "replace").strip()
            os.close(descriptor)
            raise OutputDirectoryInUseError(
                f"output folder {str(lock.parent)!r} is in use by another command "
                f"({holder or 'holder not yet recorded'}); wait for it to end or choose another "
                f"{spelled}; nothing was run"
            ) from None
        try:
            same = os.stat(lock, follow_symlinks=False).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(descriptor)
            continue
        holder = (
            f"pid {os.getpid()} on host {socket.gethostname()}, started "
            f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}\n"
        )
        try:
            os.ftruncate(descriptor, 0)  # a lock file of ours, checked in _open_lock_file
            os.pwrite(descriptor, holder.encode(), 0)
        except OSError as error:
            os.close(descriptor)
            raise write_error(lock, error, "nothing was run") from error
        return descriptor
    raise OutputDirectoryInUseError(
        f"output folder {str(lock.parent)!r} is being taken and released by other commands; "
        "run the same command again; nothing was run"
    )


def _open_lock_file(lock: Path) -> int:
    """``lock`` opened for writing without following a link, checked to be a lock file: a
    regular file with one name, holding nothing but a holder line."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    remove = "; remove it (a lock file is never one) and run the same command again"
    try:
        descriptor = os.open(lock, flags, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise LockFileError(
                f"{str(lock)!r} is a symbolic link{remove}; nothing was run"
            ) from None
        raise write_error(lock, error, "nothing was run") from error
    status = os.fstat(descriptor)
    problem = None
    if not stat.S_ISREG(status.st_mode):
        problem = what_it_is(status.st_mode)
    elif status.st_nlink != 1:
        problem = f"has {status.st_nlink} names (hard links)"
    elif not _LOCK_CONTENT.fullmatch(os.pread(descriptor, _LOCK_BYTES + 1, 0)):
        problem = "holds something else than a lock's holder line"
    if problem is not None:
        os.close(descriptor)
        raise LockFileError(f"{str(lock)!r} {problem}{remove}; nothing was run")
    return descriptor


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

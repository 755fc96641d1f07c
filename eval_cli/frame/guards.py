"""The guards of one framed call (`Call`): every declared path examined, the outputs that would
destroy an input refused, the locked folders held while the function runs, and its OSErrors on
declared paths named (see `eval_cli.frame`)."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...metric.errors import PATH_TYPES, ToolkitError, brief_repr, named, what_it_is
from ..outputs import LOCK_FILE, locked_folder, write_error
from .declarations import FILE, FOLDER, SOURCE, Cache, Declaration, Options, Read, Write

# A full or read-only disk: the machine's state, not a bug, whichever library hit it.
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}


class UnusablePathError(ToolkitError):
    """A declared path is not there, not what the command expects, or refused by the system."""


class OutputOverwritesInputError(ToolkitError):
    """An output path names one of the command's inputs: writing it would destroy the input."""


@dataclass(frozen=True)
class _Input:
    spelled: str
    path: str  # as given, for messages
    real: str
    identity: tuple[int, int] | None
    tree: bool = False  # a folder read whole: nothing may be written inside
    many: bool = False  # one of a list of paths


@dataclass(frozen=True)
class _Output:
    spelled: str
    parameter: str  # the output parameter, for "choose another ..."
    path: str
    real: str
    identity: tuple[int, int] | None
    tree: bool = False  # a folder written whole or a subfolder: no input may be inside


class Call:
    """One framed call: its declared paths examined, the overlaps refused, the folders locked."""

    def __init__(self, declaration: Declaration, values: Mapping[str, Any]) -> None:
        self.values = values
        self.inputs: list[_Input] = []
        self.outputs: list[_Output] = []
        self.locked: list[tuple[Path, str]] = []
        self.declared: list[tuple[str, str]] = []  # (spelled, real) of every path, for OSErrors
        for item in declaration.declared:
            if isinstance(item, Options):
                if not isinstance(values.get(item.name), item.cls):
                    continue  # a ready object (loaded `Labels`): it reads no file
                for inner in item.declared:
                    self._declare(inner)
            else:
                self._declare(item)

    def _declare(self, item: Read | Write | Cache) -> None:
        if isinstance(item, Cache):
            self._read_cache(item)
        elif isinstance(item, Read):
            value = self.values.get(item.name)
            # Each path of a mapping is a parameter of its own (``label_set_files['real']``).
            each = dataclasses.replace(item, many=False) if isinstance(value, Mapping) else item
            for spelled, path in _items(item, value):
                self._read(each, spelled, path)
        else:
            self._write(item)

    # -- inputs ----------------------------------------------------------------------------

    def _read(self, item: Read, spelled: str, given: Any) -> None:
        path = os.fspath(given)
        status = _status(path, spelled)
        if status is None:
            if item.hub_id(path) if item.hub_id is not None else item.kind == SOURCE:
                return  # not on disk: a Hub id, which the command checks
            raise UnusablePathError(
                f"{spelled} {_shown(path)} does not exist; expected {item.expected or item.kind}"
            )
        is_folder = stat.S_ISDIR(status.st_mode)
        allowed = {FILE: not is_folder, FOLDER: is_folder}.get(item.kind, True)
        if not allowed or not (is_folder or stat.S_ISREG(status.st_mode)):
            raise UnusablePathError(
                f"{spelled} {_shown(path)} {what_it_is(status.st_mode)}; expected "
                f"{item.expected or item.kind}"
            )
        real = os.path.realpath(path)
        self.declared.append((spelled, real))
        if not is_folder:
            self.inputs.append(_Input(spelled, path, real, _identity(status), many=item.many))
            for name in item.beside:  # a run's record next to its predictions
                inner = os.path.join(os.path.dirname(path), name)
                if _status(inner, f"{name} beside {spelled}") is not None:
                    self._read(Read(name), f"{name} beside {spelled}", inner)
            return
        self.inputs.append(_Input(spelled, path, real, None, tree=item.whole))
        for name in item.needs + item.may:
            inner = os.path.join(path, name)
            if name in item.may and _status(inner, f"{spelled}/{name}") is None:
                continue
            self._read(Read(name, expected=item.expected), f"{spelled}/{name}", inner)
        if item.whole:
            self._read_tree(spelled, path)

    def _read_tree(self, spelled: str, folder: str) -> None:
        """Every file inside a folder read whole: each a regular file (links to one included)."""
        for root, folders, files in os.walk(folder):
            for name in [*files, *folders]:
                inner = os.path.join(root, name)
                shown = f"{spelled}/{os.path.relpath(inner, folder)}"
                status = _status(inner, shown)
                if status is None:
                    raise UnusablePathError(f"{shown} {_shown(inner)} is a broken symbolic link")
                if stat.S_ISDIR(status.st_mode):
                    continue
                if not stat.S_ISREG(status.st_mode):
                    raise UnusablePathError(
                        f"{shown} {_shown(inner)} {what_it_is(status.st_mode)}; expected only "
                        "files and folders there"
                    )
                self.inputs.append(_Input(shown, inner, os.path.realpath(inner), _identity(status)))

    def _read_cache(self, cache: Cache) -> None:
        folder = os.fspath(cache.where())
        if _status(folder, cache.name) is not None:
            self._read_tree(cache.name, folder)

    # -- outputs ---------------------------------------------------------------------------

    def _write(self, item: Write) -> None:
        spelled = named(item.name)
        value = self.values.get(item.name)
        if value is None and item.default is not None:
            value = item.default(self.values)
        if not isinstance(value, PATH_TYPES):
            return  # None (nothing written) or a wrong type, which the function names
        self._write_path(item, spelled, os.fspath(value))
        if item.subfolders is None:
            return
        inner = item.subfolders
        each = dataclasses.replace(
            item,
            writes=inner.writes,
            reads_back=inner.reads_back,
            locked=inner.locked,
            subfolders=None,
        )
        for folder in inner.of(self.values):
            shown = f"{spelled}/{folder.name}"
            if os.path.islink(folder):  # its files would be written wherever it points
                raise UnusablePathError(
                    f"{shown} {_shown(os.fspath(folder))} is a symbolic link; expected a folder "
                    f"of its own inside {spelled} (or nothing there); nothing was run"
                )
            self._write_path(each, shown, os.fspath(folder))

    def _write_path(self, item: Write, spelled: str, path: str) -> None:
        self._check_kind(spelled, path, item.kind)
        real = os.path.realpath(path)
        self.declared.append((spelled, real))
        # A folder, with what it holds: itself no input folder (nor inside one read whole).
        self._add_output(item, spelled, path, tree=item.kind != FILE and item.writes is None)
        if item.kind == FILE:
            if item.locked:  # the folder that holds it
                self._lock(item, f"{LOCK_FILE} beside {spelled}", os.path.dirname(path) or ".")
            return
        written = item.writes
        if written is None and os.path.isdir(path):  # written whole: whatever it holds goes
            written = tuple(
                os.path.relpath(os.path.join(root, name), path)
                for root, _, files in os.walk(path)
                for name in files
            )
        for name in written or ():
            inner = os.path.join(path, name.rstrip("/"))
            shown = f"{spelled}/{name.rstrip('/')}"
            self._check_kind(shown, inner, FOLDER if name.endswith("/") else FILE)
            self._add_output(item, shown, inner, tree=name.endswith("/"))
        for name in item.reads_back:
            inner = os.path.join(path, name)
            self._check_kind(f"{spelled}/{name}", inner, FILE)
        if item.locked:
            self._lock(item, f"{spelled}/{LOCK_FILE}", path)

    def _lock(self, item: Write, shown: str, folder: str) -> None:
        """``folder`` locked while the function runs, once however many outputs it holds; its
        lock file is an output like the others."""
        real = os.path.realpath(folder)
        if any(os.path.realpath(locked) == real for locked, _ in self.locked):
            return
        inner = os.path.join(folder, LOCK_FILE)
        self._check_kind(shown, inner, FILE)
        self._add_output(item, shown, inner)
        self.locked.append((Path(folder), named(item.name)))

    def _check_kind(self, spelled: str, path: str, kind: str) -> None:
        """An output path that exists is of its kind; the system accepts it either way."""
        status = _status(path, spelled)
        if status is None:
            return
        if kind == FOLDER and not stat.S_ISDIR(status.st_mode):
            expected = "a folder to write into"
        elif kind == FILE and not stat.S_ISREG(status.st_mode):
            expected = "the path of a file to write (such as results.json inside a folder)"
        else:
            return
        raise UnusablePathError(
            f"{spelled} {_shown(path)} {what_it_is(status.st_mode)}; expected {expected}; nothing "
            "was run"
        )

    def _add_output(self, item: Write, spelled: str, path: str, *, tree: bool = False) -> None:
        status = _status(path, spelled)
        output = _Output(
            spelled,
            named(item.name),
            path,
            os.path.realpath(path),
            None if status is None else _identity(status),
            tree,
        )
        self.outputs.append(output)

    # -- overlaps, locks, the call -----------------------------------------------------------

    def refuse_overlaps(self) -> None:
        """No output is an input under any name, no two outputs are one file, and none lies
        inside a folder that another output writes (whole, or as its subfolder)."""
        for output in self.outputs:
            for given in self.inputs:
                how = _overlap(output, given)
                if how is not None:
                    which = f"one of the {given.spelled}" if given.many else f"the {given.spelled}"
                    raise OutputOverwritesInputError(
                        f"{output.spelled} {_shown(output.path)} {how.format(which)}; "
                        "writing it would destroy that input: choose another "
                        f"{output.parameter}; nothing was written"
                    )
        seen: dict[Any, _Output] = {}
        for output in self.outputs:  # one path, or one file under two names (a hard link)
            earlier = seen.setdefault(output.real, output)
            if output.identity is not None:
                earlier = seen.setdefault(output.identity, earlier)
            if earlier.parameter != output.parameter:
                raise OutputOverwritesInputError(
                    f"{earlier.spelled} and {output.spelled} are one file "
                    f"{_shown(output.path)}; each output needs its own: choose another "
                    f"{output.parameter}; nothing was written"
                )
        for whole in [output for output in self.outputs if output.tree]:
            for output in self.outputs:  # nor inside a folder another output writes whole
                if output.parameter != whole.parameter and _inside(output.real, whole.real):
                    raise OutputOverwritesInputError(
                        f"{output.spelled} {_shown(output.path)} lies inside {whole.spelled}, "
                        "which another output writes: each output needs its own place: choose "
                        f"another {output.parameter}; nothing was written"
                    )

    @contextlib.contextmanager
    def guarded(self) -> Iterator[None]:
        self.refuse_overlaps()
        with contextlib.ExitStack() as locks:
            if os.environ.get("RANK", "0") == "0":  # a launch's first process writes
                for folder, spelled in self.locked:
                    locks.enter_context(locked_folder(folder, spelled))
            try:
                yield
            except OSError as error:
                raise self._as_error(error) from error

    def _as_error(self, error: OSError) -> OSError | ToolkitError:
        """An OSError on a declared path as one error naming it; a full or read-only disk as
        one naming the outputs; anything else unchanged (a bug keeps its traceback)."""
        reason = error.strerror or str(error)
        if error.filename is not None:
            real = os.path.realpath(os.fsdecode(error.filename))
            within = [
                (spelled, path)
                for spelled, path in self.declared
                if real == path or real.startswith(path.rstrip(os.sep) + os.sep)
            ]
            if within:
                spelled, _ = max(within, key=lambda pair: len(pair[1]))
                return UnusablePathError(
                    f"{spelled} {_shown(os.fsdecode(error.filename))} cannot be used: {reason}"
                )
        if error.errno in _DISK_ERRORS and self.outputs:
            output = self.outputs[0]
            return write_error(
                output.path,
                error,
                f"{output.parameter} was left as it was (each output is written whole or not at "
                "all)",
            )
        return error


def _items(item: Read, value: Any) -> list[tuple[str, Any]]:
    """The paths a value names, each with its name as the caller wrote it: one path, or with
    ``many`` each item of a list, or each value of a mapping (``label_set_files['real']``, as
    the command line spells each key); other values (ready objects, wrong types, which the
    function names itself) none."""
    if item.many and isinstance(value, Mapping):
        items = [(named(f"{item.name}[{key!r}]"), path) for key, path in value.items()]
    else:
        listed = value if item.many and isinstance(value, list | tuple) else [value]
        items = [(named(item.name), path) for path in listed]
    if item.path_of is not None:
        items = [(spelled, item.path_of(path)) for spelled, path in items]
    return [(spelled, path) for spelled, path in items if isinstance(path, PATH_TYPES)]


def _status(path: str, spelled: str) -> os.stat_result | None:
    """``os.stat`` of ``path`` (links followed), None when nothing is there; a path the system
    refuses (a link loop, a name too long, a part that is a file) is an error naming it."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise UnusablePathError(f"{spelled} {_shown(path)} is a broken symbolic link") from None
        return None
    except OSError as error:
        raise UnusablePathError(
            f"{spelled} {_shown(path)} cannot be used: {error.strerror or error}"
        ) from None
    except ValueError:  # a NUL character
        raise UnusablePathError(f"{spelled} {_shown(path)} cannot be used: it holds NUL") from None


def _identity(status: os.stat_result) -> tuple[int, int]:
    """Device and inode: what every name of one file shares (hard links)."""
    return status.st_dev, status.st_ino


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip(os.sep) + os.sep)


def _overlap(output: _Output, given: _Input) -> str | None:
    """How ``output`` would destroy ``given`` (a message with ``{}`` for the input), or None."""
    if output.real == given.real or (
        output.identity is not None and output.identity == given.identity
    ):
        return "is {} it reads"
    if given.tree and _inside(output.real, given.real):
        return "lies inside {} it reads"
    if output.tree and _inside(given.real, output.real):
        return "holds {} it reads"
    return None


def _shown(path: str) -> str:
    return brief_repr(str(path))

"""The toolkit's one error base class, and the one way its messages list offending items.

Every error that bad input, a bad file or an unusable model can cause derives from
``ToolkitError``; the command line turns those (and only those) into one clear message and exit
status 2, so that a genuine bug keeps its traceback. It lives beside ``scoring.py`` because the
``evaluate`` module and its Hub Space carry these two files and nothing else of the toolkit.
It subclasses ``ValueError`` so that callers catching bad values keep working.

Messages name a count and the first few offenders (``first_few``), never every one: a file with
a million bad rows must still give a message a person can read. A path that is not a regular file
is named for what it is (``not_a_regular_file``), not reported as missing. A parameter is named
as its caller wrote it (``named``): ``output_dir`` from Python, ``--output-dir`` from the command
line, which says how it spells each parameter (``spelled_as``); the ``expect_*`` checks of an
argument's type and count name it so.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from types import MappingProxyType
from typing import Any

SHOWN = 5  # offending items an error message lists
ITEM_CHARS = 200  # characters of one listed item (a 1 MB "file name" must not fill the screen)
PATH_TYPES = (str, os.PathLike)  # what the API takes as a path


class ToolkitError(ValueError):
    """Bad input or an unusable resource; the message names it and what was expected."""


# How the running caller spells each parameter: empty for Python (a parameter is its own name);
# the command line sets its options (``output_dir`` -> ``--output-dir``) while a command runs.
_SPELLING: ContextVar[Mapping[str, str]] = ContextVar("spelling", default=MappingProxyType({}))


@contextlib.contextmanager
def spelled_as(options: Mapping[str, str]) -> Iterator[None]:
    """While the block runs, ``named`` spells each parameter of ``options`` as given there."""
    token = _SPELLING.set(options)
    try:
        yield
    finally:
        _SPELLING.reset(token)


def named(parameter: str, value: object = None) -> str:
    """``parameter`` as the caller wrote it, with ``value`` when given: ``allow_unverified=True``
    and ``annotations=PATH`` from Python, ``--allow-unverified-annotations`` and
    ``--annotations PATH`` from the command line. An upper-case string value is a placeholder,
    shown as is."""
    option = _SPELLING.get().get(parameter)
    placeholder = isinstance(value, str) and value.isupper()
    if option is None:
        if value is None:
            return parameter
        return f"{parameter}={value if placeholder else repr(value)}"
    if value is None or value is True or not option.startswith("-"):
        return option
    return f"{option} {value}"


def first_few(items: Iterable[object], *, shown: int = SHOWN) -> str:
    """``"a, b, c, d, e, ..."``: the first ``shown`` items (``...`` when more follow), each cut
    to ``ITEM_CHARS`` characters. Reads at most ``shown + 1`` items, so a generator over a huge
    input costs nothing more; the caller states the count."""
    head = list(itertools.islice(items, shown + 1))
    listed = ", ".join(shorten(str(item)) for item in head[:shown])
    return f"{listed}, ..." if len(head) > shown else listed


def brief_repr(value: object) -> str:
    """``repr(value)`` cut to ``ITEM_CHARS``; a value Python refuses to print (an int of over
    4,300 digits, alone or inside a list; lists nested too deeply) is named by its type."""
    try:
        return shorten(repr(value))
    except ValueError:
        return f"a {type(value).__name__} too large to print"
    except RecursionError:
        return f"a {type(value).__name__} nested too deeply to print"


def shorten(text: str, limit: int = ITEM_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}... ({len(text):,} characters)"


def expect_items(
    value: object,
    parameter: str,
    types: tuple[type, ...],
    what: str,
    *,
    at_least: int = 0,
    plural: str | None = None,
) -> tuple[Any, ...]:
    """``value`` as a tuple of items of ``types``: one item alone is a tuple of one (a string
    iterated would give its characters); anything else, or fewer than ``at_least`` items
    (``plural`` says what they are), is an error naming ``parameter`` as the caller wrote it."""
    if isinstance(value, types):
        items: tuple[Any, ...] | None = (value,)
    else:
        items = tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else None
    if items is None or not all(isinstance(item, types) for item in items):
        raise ToolkitError(
            f"{named(parameter)}: expected {what} or a list of them, got {_typed(value)}"
        )
    if len(items) < at_least:
        given = f"{len(items)} ({first_few(map(_shown_item, items))})" if items else "none"
        raise ToolkitError(
            f"{named(parameter)}: expected {_COUNTS.get(at_least, at_least)} or more "
            f"{plural or what}, got {given}"
        )
    return items


_COUNTS = {1: "one", 2: "two"}


def _shown_item(item: object) -> str:
    return brief_repr(os.fspath(item) if isinstance(item, os.PathLike) else item)


def expect_paths(
    value: object, parameter: str, *, at_least: int = 0, plural: str = "paths"
) -> tuple[str | os.PathLike[str], ...]:
    """One path (a str or PathLike) or a list of them (``at_least`` of them), as a tuple."""
    return expect_items(value, parameter, PATH_TYPES, "a path", at_least=at_least, plural=plural)


def expect_path(value: object, parameter: str, *, optional: bool = False) -> Any:
    """A path (str or PathLike), or None when ``optional``."""
    if (value is None and optional) or isinstance(value, PATH_TYPES):
        return value
    raise ToolkitError(f"{named(parameter)}: expected a path, got {_typed(value)}")


def expect_text(value: object, parameter: str, *, optional: bool = False) -> Any:
    """A str, or None when ``optional``."""
    if (value is None and optional) or isinstance(value, str):
        return value
    raise ToolkitError(f"{named(parameter)}: expected a string, got {_typed(value)}")


def expect_flag(value: object, parameter: str) -> bool:
    """True or False only: a truthy string such as ``"false"`` must not switch a check off."""
    if isinstance(value, bool):
        return value
    raise ToolkitError(f"{named(parameter)}: expected True or False, got {_typed(value)}")


def expect_count(value: object, parameter: str, *, optional: bool = False) -> Any:
    """An int >= 1 (not a bool), or None when ``optional``."""
    if value is None and optional:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ToolkitError(f"{named(parameter)}: expected a positive integer, got {_typed(value)}")


def _typed(value: object) -> str:
    return f"{type(value).__name__} {brief_repr(value)}"


_FILE_KINDS = (
    (stat.S_ISDIR, "is a directory"),
    (stat.S_ISFIFO, "is a FIFO (named pipe)"),
    (stat.S_ISSOCK, "is a socket"),
    (stat.S_ISCHR, "is a character device"),
    (stat.S_ISBLK, "is a block device"),
)


def not_a_regular_file(path: str | os.PathLike[str]) -> str | None:
    """What ``path`` is when it is not a regular file ("is a directory", "does not exist"), for
    a message; None for a regular file (or a link to one). Opening a FIFO or a device as a file
    would block or never end, so callers check this first."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "is a broken symbolic link" if os.path.islink(path) else "does not exist"
    except OSError as error:
        return f"cannot be examined ({error.strerror or error})"
    if stat.S_ISREG(mode):
        return None
    return what_it_is(mode)


def text_file_lines(
    path: str | os.PathLike[str], name: str, expected: str, error: type[ToolkitError]
) -> list[str]:
    """The lines of the UTF-8 text file ``path``, or ``error`` naming it as ``name`` ("models
    file") and saying what it is instead of ``expected`` ("a text file") or why it cannot be
    read."""
    what = not_a_regular_file(path)
    if what is not None:
        raise error(f"{name} {str(path)!r} {what}; expected {expected}")
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as problem:
        raise error(f"cannot read {name} {str(path)!r}: {problem}") from problem


def what_it_is(mode: int) -> str:
    """What a file of ``mode`` (``st_mode``) is, for a message: "is a directory", "is a FIFO
    (named pipe)", ..., "is a regular file"."""
    if stat.S_ISREG(mode):
        return "is a regular file"
    return next((kind for is_kind, kind in _FILE_KINDS if is_kind(mode)), "is not a regular file")


def read_regular_file(path: str | os.PathLike[str], named: str, error: type[ToolkitError]) -> bytes:
    """The bytes of ``path``, or ``error`` saying why not: it is not a regular file (checked
    first: opening a FIFO or a device would block) or it cannot be read. ``named`` is how the
    messages name the file (``"label patch '/x.json'"``)."""
    problem = not_a_regular_file(path)
    if problem is not None:
        raise error(f"{named} {problem}")
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as cause:
        raise error(f"{named} cannot be read: {cause}") from None

"""The toolkit's one error base class, and the one way its messages list offending items.

Every error that bad input, a bad file or an unusable model can cause derives from
``ToolkitError``; the command line turns those (and only those) into one clear message and exit
status 2, so that a genuine bug keeps its traceback. It lives beside ``scoring.py`` because the
``evaluate`` module and its Hub Space carry these two files and nothing else of the toolkit.
It subclasses ``ValueError`` so that callers catching bad values keep working.

Messages name a count and the first few offenders (``first_few``), never every one: a file with
a million bad rows must still give a message a person can read. A path that is not a regular file
is named for what it is (``not_a_regular_file``), not reported as missing.
"""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Iterable, Sequence
from typing import Any

SHOWN = 5  # offending items an error message lists
ITEM_CHARS = 200  # characters of one listed item (a 1 MB "file name" must not fill the screen)
PATH_TYPES = (str, os.PathLike)  # what the API takes as a path


class ToolkitError(ValueError):
    """Bad input or an unusable resource; the message names it and what was expected."""


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
    value: object, parameter: str, types: tuple[type, ...], what: str
) -> tuple[Any, ...]:
    """``value`` as a tuple of items of ``types``: one item alone is a tuple of one (a string
    iterated would give its characters); anything else is an error naming ``parameter``."""
    if isinstance(value, types):
        return (value,)
    items = tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else None
    if items is None or not all(isinstance(item, types) for item in items):
        raise ToolkitError(f"{parameter}: expected {what} or a list of them, got {_typed(value)}")
    return items


def expect_paths(value: object, parameter: str) -> tuple[str | os.PathLike[str], ...]:
    """One path (a str or PathLike) or a list of them, as a tuple."""
    return expect_items(value, parameter, PATH_TYPES, "a path")


def expect_path(value: object, parameter: str, *, optional: bool = False) -> Any:
    """A path (str or PathLike), or None when ``optional``."""
    if (value is None and optional) or isinstance(value, PATH_TYPES):
        return value
    raise ToolkitError(f"{parameter}: expected a path, got {_typed(value)}")


def expect_text(value: object, parameter: str, *, optional: bool = False) -> Any:
    """A str, or None when ``optional``."""
    if (value is None and optional) or isinstance(value, str):
        return value
    raise ToolkitError(f"{parameter}: expected a string, got {_typed(value)}")


def expect_flag(value: object, parameter: str) -> bool:
    """True or False only: a truthy string such as ``"false"`` must not switch a check off."""
    if isinstance(value, bool):
        return value
    raise ToolkitError(f"{parameter}: expected True or False, got {_typed(value)}")


def expect_count(value: object, parameter: str, *, optional: bool = False) -> Any:
    """An int >= 1 (not a bool), or None when ``optional``."""
    if value is None and optional:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ToolkitError(f"{parameter}: expected a positive integer, got {_typed(value)}")


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

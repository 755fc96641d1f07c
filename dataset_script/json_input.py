"""The one reader of JSON that users hand the toolkit: annotation files, label patches, results
files, manifests, what a run, a sweep or the review page left in a folder, a model's config.json,
a labels dataset's provenance record, predictions in JSON Lines.

Every way such a document can be unreadable is one ``ToolkitError`` naming it and what was
expected, never a traceback: bytes that are not UTF-8 text, text that is not JSON (the parser's
line and column given), an integer of over 4,300 digits, nesting too deep for Python to parse, a
top-level value of the wrong kind. JSON Lines go through the same parse, one line at a time
(`json_line`), so that their readers can name the line. NaN and Infinity are read as Python's
``json`` reads them: each reader checks the values it uses.

`tests/test_json_input.py` fails for a ``json.load``/``json.loads`` anywhere else in the package
(its allow-list names the few reads of the package's own data and of JSON written in the same
process) and drives hostile documents through every reader.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..metric.errors import ToolkitError, read_regular_file

_KINDS = {
    dict: "a JSON object",
    list: "a JSON array",
    str: "a JSON string",
    int: "a JSON number",
    float: "a JSON number",
    bool: "a JSON true or false",
    type(None): "JSON null",
}
# The C scanner that json.loads wraps: called directly it skips two Python layers and two regex
# matches per line, which make up a third of reading a million lines.
_SCAN_JSON = json.JSONDecoder().scan_once
_JSON_WHITESPACE = " \t\n\r"


class JsonInputError(ToolkitError):
    """A JSON document that cannot be used; the message names it and what was expected."""


class JsonLineError(ToolkitError):
    """Why a text is not one JSON value ("not valid JSON: Expecting value: line 1 column 1
    (char 0)"), for the reader to name the file and line it came from."""


def json_kind(value: object) -> str:
    """What a parsed JSON value is, in JSON's words: "a JSON object", "a JSON array", ..."""
    return _KINDS.get(type(value), type(value).__name__)


def read_json(
    path: str | os.PathLike[str],
    named: str,
    expected: str,
    *,
    top: type | None = None,
    error: type[ToolkitError] = JsonInputError,
) -> Any:
    """The JSON value of the file ``path``, or ``error`` saying why not: it is not a regular file
    (checked before opening: a FIFO would block), cannot be read, or `parse_json` refuses it.
    ``named`` is how messages name the file (``"label patch '/x.json'"``)."""
    return parse_json(read_regular_file(path, named, error), named, expected, top=top, error=error)


def parse_json(
    data: str | bytes,
    named: str,
    expected: str,
    *,
    top: type | None = None,
    error: type[ToolkitError] = JsonInputError,
) -> Any:
    """The JSON value of ``data`` (bytes are decoded as ``json.loads`` decodes them: UTF-8, or a
    UTF-16/32 with its byte order mark), or ``error`` naming the document as ``named`` and saying
    what is wrong and that ``expected`` was expected; with ``top``, a value that is not one (an
    array where an object was expected) is refused too."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as problem:
        raise error(f"{named} is {_why(problem)}; expected {expected}") from None
    if top is not None and not isinstance(value, top):
        raise error(f"{named} holds {json_kind(value)}; expected {expected}")
    return value


def json_line(text: str | bytes) -> Any:
    """The JSON value of one line of a JSON Lines file (bytes: UTF-8), or `JsonLineError`
    saying why not. As ``json.loads``, but faster for what such a file holds: one value, then a
    newline."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        try:
            value, end = _SCAN_JSON(text, 0)
        except StopIteration:  # no value at the first character (leading blanks, or not JSON)
            return json.loads(text)  # its value, or its exact error
        if text[end:].strip(_JSON_WHITESPACE):
            return json.loads(text)  # raises "Extra data"
        return value
    except (ValueError, RecursionError) as problem:
        raise JsonLineError(_why(problem)) from None


def _why(problem: ValueError | RecursionError) -> str:
    """What a failed parse says about the text: UnicodeDecodeError, JSONDecodeError (with the
    line and column) and the over-long integer are ValueErrors; RecursionError is deep nesting."""
    if isinstance(problem, RecursionError):
        return "JSON nested too deeply to read"
    if isinstance(problem, UnicodeDecodeError):
        return f"not UTF-8 text ({problem})"
    return f"not valid JSON: {problem}"

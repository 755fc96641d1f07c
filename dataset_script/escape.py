"""The one escaper of text from outside the toolkit, for every place that shows it.

Model ids, folder names, label names, command lines, patch fields and revisions are the user's
text: they can carry markup, formulas or the user's own paths. Whatever reaches a public text (a
model card, a pull request, ``leaderboard.md``/``.csv``, a plot) passes through here:

- `markdown_text`: literal text in markdown that may contain HTML (a card, a table cell);
- `preformatted_html`: a ``<pre>`` block that no renderer reads as markup;
- `csv_cell`: a cell that a spreadsheet does not run as a formula;
- `mathtext_text`: a matplotlib text that is never parsed as ``$...$`` mathtext;
- `public_model_name`, `without_local_paths`, `last_component`: no local path of the user's
  machine, relative or absolute, leaves it; a local model is named by its folder name.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Markdown that can start anywhere in a line: emphasis, code, links and images (they need
# brackets), table cells, strikethrough, math, the backslash itself, and "#" (a heading, or a
# discussion reference on the Hub). Other block markup (lists, quotes, "=" underlines) needs a line
# start, which a value never is: callers put each after text, and line breaks become blanks.
_MARKDOWN_INLINE = re.compile(r"[\\`*_\[\]|~$#]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
# An absolute POSIX path of two or more components inside a longer text: a slash at the start,
# or after a blank, quote, bracket, comma or "=" (not inside a word, URL or tag such as "</b>"),
# then components up to a blank.
_ABSOLUTE_PATH = re.compile(r"""(?<![^\s"'=(\[,])/(?:[^/\s]+/)+([^/\s"']+)/?""")
# What a spreadsheet reads as the start of a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def markdown_text(value: Any) -> str:
    """``value`` as literal text in markdown that may contain HTML: line breaks and control
    characters become blanks, ``&<>`` HTML entities, and inline markdown is backslash-escaped
    (in a table cell ``\\|`` keeps the cell whole)."""
    text = html.escape(_CONTROL.sub(" ", str(value)), quote=False)
    return _MARKDOWN_INLINE.sub(lambda match: "\\" + match.group(), text)


def preformatted_html(text: Any) -> str:
    """A ``<pre>`` block on one markdown line, which the browser shows verbatim: ``&<>``, the
    characters `markdown_text` escapes and line breaks as character references, so that nothing
    in it reads as HTML or markdown, even to a renderer that looks inside HTML blocks."""
    escaped = html.escape(str(text), quote=False)
    escaped = _MARKDOWN_INLINE.sub(_character_reference, escaped)
    return f"<pre><code>{_CONTROL.sub(_character_reference, escaped)}</code></pre>"


def _character_reference(match: re.Match[str]) -> str:
    return f"&#{ord(match.group())};"


def csv_cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: one starting like a formula gets a leading quote."""
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def mathtext_text(text: str) -> str:
    """Text for matplotlib that is never parsed as mathtext: every ``$`` escaped (matplotlib
    shows ``\\$`` as ``$``; an unbalanced or invalid ``$...$`` would otherwise fail the plot)."""
    return text.replace("$", r"\$")


def is_local_path(model_id: str) -> bool:
    """A path on disk, or a string that cannot be a Hub repo id (so it names a local folder)."""
    from huggingface_hub.errors import HFValidationError  # imported when a model id is judged
    from huggingface_hub.utils import validate_repo_id

    if Path(model_id).exists():
        return True
    try:
        validate_repo_id(model_id)
    except HFValidationError:
        return True
    return False


def public_model_name(model_id_or_path: str) -> str:
    """How public text names a model: its Hub id as is, a local model by its folder name only."""
    return last_component(model_id_or_path) if is_local_path(model_id_or_path) else model_id_or_path


def last_component(path: str) -> str:
    """The last component of a path (``/a/b/`` -> ``b``); the text itself when it has none."""
    return path.rstrip("/").rsplit("/", 1)[-1] or path


def without_local_paths(value: Any, local_names: Mapping[str, str]) -> Any:
    """``value`` (JSON: a string, list or mapping) with every local path cut to its last
    component: the known ones of ``local_names`` (longest first, relative ones too), then any
    absolute path, whole (``/a b/c d``) or inside a text (``--x=/a/b``, ``/a/b config.json``)."""
    if isinstance(value, Mapping):
        return {key: without_local_paths(item, local_names) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_local_paths(item, local_names) for item in value]
    if not isinstance(value, str):
        return value
    if os.path.isabs(value):
        return last_component(value)
    for path in sorted(local_names, key=len, reverse=True):
        value = value.replace(path, local_names[path])
    key, equals, rest = value.partition("=")
    if equals and os.path.isabs(rest):
        return f"{key}={last_component(rest)}"
    return _ABSOLUTE_PATH.sub(lambda match: match.group(1), value)

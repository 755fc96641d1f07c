"""The one escaper of text from outside the toolkit, for every place that shows it.

Model ids, folder names, label names, command lines, patch fields and revisions are the user's
text: they can carry markup, formulas or the user's own paths. Whatever reaches a public text (a
model card, a pull request, ``leaderboard.md``/``.csv``, a plot) passes through here:

- `markdown_text`: literal text in markdown that may contain HTML (a card, a table cell);
- `preformatted_html`: a ``<pre>`` block that no renderer reads as markup;
- `csv_cell`: a cell that a spreadsheet does not run as a formula;
- `plot_text`, `plot_lines`: a matplotlib text that is never parsed as ``$...$`` mathtext;
- `html_json`: data for a page's ``<script type="application/json">`` block;
- `markdown_format`: the toolkit's own markdown with outside values escaped into its fields;
- `public_model_name`, `without_local_paths`, `last_component`: no local path of the user's
  machine, relative or absolute, leaves it; a local model is named by its folder name.

Each escaper returns its format's type (`MarkdownText`, `CsvCell`, `HtmlText`, `PlotText`), which
only this module makes, and the writers of each format (`dataset_script.writers`) take nothing
else: text that skipped escaping is a ``TypeError`` there, not a file that runs someone's markup.
"""

from __future__ import annotations

import html
import json
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any, Self

from .hub.ids import hub_model_id


class _Escaped(str):
    """Text escaped for one format by this module; nothing else makes one (``TypeError``): this
    module makes them with ``str.__new__``, which skips the refusal below. Joining or formatting
    one gives a plain ``str`` again, so a text built from escaped pieces must be built here too
    (`markdown_format`) or by a writer."""

    __slots__ = ()

    def __new__(cls, text: str) -> Self:
        raise TypeError(f"a {cls.__name__} is made by dataset_script.escape's functions only")


class MarkdownText(_Escaped):
    """Markdown (and the HTML a markdown renderer passes through) that shows literally."""


class CsvCell(_Escaped):
    """A CSV cell that no spreadsheet runs as a formula."""


class HtmlText(_Escaped):
    """Data that a page embeds: nothing in it ends its ``<script>`` block or starts markup."""


class PlotText(_Escaped):
    """A matplotlib text that is shown as written (no mathtext)."""


# Markdown that can start anywhere in a line: emphasis, code, links and images (they need
# brackets), table cells, strikethrough, math, the backslash itself, and "#" (a heading, or a
# discussion reference on the Hub). Other block markup (lists, quotes, "=" underlines) needs a line
# start, which a value never is: callers put each after text, and line breaks become blanks.
_MARKDOWN_INLINE = re.compile(r"[\\`*_\[\]|~$#]")
# Characters no public text keeps as they are: lone surrogates (a JSON "\udcff" cannot be encoded
# as UTF-8 and fails a file write or a plot) and the bidirectional controls that reorder what a
# reader sees (U+202E shows "exe.txt" for "txt.exe"). Each becomes U+FFFD, visibly.
_UNSHOWABLE = re.compile(r"[\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Control characters, line and paragraph separators: a blank in markdown and matplotlib.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# The same in a CSV cell, except tab and line breaks, which the csv module quotes.
_CSV_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
# What a renderer turns into a link by itself (GFM autolinks, linkify): the "://" of a URL and
# the "." of "www.", each character escaped so that no "://", "//" or "www." is left.
_AUTOLINK = re.compile(r"(?<=[A-Za-z0-9])://|(?<=\b[Ww]{3})\.")
# An absolute POSIX path of two or more components inside a longer text: a slash at the start,
# or after a blank, quote, bracket, comma or "=" (not inside a word, URL or tag such as "</b>"),
# then components up to a blank.
_ABSOLUTE_PATH = re.compile(r"""(?<![^\s"'=(\[,])/(?:[^/\s]+/)+([^/\s"']+)/?""")
# What a spreadsheet reads as the start of a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def markdown_text(value: Any) -> MarkdownText:
    """``value`` as literal text in markdown that may contain HTML: line breaks and control
    characters become blanks, ``&<>`` HTML entities, and inline markdown is backslash-escaped
    (in a table cell ``\\|`` keeps the cell whole), as are the ``://`` of ``http://`` and the
    ``.`` of ``www.``, so that a bare URL in a note is not made a link."""
    text = html.escape(_CONTROL.sub(" ", _showable(value)), quote=False)
    text = _MARKDOWN_INLINE.sub(lambda match: "\\" + match.group(), text)
    text = _AUTOLINK.sub(lambda match: "".join(f"\\{char}" for char in match.group()), text)
    return str.__new__(MarkdownText, text)


class _EscapedField:
    """A ``str.format`` field that escapes its value (`markdown_text`) after applying the format
    spec; text already escaped goes in as it is, without this wrapper."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __format__(self, format_spec: str) -> str:
        return markdown_text(format(self.value, format_spec))


def _field(value: Any) -> Any:
    return value if isinstance(value, MarkdownText) else _EscapedField(value)


def markdown_format(template: str, /, *args: Any, **kwargs: Any) -> MarkdownText:
    """The toolkit's own markdown ``template`` (a literal of its code, never outside text) with
    ``str.format`` fields filled by values escaped for markdown (`markdown_text`)."""
    text = template.format(
        *map(_field, args), **{name: _field(value) for name, value in kwargs.items()}
    )
    return str.__new__(MarkdownText, text)


def _showable(value: Any) -> str:
    """``str(value)`` with lone surrogates and bidirectional controls as U+FFFD."""
    return _UNSHOWABLE.sub("\ufffd", str(value))


def preformatted_html(text: Any) -> MarkdownText:
    """A ``<pre>`` block on one markdown line, which the browser shows verbatim: ``&<>``, the
    characters `markdown_text` escapes and line breaks as character references, so that nothing
    in it reads as HTML or markdown, even to a renderer that looks inside HTML blocks."""
    escaped = html.escape(_showable(text), quote=False)
    escaped = _AUTOLINK.sub(
        _character_references, _MARKDOWN_INLINE.sub(_character_references, escaped)
    )
    return str.__new__(
        MarkdownText, f"<pre><code>{_CONTROL.sub(_character_references, escaped)}</code></pre>"
    )


def _character_references(match: re.Match[str]) -> str:
    return "".join(f"&#{ord(char)};" for char in match.group())


def csv_cell(text: Any) -> CsvCell:
    """A CSV cell a spreadsheet shows as text: control characters blank (tab and line breaks
    kept: `writers.csv_document` quotes them), and a cell starting like a formula, after any leading
    blanks (spreadsheets skip them: " =1+1" is a formula), gets a leading quote."""
    text = _CSV_CONTROL.sub(" ", _showable(text))
    formula = text.lstrip().startswith(_FORMULA_START) or text.startswith(_FORMULA_START)
    return str.__new__(CsvCell, f"'{text}" if formula else text)


def plot_text(text: Any) -> PlotText:
    """Text for matplotlib that is never parsed as mathtext: every ``$`` escaped (matplotlib
    shows ``\\$`` as ``$``; an unbalanced or invalid ``$...$`` would otherwise fail the plot)."""
    return str.__new__(PlotText, _CONTROL.sub(" ", _showable(text)).replace("$", r"\$"))


def plot_lines(lines: Iterable[Any]) -> PlotText:
    """Lines of text for matplotlib, each escaped as `plot_text`, one below the other."""
    return str.__new__(PlotText, "\n".join(plot_text(line) for line in lines))


def html_json(data: Any) -> HtmlText:
    """``data`` as JSON safe inside ``<script type="application/json">``: no ``<`` at all (so no
    ``</script>`` or ``<!--``), and no lone surrogate, which a UTF-8 page cannot hold."""
    return str.__new__(HtmlText, json.dumps(data, separators=(",", ":")).replace("<", "\\u003c"))


def public_model_name(model_id_or_path: str, *, local: bool = False) -> str:
    """How public text names a model: its Hub id as is, a local model by its folder name only.
    ``local``: the results recorded the model as a local folder (``model.local``), which holds
    even where that folder is gone and its recorded path reads like a Hub id."""
    if local or not hub_model_id(model_id_or_path):
        return last_component(model_id_or_path)
    return model_id_or_path


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


def public_command_line(command: list[str] | None, public_ids: frozenset[str]) -> str | None:
    """The recorded argv as a shell line for a public card: every argument value holding a ``/``
    (a path, relative or absolute, whatever its option) is cut to its last component
    (`--images ../ws/val.tar` -> `--images val.tar`, `--model=/x/ckpt` -> `--model=ckpt`), except
    the document's Hub ids (``public_ids``), the repository named by ``--hub-repo-id`` and a
    ``--revision``."""
    if not command:
        return None
    shown, previous = [], ""
    for argument in command:
        shown.append(
            argument if previous in _NEVER_PATH_OPTIONS else _public_argument(argument, public_ids)
        )
        previous = argument
    return " ".join(shlex.quote(argument) for argument in shown)


# Options whose value is never a local path: a Hub repository to write to (public by nature), a
# Hub revision (``refs/pr/3``).
_NEVER_PATH_OPTIONS = frozenset({"--hub-repo-id", "--repo-id", "--revision"})


def _public_argument(argument: str, public_ids: frozenset[str]) -> str:
    """One argument of a command line with a path in it cut to its last component (`--x=PATH`
    too); option names, plain words and the document's Hub ids unchanged."""
    option, equals, value = argument.partition("=") if argument.startswith("--") else ("", "", "")
    if not equals:
        option, value = "", argument
    if option in _NEVER_PATH_OPTIONS or value in public_ids or "/" not in value:
        return argument
    return f"{option}{equals}{last_component(value)}"

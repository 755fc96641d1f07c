"""One writer per output format, each taking only text that `escape` made for that format.

- `markdown_table` and `markdown_document`: the markdown files (leaderboard.md, compare.md);
- `markdown_card`: the cards rendered from ``cards/`` templates;
- `csv_document`: the CSV files (leaderboard.csv, compare.csv);
- `html_page`: a page's data, embedded into its template (leaderboard.html, the review pages);
- `draw_text`: every text a plot shows (titles, axis labels, tick labels, legends, notes).

A plain ``str`` where escaped text belongs is a programming error, and each writer raises
``TypeError`` for it: a command that forgot to escape a value fails its tests instead of writing
markup, a formula or a local path for someone else to open. Numbers (``int``, ``float``) are no
text and pass as they are. What each writer returns is bytes-ready text that a command writes
whole or not at all through ``eval_cli.outputs``.
"""

from __future__ import annotations

import csv
import io
import itertools
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from . import escape

Number = int | float
MarkdownCell = escape.MarkdownText | Number
CsvValue = escape.CsvCell | Number | None


def _refuse(values: Iterable[Any], expected: type, where: str, *also: type) -> None:
    """Raise for a value that is neither ``expected``, a number nor one of ``also``: the bug
    that skipped escaping. (``map`` keeps the check at C speed over a table's every cell.)"""
    values = list(values)
    allowed = (expected, int, float, *also)
    if not all(map(isinstance, values, itertools.repeat(allowed))):
        value = next(value for value in values if not isinstance(value, allowed))
        raise TypeError(
            f"{where} takes {expected.__name__} (made by dataset_script.escape) or numbers, "
            f"not {type(value).__name__}: {str(value)[:80]!r}"
        )


def markdown_table(
    header: Sequence[escape.MarkdownText],
    rows: Iterable[Sequence[MarkdownCell]],
    *,
    right_aligned: Sequence[bool] | None = None,
) -> escape.MarkdownText:
    """A markdown table; a column is right-aligned where ``right_aligned`` says, by default where
    every cell of it is a number."""
    rows = [list(row) for row in rows]
    cells = [cell for row in rows for cell in row]
    _refuse([*header, *cells], escape.MarkdownText, "markdown_table")
    if right_aligned is None:
        right_aligned = [
            all(isinstance(row[column], Number) for row in rows) for column in range(len(header))
        ]
    fields = "| " + " | ".join("{}" for _ in header) + " |"
    lines = [
        fields,
        "| " + " | ".join("---:" if right else "---" for right in right_aligned) + " |",
        *(fields for _ in rows),
    ]
    return escape.markdown_format("\n".join(lines), *header, *cells)


def markdown_document(blocks: Iterable[escape.MarkdownText]) -> str:
    """Markdown blocks (headings, paragraphs, tables, lists) one after another, a blank line
    between two, ending in a newline."""
    blocks = list(blocks)
    _refuse(blocks, escape.MarkdownText, "markdown_document")
    return "\n\n".join(blocks) + "\n"


def markdown_card(template: str, **values: Any) -> str:
    """A card from a jinja2 ``template`` of ``cards/``: every value it shows is escaped on output
    (`escape.markdown_text`) unless it already is `escape.MarkdownText` (made by a filter or the
    caller), so that no template line can show outside text raw. Filters: ``link`` (an http(s)
    link, its text escaped and its address percent-encoded) and ``pre`` (a ``<pre>`` block)."""
    import jinja2  # imported when a card is rendered: the tables and pages need none of it

    environment = jinja2.Environment(
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        finalize=lambda value: (
            value if isinstance(value, escape.MarkdownText) else escape.markdown_text(value)
        ),
    )
    environment.filters.update(link=_link, pre=escape.preformatted_html)
    return environment.from_string(template).render(**values)


def _link(text: Any, url: str) -> escape.MarkdownText:
    """``[text](url)``, the text escaped and the URL percent-encoded, so that neither can end the
    link early."""
    return escape.markdown_format(
        "[{}](" + urllib.parse.quote(url, safe=":/?#=&%~+,;@!$*") + ")", text
    )


def csv_document(header: Sequence[escape.CsvCell], rows: Iterable[Sequence[CsvValue]]) -> str:
    """A CSV file: the ``header``, then one line per row (``None``: an empty cell). Lines end in
    CRLF (RFC 4180), so that the csv module quotes a cell holding either line break (with "\\n"
    alone, a bare "\\r" stayed unquoted and a spreadsheet split the row there)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in [header, *rows]:
        _refuse(row, escape.CsvCell, "csv_document", type(None))
        writer.writerow(row)
    return buffer.getvalue()


def html_page(
    template: str, data: escape.HtmlText, *, data_marker: str, assets: Mapping[str, str]
) -> str:
    """A page's ``template`` with its data at ``data_marker`` (inside a ``<script
    type="application/json">`` block) and the package's own ``assets`` (its script, style and
    policy, by marker) filled in."""
    _refuse([data], escape.HtmlText, "html_page")
    for marker, asset in assets.items():
        template = template.replace(marker, asset)
    return template.replace(data_marker, data)


def draw_text(method: Callable[..., Any], *args: Any, **options: Any) -> Any:
    """Call a matplotlib text method (``set_title``, ``text``, ``set_yticklabels``, ``plot``
    with a ``label``...) after checking that each text it is given is `PlotText`: every string
    among ``args`` (and inside a list of them, such as tick labels) and the ``label`` option.
    Other options (colours, alignment) are the toolkit's own and pass as they are."""
    texts = [arg for arg in args if isinstance(arg, str)]
    texts += [item for arg in args if isinstance(arg, list) for item in arg]
    if "label" in options:
        texts.append(options["label"])
    _refuse(texts, escape.PlotText, f"draw_text({getattr(method, '__name__', method)})")
    return method(*args, **options)

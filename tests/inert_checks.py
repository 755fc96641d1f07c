"""Hostile text and the checks that it came out inert in each output format (issue 19 item 3).

`HOSTILE` is what a model id, a file name or a class name can carry: spreadsheet formulas (``=``,
``+``, ``-``, ``@``, a tab or carriage return first), table pipes, line breaks, HTML that runs
(``<script>``, ``<img onerror>``), markdown links and images, and backticks. `FILE_NAMES` are
those that a file system accepts as a name (no ``/``)."""

from __future__ import annotations

import csv
import io
import json
import re

from markdown_it import MarkdownIt

HOSTILE = (
    '=HYPERLINK("http://evil.example","x")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "a|b|c",
    "line\nbreak",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[link](https://evil.example)",
    "![image](https://evil.example/x.png)",
    "`code`",
)
FILE_NAMES = tuple(text for text in HOSTILE if "/" not in text)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def assert_csv_inert(text: str) -> None:
    """No cell of the CSV starts like a formula (after blanks, which spreadsheets skip)."""
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            assert not cell.startswith(_FORMULA) and not cell.lstrip().startswith(_FORMULA), cell


def assert_markdown_inert(text: str) -> None:
    """Rendered as CommonMark with tables (as the Hub and GitHub do), the markdown has no link,
    image, code, script or raw HTML of outside text, and every table row keeps its cells."""
    html = MarkdownIt("commonmark").enable("table").render(text)
    for live in (r"<script", r"<\w+[^>]*onerror", r'(href|src)="https://evil', r"<code>code"):
        assert not re.search(live, html), live
    for table in re.findall(r"<table>.*?</table>", html, re.S):
        header = len(re.findall(r"<th[ >]", table.split("</thead>")[0]))
        body = table.split("<tbody>")[1] if "<tbody>" in table else ""
        for row in body.split("</tr>")[:-1]:
            assert row.count("<td") == header, row  # no "|" or line break split a row


def assert_page_data_inert(page: str) -> None:
    """The page's embedded JSON holds no ``<`` (nothing ends its script block or starts a tag),
    and every hostile text outside it is absent."""
    blocks = re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S)
    assert blocks, "the page embeds no data"
    for block in blocks:
        assert "<" not in block
        json.loads(block)
    outside = re.sub(r'<script type="application/json"[^>]*>.*?</script>', "", page, flags=re.S)
    assert "onerror" not in outside and "alert(1)" not in outside


def assert_svg_inert(svg: str) -> None:
    """A plot's SVG holds hostile text only as XML-escaped text: no element or attribute of it."""
    assert "<script" not in svg and not re.search(r"<\w+[^>]*onerror", svg)
    assert "<img" not in svg

"""The texts every leaderboard plot shares: the title with the labels' version and the caveats
shared by what is drawn, fitted to the axes' width; names shortened to fit beside a mark. Every
text is escaped for mathtext.
"""

from __future__ import annotations

import textwrap

from ...dataset_script import escape
from ...dataset_script.writers import draw_text
from .entries import Leaderboard

VERSION_WIDTH = 40  # characters of the labels' version in the title (the table has it whole)


def plot_title(board: Leaderboard, what: str) -> str:
    """``what`` is plotted, with the labels' version and every caveat shared by the points."""
    plotted = board.plotted
    # The caveat says "unverified" once: the version keeps only what else it says.
    version = plotted[0].labels_version.removesuffix(" (unverified)") if plotted else ""
    version = "" if version == "unverified" else shortened(version, VERSION_WIDTH)
    caveats = []
    if plotted and plotted[0].unverified:
        caveats.append("unverified labels")
    if plotted and not plotted[0].complete:
        caveats.append("partial or incomplete results")
    title = what + (f", labels {version}" if version else "")
    return title + (f" ({'; '.join(caveats)})" if caveats else "")


def fitted_title(axes, title: str, renderer) -> float:
    """Set ``title`` (plain text) wrapped at word boundaries to the axes' width, so that no
    caveat is clipped at the figure's edges; its height in pixels, to make room for it."""
    text = draw_text(axes.set_title, escape.plot_text(title))
    width = axes.get_window_extent(renderer).width
    measured = text.get_window_extent(renderer).width
    characters = len(title)
    while measured > width and characters > 10:
        characters = max(10, min(characters - 1, int(characters * width / measured)))
        lines = textwrap.wrap(title, characters)
        draw_text(text.set_text, escape.plot_lines(lines))
        measured = text.get_window_extent(renderer).width
    return text.get_window_extent(renderer).height


def shortened(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, an ellipsis marking the cut."""
    return text if len(text) <= width else text[: width - 1] + "\u2026"

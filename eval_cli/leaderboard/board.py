"""`imagenet-multilabel leaderboard`: many results files -> one table and three plots.

Reads the ``results.json`` of `score` and `run` (files, run directories or results datasets, any
mix) and writes ``leaderboard.md``, ``leaderboard.csv``, ``leaderboard.html`` (the same table and
plots to browse: `html`) and, as PNG and SVG, multi-label accuracy against original top-1 (with
y = x), ImageNet-M correct against original top-1 (the paper's figure) and each model's mistakes
stacked by automatic category, sorted by top-1 (Peychev et al.'s figures).

Trust: every number read is checked (`entries`) and a malformed file is an error naming it and
the key; every text shown is escaped (`dataset_script.escape`, in `table` and `html`) and a local
model is named by its folder name only. Nothing is mixed or dropped silently: a result that is not
official (partial, incomplete, unverified or patched labels: `results.publication_problems`, the
one rule) is flagged in the table and drawn hollow; results are one per model identity (model id
and revision, or the predictions file's sha256 for `score`), kept by `ranking.KEEP_RULES`
(complete, then official, then most splits, then newest), and the notes say which were left out
and which rule decided. A plot has one definition per axis: x is top-1 on the annotated images
(every result has it; top-1 on all 50,000 images is in the table), and it draws one label version
and either complete or incomplete results, never both; the notes name what it leaves out.

Reference lines from the paper's own artifacts (`paper_references`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ...metric.errors import expect_path, expect_paths
from .. import outputs
from ..frame import FOLDER, LABEL_FILES, SOURCE, Read, Write, command
from ..scores.results_dataset import HUB_PREFIX
from .entries import Leaderboard, results_paths
from .html import render_page
from .paper_references import paper_references, reference_labels
from .plots import ALL_PLOTS, PLOT_FORMATS, render_plot
from .ranking import board_of
from .table import TABLE_FILES, TABLE_FORMATS, markdown, table_file

if TYPE_CHECKING:
    from ...dataset_script.labels.loading import Labels, LabelSource

DEFAULT_OUTPUT_DIR = "leaderboard"
PAGE_FILE = "leaderboard.html"  # written by `html.render_page`
OUTPUT_FILES = (
    *TABLE_FILES,
    PAGE_FILE,
    *(f"{which}.{suffix}" for which in ALL_PLOTS for suffix in PLOT_FORMATS),
)


@command(
    # Results files, run folders, results datasets (folders, or hf://datasets/... not on disk):
    # every file of a folder is read and protected.
    Read(
        "paths",
        SOURCE,
        expected="a results.json of `score` or `run`, a run folder or a results dataset",
        many=True,
        whole=True,
        hub_id=lambda path: path.startswith(HUB_PREFIX),
    ),
    Write("output_dir", FOLDER, writes=OUTPUT_FILES, locked=True),
    LABEL_FILES,
)
def write_leaderboard(
    paths: Sequence[str | os.PathLike],
    output_dir: str | os.PathLike = DEFAULT_OUTPUT_DIR,
    *,
    labels: Labels | LabelSource | None = None,
) -> Leaderboard:
    """Write ``leaderboard.md``, ``leaderboard.csv``, ``leaderboard.html`` and the plots for
    ``paths`` (results files, run directories, results datasets) into ``output_dir``; the paper
    references use the ``labels`` given (as `score_predictions` takes them), else the cached
    published ones, else are left out with a note.

    Everything is read and rendered before the first file is written, each file whole or not at
    all (`eval_cli.outputs`), under the output directory's lock (`eval_cli.frame`): a second
    leaderboard into the same directory is refused, so the md and csv always come from one run."""
    # An empty board says nothing (the command line's RESULTS takes one or more).
    paths = expect_paths(
        paths, "paths", at_least=1, plural="results files, run folders or results datasets"
    )
    output = Path(expect_path(output_dir, "output_dir"))
    loaded, why_not = reference_labels(labels)
    board = board_of(results_paths(paths), paper_references(loaded) if loaded else ())
    if why_not:
        board.notes.append(why_not)
    rendered = {
        name: data for which in ALL_PLOTS for name, data in render_plot(board, which).items()
    }
    pngs = [name for name in rendered if name.endswith(".png")]
    for name, escaper, writer in TABLE_FORMATS:
        rendered[name] = table_file(board, escaper, writer).encode("utf-8")
    rendered[PAGE_FILE] = render_page(board, output).encode("utf-8")
    rendered["leaderboard.md"] = markdown(board, pngs).encode("utf-8")
    for name, data in rendered.items():  # the table last: it shows the plots
        outputs.write_bytes(output / name, data)
    return board

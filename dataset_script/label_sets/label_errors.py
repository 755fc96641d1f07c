"""Label errors (Northcutt et al. 2021, "Pervasive label errors in test sets destabilize machine
learning benchmarks"): the original labels, corrected where Mechanical Turk workers confirmed an
error.

Their method flagged 5,440 validation images; five workers each said whether the image shows the
given (original) label, the label their method guessed, both or neither. The corrected top-1
over all 50,000 images, as this toolkit defines it (`corrected`): an option with at least 3 of the
5 votes decides — ``given`` keeps the original label, ``guessed`` replaces it with the guessed
one, ``both`` accepts either, ``neither`` leaves the image out — and a flagged image without such
a majority is left out too; every unflagged image keeps its original label. On the published
votes that leaves 49,109 images (2,524 given, 1,428 guessed, 597 both, 293 neither, 598 without a
majority).

``data/label_errors/imagenet_mturk.csv`` holds the votes as published in
github.com/cleanlab/label-errors ``mturk/imagenet_mturk.json`` (Apache-2.0; ``LICENSE`` and
``SOURCE.md`` beside it), converted once by ``scripts/convert_label_sets.py``: one row per flagged
image, ``image_id,given,guessed,given_votes,guessed_votes,both_votes,neither_votes`` (class ids
in the ILSVRC-2012 index, the given one checked against the devkit label).
"""

from __future__ import annotations

import numpy as np

from .. import classes
from . import LabelSetError, LoadedLabelSet, LoadRequest, over_validation_images, shipped_table

PUBLISHED_SHA256 = "fe26b9ef744ed71c313e55df3e5e8df35bed2cb9d5fa935288507c3b6d0d30d3"
SOURCE_REPOSITORY = "https://github.com/cleanlab/label-errors"
SOURCE_COMMIT = "6d5d6b31a13216290afc40e5c6319399c4d15c06"
LICENCE = "Apache-2.0"
WHAT = "the label errors' votes"
COLUMNS = (
    "image_id",
    "given",
    "guessed",
    "given_votes",
    "guessed_votes",
    "both_votes",
    "neither_votes",
)
# What the workers could answer, in the order of the vote columns; an image whose votes give no
# option MAJORITY of VOTERS has the outcome NO_MAJORITY.
OPTIONS = ("given", "guessed", "both", "neither")
OUTCOMES = (*OPTIONS, "no majority")
GIVEN, GUESSED, BOTH, NEITHER, NO_MAJORITY = range(len(OUTCOMES))
VOTERS, MAJORITY = 5, 3


def outcomes(votes: np.ndarray) -> np.ndarray:
    """The outcome (index into ``OUTCOMES``) of each flagged image's (given, guessed, both,
    neither) vote counts: the option with at least ``MAJORITY`` votes, else ``NO_MAJORITY``
    (of five votes, at most one option can have three)."""
    decided = votes >= MAJORITY
    return np.where(decided.any(axis=1), decided.argmax(axis=1), NO_MAJORITY)


def corrected(
    original: np.ndarray,
    flagged_rows: np.ndarray,
    guessed: np.ndarray,
    votes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The accepted classes of every image, as (row, class) pairs: ``original`` (one class per
    image row) corrected at ``flagged_rows`` by their ``votes`` (`outcomes`): the original class
    when the workers chose given or both, the ``guessed`` one when they chose guessed or both,
    nothing (left out) for neither or no majority."""
    outcome = outcomes(votes)
    unflagged = np.ones(len(original), dtype=bool)
    unflagged[flagged_rows] = False
    keeps_given = np.isin(outcome, (GIVEN, BOTH))
    takes_guessed = np.isin(outcome, (GUESSED, BOTH))
    kept = np.flatnonzero(unflagged)
    rows = np.concatenate([kept, flagged_rows[keeps_given], flagged_rows[takes_guessed]])
    accepted = np.concatenate(
        [original[kept], original[flagged_rows[keeps_given]], guessed[takes_guessed]]
    )
    return rows, accepted


def load(request: LoadRequest) -> LoadedLabelSet:
    table = shipped_table("label_errors", "imagenet_mturk.csv", WHAT, PUBLISHED_SHA256, COLUMNS)
    flagged_rows = table.image_rows()
    given, guessed = table.class_ids(1), table.class_ids(2)
    votes = table.rows[:, 3:]
    if (votes < 0).any() or (votes.sum(axis=1) != VOTERS).any():
        raise LabelSetError(f"{WHAT} {table.read.source!r}: expected {VOTERS} votes per image")
    original = classes.validation_labels().astype(np.int64)
    if (given != original[flagged_rows]).any():
        raise LabelSetError(
            f"{WHAT} {table.read.source!r}: a given label is not the devkit's label of its image"
        )
    rows, accepted = corrected(original, flagged_rows, guessed, votes)
    published = f"{SOURCE_REPOSITORY} mturk/imagenet_mturk.json at {SOURCE_COMMIT}"
    return over_validation_images(request, rows, accepted, table.provenance(published, LICENCE))

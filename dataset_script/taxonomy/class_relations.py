"""What the automatic taxonomy knows about pairs of classes, read once from package data.

The one owner of ``data/taxonomy/`` (built by ``scripts/build_taxonomy_data.py`` from WordNet
3.0, the ReaL labels and Tsipras et al.'s groups; ``SOURCE.md`` there gives each file's source
and licence). Everything is keyed by wnid in the files and by class index here:

- ``superclasses()``: the designed superclasses and the WordNet nodes nested in them, and for
  every pair of classes the most specific superclass holding both (the fine-grained rule).
- ``co_occurrence()``: how many ReaL-labelled images hold both classes of a pair that no
  superclass joins, with those images, so that an image's own labels can be left out of the
  count that judges it (the spurious-correlation rule).
- ``overlapping_classes()``: pairs where predicting one class for the other is no mistake of the
  model's (sunglass/sunglasses, the two "crane"s, ...), directed (the overlapping rule).
- ``wordnet_nodes()``, ``hypernym_paths()``, ``relatives()``: the classes' WordNet hierarchy and
  the non-ImageNet nouns near each class (for the image rule that looks for out-of-vocabulary
  objects).
- ``tsipras_groups()``: Tsipras et al.'s eleven coarse groups of the classes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from ...metric.errors import ToolkitError
from .. import classes

DATA_FOLDER = "taxonomy"
# Image ids are 1..50,000: a pair key times this plus an image id is unique.
_IMAGE_ID_RANGE = classes.NUM_VALIDATION_IMAGES + 1


class TaxonomyDataError(ToolkitError):
    """The shipped taxonomy data is not what this module expects (a broken install)."""


def _text(name: str) -> str:
    package = resources.files("imagenet_multilabel.dataset_script")
    return package.joinpath("data", DATA_FOLDER, name).read_text(encoding="utf-8")


def _tsv_rows(name: str) -> list[list[str]]:
    """The rows of a shipped table, header dropped."""
    return [line.split("\t") for line in _text(name).splitlines()[1:]]


def _index(wnid: str, source: str) -> int:
    index = classes.WNID_TO_INDEX.get(wnid)
    if index is None:
        raise TaxonomyDataError(f"{DATA_FOLDER}/{source}: {wnid!r} is not an ImageNet class")
    return index


def _pair_key(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """One int64 per unordered class pair."""
    return np.minimum(first, second) * classes.NUM_CLASSES + np.maximum(first, second)


def short_name(index: int) -> str:
    """A class's first name ("golden retriever"; "crane (n02012849)" for the clashing pair)."""
    return classes.CLASS_NAMES[index].split(",")[0]


@dataclass(frozen=True)
class Superclasses:
    """Superclasses, designed ones first, then the WordNet nodes nested in them.

    ``finest_shared[a, b]`` is the index of the smallest superclass holding both classes (-1:
    none); a class shares none with itself unless a superclass holds it.
    """

    names: tuple[str, ...]
    sizes: np.ndarray  # classes per superclass
    designed: np.ndarray  # bool: designed (True) or a nested WordNet node
    members: np.ndarray  # (superclasses, 1000) bool
    finest_shared: np.ndarray  # (1000, 1000) int16

    def of_class(self, index: int) -> list[str]:
        """The names of the superclasses holding a class, largest first."""
        held = np.flatnonzero(self.members[:, index])
        return [self.names[i] for i in held[np.argsort(-self.sizes[held], kind="stable")]]


@cache
def superclasses() -> Superclasses:
    entries = json.loads(_text("superclasses.json"))
    members = np.zeros((len(entries), classes.NUM_CLASSES), dtype=bool)
    for position, entry in enumerate(entries):
        members[position, [_index(w, "superclasses.json") for w in entry["members"]]] = True
    sizes = members.sum(axis=1)
    finest = np.full((classes.NUM_CLASSES, classes.NUM_CLASSES), -1, dtype=np.int16)
    # Largest first, so that each smaller superclass overwrites the pairs it also holds.
    for position in np.argsort(-sizes, kind="stable"):
        held = np.flatnonzero(members[position])
        finest[np.ix_(held, held)] = position
    for array in (sizes, members, finest):
        array.flags.writeable = False
    return Superclasses(
        names=tuple(entry["name"] for entry in entries),
        sizes=sizes,
        designed=np.array(["inside" not in entry for entry in entries]),
        members=members,
        finest_shared=finest,
    )


@dataclass(frozen=True)
class CoOccurrence:
    """ReaL co-occurrence of class pairs that no superclass joins.

    ``counts[a, b]``: ReaL-labelled images whose labels (the original label counted with the
    ReaL ones) hold both; ``_incidences``: sorted pair key * 50,001 + image id, one per such
    image, so that ``counts_without`` can leave the judged image out.
    """

    counts: np.ndarray  # (1000, 1000) int32, symmetric
    _incidences: np.ndarray

    def counts_without(
        self, first: np.ndarray, second: np.ndarray, image_ids: np.ndarray
    ) -> np.ndarray:
        """Per pair, the images holding both classes other than ``image_ids`` (0: none)."""
        counts = self.counts[first, second]
        keys = _pair_key(first, second) * _IMAGE_ID_RANGE + image_ids
        found = np.searchsorted(self._incidences, keys)
        found[found == len(self._incidences)] = 0
        own = (counts > 0) & (self._incidences[found] == keys) if len(self._incidences) else 0
        return counts - own


@cache
def co_occurrence() -> CoOccurrence:
    rows = _tsv_rows("co_occurrence.tsv")
    first = np.array([_index(row[0], "co_occurrence.tsv") for row in rows], dtype=np.int64)
    second = np.array([_index(row[1], "co_occurrence.tsv") for row in rows], dtype=np.int64)
    images = [np.array(row[2].split(), dtype=np.int64) for row in rows]
    per_pair = np.array([len(ids) for ids in images], dtype=np.int32)
    counts = np.zeros((classes.NUM_CLASSES, classes.NUM_CLASSES), dtype=np.int32)
    counts[first, second] = counts[second, first] = per_pair
    keys = np.repeat(_pair_key(first, second), per_pair) * _IMAGE_ID_RANGE
    incidences = np.sort(keys + np.concatenate(images or [np.zeros(0, np.int64)]))
    counts.flags.writeable = incidences.flags.writeable = False
    return CoOccurrence(counts=counts, _incidences=incidences)


@dataclass(frozen=True)
class OverlappingClasses:
    """``pair_of[t, p]``: which pair (index into ``reasons``) makes predicting ``p`` for an image
    labelled ``t`` overlapping, -1 for none. A "same" pair holds both ways, a "kind-of" pair
    (every husky is an Eskimo dog) from the narrower class to the broader one only."""

    pair_of: np.ndarray  # (1000, 1000) int16
    reasons: tuple[str, ...]
    sources: tuple[str, ...]


@cache
def overlapping_classes() -> OverlappingClasses:
    entries = json.loads(_text("overlapping_classes.json"))
    pair_of = np.full((classes.NUM_CLASSES, classes.NUM_CLASSES), -1, dtype=np.int16)
    for position, entry in enumerate(entries):
        narrow, broad = (_index(w, "overlapping_classes.json") for w in entry["classes"])
        pair_of[narrow, broad] = position
        if entry["relation"] == "same":
            pair_of[broad, narrow] = position
    pair_of.flags.writeable = False
    return OverlappingClasses(
        pair_of=pair_of,
        reasons=tuple(entry["reason"] for entry in entries),
        sources=tuple(entry["source"] for entry in entries),
    )


@dataclass(frozen=True)
class WordNetNode:
    lemmas: tuple[str, ...]
    parents: tuple[str, ...]  # empty for nodes listed only as relatives


@cache
def wordnet_nodes() -> dict[str, WordNetNode]:
    """wnid -> lemmas and hypernyms of every WordNet node the data names."""
    return {
        wnid: WordNetNode(tuple(lemmas.split("|")), tuple(parents.split()))
        for wnid, lemmas, parents in _tsv_rows("wordnet_nodes.tsv")
    }


def hypernym_paths(index: int) -> list[list[str]]:
    """Every path of wnids from WordNet's root ("entity") down to class ``index``."""
    nodes = wordnet_nodes()

    def paths(wnid: str) -> list[list[str]]:
        parents = nodes[wnid].parents
        return [[*path, wnid] for parent in parents for path in paths(parent)] or [[wnid]]

    return paths(classes.WNIDS[index])


@cache
def relatives() -> dict[int, dict[str, tuple[str, ...]]]:
    """Class index -> its out-of-vocabulary WordNet relatives' wnids: "siblings" (the other
    children of its hypernyms) and "hyponyms" (its descendants), none an ImageNet class or an
    ancestor of one; ``wordnet_nodes()`` names them."""
    return {
        _index(wnid, "relatives.tsv"): {
            "siblings": tuple(siblings.split()),
            "hyponyms": tuple(hyponyms.split()),
        }
        for wnid, siblings, hyponyms in _tsv_rows("relatives.tsv")
    }


@cache
def tsipras_groups() -> dict[str, tuple[int, ...]]:
    """Tsipras et al.'s eleven coarse groups: name -> class indices."""
    entries: Sequence[dict[str, Any]] = json.loads(_text("tsipras_groups.json"))
    return {
        entry["name"]: tuple(sorted(_index(w, "tsipras_groups.json") for w in entry["members"]))
        for entry in entries
    }

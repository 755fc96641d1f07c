"""The automatic taxonomy's shipped data: what the loader makes of it, its sources and licences,
and that its builder, rerun, writes the very same files."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.taxonomy import class_relations

ROOT = Path(__file__).resolve().parents[1]
DATA = resources.files("imagenet_multilabel.dataset_script").joinpath("data", "taxonomy")
WORDNET = Path("/usr/share/wordnet")
BUILT_FILES = (
    "wordnet_nodes.tsv",
    "relatives.tsv",
    "superclasses.json",
    "co_occurrence.tsv",
    "overlapping_classes.json",
)
# The designed animal superclasses are Tsipras et al.'s animal groups.
TSIPRAS_ANIMALS = {
    "canine": "Dogs",
    "mammal": "Other mammals",
    "bird": "Birds",
    "reptile, amphibian or fish": "Reptiles, fish, amphibians",
    "invertebrate": "inverterbrates",
}


def members(name: str) -> set[int]:
    superclasses = class_relations.superclasses()
    return set(np.flatnonzero(superclasses.members[superclasses.names.index(name)]).tolist())


def test_superclasses_share_the_closest_group_of_two_classes():
    superclasses = class_relations.superclasses()
    finest = superclasses.finest_shared
    assert np.array_equal(finest, finest.T)
    assert superclasses.names[finest[207, 208]] == "retriever"  # golden, Labrador
    assert superclasses.names[finest[207, 151]] == "dog"  # golden retriever, Chihuahua
    assert superclasses.names[finest[207, 269]] == "canine"  # golden retriever, timber wolf
    assert finest[207, 281] == -1  # a dog and a tabby cat: no shared superclass
    assert finest[834, 906] == -1  # a suit and a Windsor tie neither
    designed = [n for n, d in zip(superclasses.names, superclasses.designed, strict=True) if d]
    assert len(designed) == len(set(designed)) and min(superclasses.sizes) >= 2
    assert superclasses.of_class(207)[:3] == ["canine", "dog", "hunting dog"]


def test_the_animal_superclasses_are_tsipras_et_al_s_groups():
    groups = class_relations.tsipras_groups()
    assert len(groups) == 11
    assert sorted(c for group in groups.values() for c in group) == list(range(1000))
    for superclass, group in TSIPRAS_ANIMALS.items():
        assert members(superclass) == set(groups[group]), superclass


def test_co_occurrence_leaves_the_judged_image_out():
    co_occurrence = class_relations.co_occurrence()
    counts = co_occurrence.counts
    assert np.array_equal(counts, counts.T)
    # Only pairs that no superclass joins are kept: the spurious rule never needs the others.
    assert not (counts[class_relations.superclasses().finest_shared >= 0]).any()
    tench, bittern, image = np.array([0]), np.array([133]), 10306  # one shared image: this one
    assert counts[0, 133] == 1
    assert co_occurrence.counts_without(tench, bittern, np.array([image])).tolist() == [0]
    assert co_occurrence.counts_without(bittern, tench, np.array([image])).tolist() == [0]
    assert co_occurrence.counts_without(tench, bittern, np.array([1])).tolist() == [1]
    assert co_occurrence.counts_without(tench, bittern, np.array([0])).tolist() == [1]


def test_overlapping_pairs_hold_in_their_direction():
    overlapping = class_relations.overlapping_classes()
    pair_of = overlapping.pair_of
    husky, eskimo_dog, sunglass, sunglasses = 250, 248, 836, 837
    assert pair_of[husky, eskimo_dog] >= 0 and pair_of[eskimo_dog, husky] == -1
    assert pair_of[sunglass, sunglasses] == pair_of[sunglasses, sunglass] >= 0
    assert (
        overlapping.reasons[pair_of[husky, eskimo_dog]] == "every Siberian husky is an Eskimo dog"
    )
    assert "eth-sri/automated-error-analysis" in overlapping.sources[pair_of[husky, eskimo_dog]]
    assert int((pair_of >= 0).sum()) == 2 * 14 + 7  # 14 "same" pairs both ways, 7 "kind-of"


def test_hierarchy_and_out_of_vocabulary_relatives():
    nodes = class_relations.wordnet_nodes()
    names = [
        [nodes[wnid].lemmas[0] for wnid in path] for path in class_relations.hypernym_paths(207)
    ]
    assert [
        "entity",
        "physical entity",
        "object",
        "whole",
        "living thing",
        "organism",
        "animal",
        "chordate",
        "vertebrate",
        "mammal",
        "placental",
        "carnivore",
        "canine",
        "dog",
        "hunting dog",
        "sporting dog",
        "retriever",
        "golden retriever",
    ] in names
    assert len(names) == 2  # a dog is also a domestic animal
    assert all(path[0] == "entity" and path[-1] == "golden retriever" for path in names)
    knot = class_relations.relatives()[616]
    hyponyms = {nodes[wnid].lemmas[0] for wnid in knot["hyponyms"]}
    assert {"bowline", "granny knot", "slipknot"} <= hyponyms
    ancestors_and_classes = {
        wnid for c in range(1000) for p in class_relations.hypernym_paths(c) for wnid in p
    }
    for entry in class_relations.relatives().values():
        assert ancestors_and_classes.isdisjoint(entry["siblings"] + entry["hyponyms"])


def test_every_file_ships_with_its_source_and_licence():
    source = DATA.joinpath("SOURCE.md").read_text(encoding="utf-8")
    for name in (*BUILT_FILES, "tsipras_groups.json"):
        assert f"`{name}`" in source and DATA.joinpath(name).is_file(), name
    for licence, words in (
        ("LICENSE.WordNet", "WordNet 3.0 Copyright 2006 by Princeton University"),
        ("LICENSE.reassessed-imagenet", "Apache License"),
        ("LICENSE.automated-error-analysis", "Apache License"),
        ("LICENSE.ImageNetMultiLabel", "MIT License"),
    ):
        assert f"`{licence}`" in source
        assert words in DATA.joinpath(licence).read_text(encoding="utf-8"), licence


def _builder_inputs_missing() -> str | None:
    if not (WORDNET / "data.noun").is_file():
        return f"no WordNet 3.0 database at {WORDNET} (Debian: apt-get install wordnet-base)"
    return None


@pytest.mark.skipif(_builder_inputs_missing() is not None, reason=str(_builder_inputs_missing()))
def test_the_builder_rewrites_the_shipped_files_byte_for_byte(tmp_path):
    """~2 s: WordNet parsed, ReaL counted. Tsipras et al.'s .npy is not needed: without it the
    builder leaves tsipras_groups.json alone."""
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build_taxonomy_data.py"),
            "--output",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(BUILT_FILES)
    for name in BUILT_FILES:
        assert (tmp_path / name).read_bytes() == DATA.joinpath(name).read_bytes(), name
    for wnid in classes.WNIDS:  # every class is described
        assert f"\n{wnid}\t" in (tmp_path / "wordnet_nodes.tsv").read_text(encoding="utf-8")

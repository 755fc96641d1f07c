"""Build the automatic taxonomy's data (``dataset_script/data/taxonomy/``) from its sources.

Run from a checkout (the package must import: ``PYTHONPATH=.`` or an editable install)::

    python scripts/build_taxonomy_data.py \\
        --tsipras-superclasses ../shared/reference-data/imagenet-multilabel-tsipras/superclasses.npy

Inputs, none downloaded:

- WordNet 3.0's noun database (``data.noun``; Debian's ``wordnet-base`` installs it in
  ``/usr/share/wordnet``), parsed here by its documented format (wndb(5WN)): no NLTK.
- The ReaL labels (Beyer et al. 2020), read and sha256-checked by the package's own loader
  (the package's copy by default, ``--real-labels`` for another).
- Optionally Tsipras et al.'s eleven superclasses (``superclasses.npy``, a pickled dict: loaded
  with ``allow_pickle`` here and nowhere else), converted to ``tsipras_groups.json``; without
  ``--tsipras-superclasses`` that file is left as it is.
- The design below: this project's superclasses (WordNet nodes chosen as the level at which a
  confusion is "the same kind of thing"), and the overlapping class pairs with their sources.

Outputs (small text files; byte-identical on every run from the same inputs):
``wordnet_nodes.tsv``, ``relatives.tsv``, ``superclasses.json``, ``co_occurrence.tsv``,
``overlapping_classes.json`` and, with the .npy, ``tsipras_groups.json``. ``SOURCE.md`` beside
them says what each holds and under which licence. docs/TAXONOMY.md explains the design.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a checkout imports as the package (its folders map under it)

from imagenet_multilabel.dataset_script import classes  # noqa: E402
from imagenet_multilabel.dataset_script.label_sets import load_label_set  # noqa: E402

DEFAULT_OUTPUT = ROOT / "dataset_script" / "data" / "taxonomy"
DEFAULT_WORDNET = Path("/usr/share/wordnet")
WORDNET_NOTICE = "WordNet 3.0 Copyright 2006 by Princeton University"

# ---------------------------------------------------------------------------------------------
# The design: superclasses. Two classes are "fine-grained" alternatives when they share one: the
# same kind of thing, told apart by details. Each entry: (name, WordNet nodes whose ImageNet
# descendants belong, nodes whose descendants do not, why). Animals follow Tsipras et al.'s
# coarse groups (dogs with the other canines, other mammals, birds, reptiles/amphibians/fish,
# invertebrates: confusions inside them are what the experts call fine-grained); everything else
# is split finer, at the level where objects look alike (WordNet's "device" or "container" hold
# things no one confuses). Every WordNet node whose classes all lie inside one of these becomes a
# nested superclass too (``retriever`` inside ``canine``), so that evidence can name the closest.
SUPERCLASS_DESIGN: tuple[tuple[str, tuple[str, ...], tuple[str, ...], str], ...] = (
    ("canine", ("n02083346",), (), "dogs, wolves, foxes, wild dogs, hyena (Tsipras: dogs)"),
    ("mammal", ("n01861778",), ("n02083346",), "every other mammal (Tsipras: other mammals)"),
    ("bird", ("n01503061",), (), "Tsipras: birds"),
    (
        "reptile, amphibian or fish",
        ("n01661091", "n01627424", "n02512053"),
        (),
        "Tsipras: reptiles, fish, amphibians",
    ),
    ("invertebrate", ("n01905661",), (), "Tsipras: invertebrates"),
    ("fungus", ("n12992868",), (), "mushrooms"),
    ("flower", ("n11669921",), (), ""),
    ("seed or nut", ("n13134947",), ("n07705931",), "botanical fruit that is not eaten as fruit"),
    ("person", ("n00007846",), (), ""),
    ("vegetable", ("n07707451",), (), ""),
    ("edible fruit", ("n07705931",), (), ""),
    ("prepared food", ("n00021265",), ("n07881800",), "dishes, breads, desserts, sauces"),
    ("beverage", ("n07881800",), (), ""),
    ("landscape", ("n09287968",), (), "geological formations: shores, mountains, valleys"),
    (
        "building or shop",
        ("n02913152", "n03297735", "n03546340", "n02980441"),
        (),
        "buildings, shops, dwellings, castle: scenes told apart by details",
    ),
    ("bridge", ("n02898711",), (), ""),
    ("fence", ("n03327234",), (), ""),
    ("monument", ("n03743902", "n03074380", "n04486054"), (), "memorials, columns, arches"),
    ("roof", ("n04105068",), (), ""),
    (
        "motor vehicle",
        ("n04170037", "n02924116"),
        ("n03684823",),
        "self-propelled road vehicles and buses (not locomotives)",
    ),
    (
        "rail vehicle",
        ("n03684823", "n02959942", "n02917067", "n04335435"),
        (),
        "locomotives, rail cars, bullet train, streetcar",
    ),
    (
        "cycle",
        ("n02834778", "n04482393", "n04509417", "n03785016", "n03791053"),
        (),
        "bicycles, tricycle, unicycle, moped, scooter",
    ),
    ("cart", ("n04543158", "n03484083"), (), "wagons and handcarts"),
    ("sled", ("n04235291",), (), ""),
    ("watercraft", ("n04530566",), (), "boats and ships"),
    ("aircraft", ("n02686568", "n04266014"), (), "aircraft and the space shuttle"),
    ("furniture", ("n03405725",), ("n03636649",), "furniture except lamps"),
    (
        "light source",
        ("n04263760", "n04380533", "n03637318", "n03666591"),
        (),
        "candles, torches, lamps, lampshade, lighter",
    ),
    ("curtain or screen", ("n02851099", "n04151581"), (), "blinds, curtains, screens, nets"),
    (
        "garment",
        ("n03051540",),
        ("n03502509", "n02756098", "n03816005", "n03540267", "n04162706"),
        "clothing worn on the body (not headwear, masks, wigs, neckties, hosiery, seat belts)",
    ),
    ("necktie", ("n03815615",), (), "a tie is worn with a suit, not mistaken for one"),
    ("headwear", ("n03502509", "n03929855"), (), "hats, caps, helmets"),
    ("footwear", ("n03380867",), (), "shoes and boots"),
    ("armor", ("n02739668", "n02740764"), (), "body armour, shields, armour plate"),
    ("mask", ("n03725035", "n03868863", "n03724870"), (), "masks of every kind"),
    (
        "fabric or paper towel",
        ("n03309808", "n15075141"),
        (),
        "cloths, towels, fabrics and toilet tissue",
    ),
    ("bag", ("n02773037",), (), ""),
    ("vessel", ("n04531098",), ("n04388743",), "bottles, jugs, pots, tubs (not water tanks)"),
    (
        "drinkware",
        ("n03438257", "n03063599", "n07930864", "n03733805"),
        (),
        "glasses, mugs, cups (class 968 'cup' is WordNet's punch, pictured as a cup)",
    ),
    ("box", ("n02883344",), (), ""),
    ("basket", ("n02801938",), (), ""),
    ("shaker", ("n04183329",), (), ""),
    ("tableware", ("n04381994",), (), "bowls, dishes, spoons"),
    ("cookware", ("n03101986", "n03259280"), (), "pots and pans for cooking"),
    ("toiletry", ("n04447443",), (), "cosmetics, lotions, perfume"),
    (
        "computer or display",
        ("n03918480", "n03782006", "n04152593", "n04404412"),
        (),
        "personal computers, monitors, screens, television",
    ),
    ("keyboard", ("n03614007", "n04264628"), (), ""),
    ("telephone", ("n04401088",), (), ""),
    (
        "audio player",
        ("n02979186", "n02988304", "n04392985", "n04041544", "n03584254"),
        (),
        "cassette, CD and tape players, radio, iPod",
    ),
    ("printer or copier", ("n04004767", "n03924679"), (), ""),
    ("home appliance", ("n03528263", "n03508101"), (), "household appliances and heaters"),
    ("measuring instrument", ("n03733925",), (), "clocks, watches, dials, scales, rulers"),
    ("weapon", ("n04565375",), (), ""),
    ("camera", ("n02942699",), (), ""),
    ("keyboard instrument", ("n03614532",), (), ""),
    ("percussion instrument", ("n03915437",), (), ""),
    ("stringed instrument", ("n04338517",), (), ""),
    ("wind instrument", ("n04586932",), (), ""),
    ("ball", ("n02778669",), (), ""),
    ("gymnastic apparatus", ("n03472232",), (), ""),
    ("weight", ("n04571292",), (), "barbell, dumbbell"),
    ("puzzle", ("n04028315",), (), ""),
    ("fastener", ("n03323703",), (), "buckles, clips, locks, nails, screws, knots"),
    ("wheel", ("n04574999",), (), ""),
    ("tool", ("n04451818",), (), "hand and power tools"),
    ("brush or broom", ("n03039947", "n03876231"), (), ""),
    ("pen", ("n03906997",), (), ""),
    ("sheath", ("n04187061",), (), "holster, scabbard"),
    ("farm machine", ("n03322940",), (), ""),
    ("slot machine", ("n04243941",), (), "slot machine, vending machine"),
    ("loudspeaker or microphone", ("n04470953",), (), ""),
    ("book or magazine", ("n06596364", "n07248320"), (), "comic book, book jacket"),
)

# WordNet nodes whose names would mislead as evidence ("shares the superclass 'drug of abuse'"
# for red wine and eggnog): not made nested superclasses.
UNNAMED_NODES = frozenset({"n03248958"})

# ---------------------------------------------------------------------------------------------
# Overlapping classes: pairs where predicting one for the other is no mistake of the model's. A
# "same" pair names one kind of object twice (either way round is overlapping); in a "kind-of"
# pair every object of the first class is also one of the second, so predicting the second for
# an image labelled with the first is overlapping, not the other way round.
PEYCHEV = (
    "Peychev et al. 2023, github.com/eth-sri/automated-error-analysis (Apache-2.0), "
    "src/utils.py dough_bagel_collapsed_class_definitions, after Vasudevan et al. 2022"
)
OVERLAPPING_CLASSES: tuple[tuple[str, str, str, str, str], ...] = (
    # (class, other class, relation, the reason evidence gives, source)
    ("n04355933", "n04356056", "same", "one kind of object listed twice", PEYCHEV),
    ("n03710637", "n03710721", "same", "one kind of object listed twice", PEYCHEV),
    ("n03773504", "n04008634", "same", "one kind of object listed twice", PEYCHEV),
    ("n03642806", "n03832673", "same", "one kind of object listed twice", PEYCHEV),
    ("n03782006", "n04152593", "same", "one kind of object listed twice", PEYCHEV),
    ("n02441942", "n02442845", "same", "mustelids ImageNet's images do not tell apart", PEYCHEV),
    ("n02441942", "n02443114", "same", "mustelids ImageNet's images do not tell apart", PEYCHEV),
    ("n02441942", "n02443484", "same", "mustelids ImageNet's images do not tell apart", PEYCHEV),
    ("n02442845", "n02443114", "same", "mustelids ImageNet's images do not tell apart", PEYCHEV),
    ("n02442845", "n02443484", "same", "mustelids ImageNet's images do not tell apart", PEYCHEV),
    ("n02443114", "n02443484", "same", "mustelids ImageNet's images do not tell apart", PEYCHEV),
    ("n02110185", "n02109961", "kind-of", "every Siberian husky is an Eskimo dog", PEYCHEV),
    ("n02110063", "n02109961", "kind-of", "every malamute is an Eskimo dog", PEYCHEV),
    ("n02504013", "n01871265", "kind-of", "an Indian elephant with tusks is a tusker", PEYCHEV),
    ("n02504458", "n01871265", "kind-of", "an African elephant with tusks is a tusker", PEYCHEV),
    ("n03063599", "n07930864", "kind-of", "a coffee mug is a cup", PEYCHEV),
    ("n02979186", "n04392985", "kind-of", "a cassette player is a tape player", PEYCHEV),
    ("n02808440", "n04493381", "kind-of", "a bathtub is a tub", PEYCHEV),
    (
        "n02012849",
        "n03126707",
        "same",
        "two classes named 'crane' (a bird, a machine)",
        "ILSVRC-2012's class list; models that read class names (zero-shot CLIP) confuse them",
    ),
    (
        "n03180011",
        "n03782006",
        "same",
        "a desktop computer is pictured as its monitor",
        "this project (issue 20)",
    ),
    (
        "n03180011",
        "n04152593",
        "same",
        "a desktop computer is pictured as its screen",
        "this project (issue 20)",
    ),
)
RELATIONS = ("same", "kind-of")


# ---------------------------------------------------------------------------------------------
# WordNet 3.0 noun database


def read_wordnet(folder: Path) -> dict[str, dict]:
    """wnid -> {"lemmas", "parents", "children"} for every noun synset of ``data.noun``.

    Each data line is ``offset lex_filenum ss_type w_cnt (word lex_id)*w_cnt p_cnt
    (symbol offset pos source/target)*p_cnt | gloss`` (wndb(5WN)); header lines start with two
    spaces. Hypernyms are ``@`` and ``@i`` (instance), hyponyms ``~`` and ``~i``.
    """
    path = folder / "data.noun"
    text = path.read_text(encoding="latin-1")
    if WORDNET_NOTICE not in text[:3000]:
        sys.exit(f"{path}: expected WordNet 3.0 ({WORDNET_NOTICE!r} in its header)")
    synsets: dict[str, dict] = {}
    for line in text.splitlines():
        if line.startswith("  "):
            continue
        fields = line.split(" | ", 1)[0].split()
        num_words = int(fields[3], 16)
        lemmas = [fields[4 + 2 * i].replace("_", " ") for i in range(num_words)]
        position = 4 + 2 * num_words
        num_pointers = int(fields[position])
        pointers = [
            fields[position + 1 + 4 * i : position + 5 + 4 * i] for i in range(num_pointers)
        ]
        noun_links = [(symbol, f"n{offset}") for symbol, offset, pos, _ in pointers if pos == "n"]
        synsets[f"n{fields[0]}"] = {
            "lemmas": lemmas,
            "parents": [wnid for symbol, wnid in noun_links if symbol in ("@", "@i")],
            "children": [wnid for symbol, wnid in noun_links if symbol in ("~", "~i")],
        }
    return synsets


def closure(start: Iterable[str], step: Mapping[str, Iterable[str]]) -> set[str]:
    """Every node reachable from ``start`` through ``step`` (the start nodes excluded)."""
    seen: set[str] = set()
    frontier = list(start)
    while frontier:
        for reached in step[frontier.pop()]:
            if reached not in seen:
                seen.add(reached)
                frontier.append(reached)
    return seen


# ---------------------------------------------------------------------------------------------
# The outputs


def write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")


def write_json_list(path: Path, entries: Sequence[object]) -> None:
    """A JSON list, one entry a line: small, and a change shows as a changed line."""
    lines = ",\n".join(json.dumps(entry, ensure_ascii=False) for entry in entries)
    write_text(path, f"[\n{lines}\n]\n")


def build_nodes(
    synsets: Mapping[str, dict], wnids: Sequence[str], relatives: Mapping[str, dict]
) -> tuple[list[str], set[str]]:
    """``wordnet_nodes.tsv`` rows: every ancestor of a class (with its parents) and every relative
    (its lemmas only); and the set of ancestors."""
    parents = {wnid: synset["parents"] for wnid, synset in synsets.items()}
    ancestors = set(wnids) | closure(wnids, parents)
    named = ancestors | {
        wnid for entry in relatives.values() for ids in entry.values() for wnid in ids
    }
    rows = ["wnid\tlemmas\tparents"]
    for wnid in sorted(named):
        listed = " ".join(parents[wnid]) if wnid in ancestors else ""
        rows.append(f"{wnid}\t{'|'.join(synsets[wnid]['lemmas'])}\t{listed}")
    return rows, ancestors


def build_relatives(
    synsets: Mapping[str, dict], wnids: Sequence[str]
) -> dict[str, dict[str, list[str]]]:
    """For each class, the WordNet nouns near it that are not ImageNet classes nor ancestors of
    one (out-of-vocabulary names, for the image rule): siblings (children of its parents) and
    hyponyms (all its descendants)."""
    parents = {wnid: synset["parents"] for wnid, synset in synsets.items()}
    children = {wnid: synset["children"] for wnid, synset in synsets.items()}
    in_vocabulary = set(wnids) | closure(wnids, parents)
    relatives = {}
    for wnid in wnids:
        siblings = {child for parent in parents[wnid] for child in children[parent]}
        relatives[wnid] = {
            "siblings": sorted(siblings - in_vocabulary),
            "hyponyms": sorted(closure([wnid], children) - in_vocabulary),
        }
    return relatives


def build_superclasses(
    synsets: Mapping[str, dict], wnids: Sequence[str], ancestors: set[str]
) -> list[dict]:
    """The designed superclasses with their member classes, then the nested ones: every WordNet
    node of two or more classes that all lie in one designed superclass (and not all of it);
    among nodes with the same classes, the most specific is kept."""
    parents = {wnid: synset["parents"] for wnid, synset in synsets.items()}
    above = {wnid: closure([wnid], parents) | {wnid} for wnid in wnids}
    designed = []
    for name, nodes, excluded, why in SUPERCLASS_DESIGN:
        for node in (*nodes, *excluded):
            if node not in synsets:
                sys.exit(f"superclass {name!r}: {node} is not a WordNet 3.0 noun synset")
        members = [
            wnid
            for wnid in wnids
            if not above[wnid].isdisjoint(nodes) and above[wnid].isdisjoint(excluded)
        ]
        if len(members) < 2:
            sys.exit(f"superclass {name!r} holds {len(members)} class(es); a superclass needs two")
        designed.append(
            {
                "name": name,
                "wordnet_nodes": list(nodes),
                "excluded_nodes": list(excluded),
                "why": why,
                "members": members,
            }
        )
    depth = {}
    for node in sorted(ancestors, key=lambda wnid: len(closure([wnid], parents))):
        depth[node] = 1 + max((depth[parent] for parent in parents[node]), default=-1)
    node_members = defaultdict(list)
    for wnid in wnids:
        for node in above[wnid]:
            node_members[node].append(wnid)
    nested: dict[tuple[str, ...], dict] = {}
    for node in sorted(ancestors, key=lambda wnid: (-depth[wnid], wnid)):
        members = node_members[node]
        key = tuple(members)
        if len(members) < 2 or key in nested or node in UNNAMED_NODES:
            continue
        for group in designed:
            if set(members) < set(group["members"]):
                nested[key] = {
                    "name": synsets[node]["lemmas"][0],
                    "wordnet_nodes": [node],
                    "inside": group["name"],
                    "members": members,
                }
                break
    return designed + sorted(nested.values(), key=lambda entry: entry["wordnet_nodes"])


def build_co_occurrence(
    real_sets: Sequence[frozenset[int]],
    original_labels: Sequence[int],
    wnids: Sequence[str],
    superclasses: Sequence[dict],
) -> list[str]:
    """``co_occurrence.tsv`` rows: each pair of classes that no superclass joins, and the image
    ids (1-based) of the ReaL-labelled images that hold both, the original label counted with
    the ReaL ones (an image without ReaL labels counts for nothing)."""
    joined = set()
    for superclass in superclasses:
        joined.update(itertools.combinations(sorted(superclass["members"]), 2))
    images = defaultdict(list)
    for image_id, (labels, original) in enumerate(
        zip(real_sets, original_labels, strict=True), start=1
    ):
        if not labels:
            continue
        present = sorted({wnids[index] for index in labels} | {wnids[original]})
        for pair in itertools.combinations(present, 2):
            if pair not in joined:
                images[pair].append(image_id)
    rows = ["wnid\tother_wnid\timage_ids"]
    for (first, second), ids in sorted(images.items()):
        rows.append(f"{first}\t{second}\t{' '.join(map(str, ids))}")
    return rows


def build_overlapping(wnids: Sequence[str]) -> list[dict]:
    known = set(wnids)
    pairs = []
    for first, second, relation, reason, source in OVERLAPPING_CLASSES:
        if not {first, second} <= known or relation not in RELATIONS:
            sys.exit(f"overlapping pair {first} {second} {relation}: not two ImageNet classes")
        pairs.append(
            {"classes": [first, second], "relation": relation, "reason": reason, "source": source}
        )
    return pairs


def build_tsipras_groups(path: Path, wnids: Sequence[str]) -> list[dict]:
    """Tsipras et al.'s eleven groups (class indices in a pickled dict) as {name, members}."""
    import numpy as np  # only here: the .npy is a pickle, read once by this script

    groups = np.load(path, allow_pickle=True).item()
    converted = {
        name: sorted(wnids[index] for index in members) for name, members in groups.items()
    }
    if sorted(w for members in converted.values() for w in members) != sorted(wnids):
        sys.exit(f"{path}: expected the 1,000 classes in eleven disjoint groups")
    return [{"name": name, "members": members} for name, members in converted.items()]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wordnet", type=Path, default=DEFAULT_WORDNET, help="WordNet 3.0 dict")
    parser.add_argument("--real-labels", type=Path, help="real.json (default: the package's copy)")
    parser.add_argument("--tsipras-superclasses", type=Path, help="Tsipras et al.'s .npy")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    wnids = classes.WNIDS
    synsets = read_wordnet(args.wordnet)
    missing = [wnid for wnid in wnids if wnid not in synsets]
    if missing:
        sys.exit(
            f"{args.wordnet}: {len(missing)} ImageNet classes are not noun synsets: {missing[:5]}"
        )
    real_sets = load_label_set("real", path=args.real_labels).accepted_sets()

    relatives = build_relatives(synsets, wnids)
    nodes, ancestors = build_nodes(synsets, wnids, relatives)
    superclasses = build_superclasses(synsets, wnids, ancestors)
    output = args.output
    output.mkdir(parents=True, exist_ok=True)
    write_text(output / "wordnet_nodes.tsv", "\n".join(nodes) + "\n")
    relative_rows = ["wnid\tsiblings\thyponyms"] + [
        f"{wnid}\t{' '.join(entry['siblings'])}\t{' '.join(entry['hyponyms'])}"
        for wnid, entry in relatives.items()
    ]
    write_text(output / "relatives.tsv", "\n".join(relative_rows) + "\n")
    write_json_list(output / "superclasses.json", superclasses)
    co_occurrence = build_co_occurrence(
        real_sets, classes.validation_labels().tolist(), wnids, superclasses
    )
    write_text(output / "co_occurrence.tsv", "\n".join(co_occurrence) + "\n")
    write_json_list(output / "overlapping_classes.json", build_overlapping(wnids))
    if args.tsipras_superclasses is not None:
        groups = build_tsipras_groups(args.tsipras_superclasses, wnids)
        write_json_list(output / "tsipras_groups.json", groups)
    print(
        f"wrote {output}: {len(nodes) - 1} WordNet nodes, {len(superclasses)} superclasses, "
        f"{len(co_occurrence) - 1} co-occurring pairs, {len(OVERLAPPING_CLASSES)} overlapping pairs"
    )


if __name__ == "__main__":
    main()

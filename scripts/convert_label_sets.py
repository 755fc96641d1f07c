"""Convert two published label sets, once, into the plain files the package ships.

Run: ``python scripts/convert_label_sets.py REFERENCE_DIR`` where REFERENCE_DIR holds
``label-errors/`` (github.com/cleanlab/label-errors) and ``imagenet-multilabel-tsipras/``
(github.com/MadryLab/ImageNetMultiLabel ``data/``). It writes, into
``dataset_script/label_sets/data/``:

- ``label_errors/imagenet_mturk.csv`` from ``imagenet_mturk.json`` (Northcutt et al. 2021): one
  row per flagged image, ``image_id,given,guessed,given_votes,guessed_votes,both_votes,
  neither_votes``, sorted by image id. Checked: 5,440 records of the published keys, the id is
  the image in the record's URL, whose folder is the wnid of ``given_original_label`` in this
  package's class index and whose devkit label it is; five votes each.
- ``main_object/main_object.csv`` from ``annotations_classify_task.pkl`` and
  ``imagenet_label_to_wnid.npy`` (Tsipras et al. 2020): ``image_id,main_top`` for the 6,761
  images, sorted by image id, every class id mapped through their id -> wnid table to this
  package's index (never by name). Images are keyed by the pickle's index (file names); their
  ``image_number`` (the position in an unshuffled class-folder loader: class id x 50 + the file's
  rank by name within its class) and ``imagenet_label`` are checked against it.

Both files are published research data, read here once with pandas and numpy's pickle support;
the package never unpickles anything. The script prints what it checked and the label errors'
outcome counts under the package's own rule (`label_errors.outcomes`), then each file's sha256
for ``SOURCE.md`` and the loading modules.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "dataset_script" / "label_sets" / "data"
MTURK_KEYS = {
    "id",
    "url",
    "given_original_label",
    "given_original_label_name",
    "our_guessed_label",
    "our_guessed_label_name",
    "mturk",
}
VOTE_KEYS = ("given", "guessed", "both", "neither")
IMAGES_PER_CLASS = 50


def label_errors_rows(
    records: Sequence[Mapping[str, Any]], wnids: Sequence[str], devkit: np.ndarray
) -> list[list[int]]:
    """The votes table of ``records`` (imagenet_mturk.json), checked; ``wnids``: the class index,
    ``devkit``: each image's original label (entry ``image_id - 1``)."""
    rows = []
    for record in records:
        if set(record) != MTURK_KEYS or set(record["mturk"]) != set(VOTE_KEYS):
            raise ValueError(f"record {record.get('id')}: unexpected keys {sorted(record)}")
        image_id, given = record["id"], record["given_original_label"]
        guessed, votes = record["our_guessed_label"], [record["mturk"][k] for k in VOTE_KEYS]
        expected_url_end = f"/{wnids[given]}/ILSVRC2012_val_{image_id:08d}.JPEG"
        if not record["url"].endswith(expected_url_end):
            raise ValueError(f"record {image_id}: url {record['url']} is not ...{expected_url_end}")
        if devkit[image_id - 1] != given:
            raise ValueError(f"record {image_id}: given {given} is not the devkit's label")
        if not 0 <= guessed < len(wnids) or sum(votes) != 5 or min(votes) < 0:
            raise ValueError(f"record {image_id}: guessed {guessed}, votes {votes}")
        rows.append([image_id, given, guessed, *votes])
    if len({row[0] for row in rows}) != len(rows):
        raise ValueError("an image is flagged twice")
    return sorted(rows)


def main_object_rows(
    table: Any,
    their_wnids: Mapping[int, str],
    index: Mapping[str, int],
    devkit: np.ndarray,
) -> tuple[list[list[int]], dict[str, int]]:
    """``image_id,main_top`` rows of ``table`` (annotations_classify_task.pkl, indexed by file
    name), class ids through ``their_wnids`` (their id -> wnid) and ``index`` (wnid -> ours); and
    how many images' ``image_number`` and ``imagenet_label`` agree with the file name."""
    by_class: dict[int, list[str]] = {}
    for image_id, label in enumerate(devkit.tolist(), start=1):
        by_class.setdefault(label, []).append(f"ILSVRC2012_val_{image_id:08d}.JPEG")
    loader_order = {
        label * IMAGES_PER_CLASS + rank: name
        for label, names in by_class.items()
        for rank, name in enumerate(sorted(names))
    }
    rows, agree = [], Counter()
    for file_name, number, their_label, main_top in zip(
        table.index,
        table["image_number"],
        table["imagenet_label"],
        table["main_top"],
        strict=True,
    ):
        image_id = int(file_name[len("ILSVRC2012_val_") : -len(".JPEG")])
        agree["image_number"] += int(loader_order[int(number)] == file_name)
        agree["imagenet_label"] += int(index[their_wnids[int(their_label)]] == devkit[image_id - 1])
        rows.append([image_id, index[their_wnids[int(main_top)]]])
    return sorted(rows), dict(agree)


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[int]]) -> str:
    """Write the table; its sha256."""
    text = ",".join(header) + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows)
    path.write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode()).hexdigest()


def main(argv: list[str] | None = None) -> None:
    import pandas  # only here: reading the published pickle
    from imagenet_multilabel.dataset_script import classes
    from imagenet_multilabel.dataset_script.label_sets import label_errors, main_object

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference_dir", type=Path)
    args = parser.parse_args(argv)
    devkit = classes.validation_labels().astype(np.int64)

    mturk = args.reference_dir / "label-errors" / "imagenet_mturk.json"
    records = json.loads(mturk.read_text(encoding="utf-8"))
    votes_rows = label_errors_rows(records, classes.WNIDS, devkit)
    outcome = label_errors.outcomes(np.array([row[3:] for row in votes_rows]))
    counts = Counter(label_errors.OUTCOMES[i] for i in outcome.tolist())
    kept = classes.NUM_VALIDATION_IMAGES - counts["neither"] - counts["no majority"]
    print(f"{mturk}: sha256 {hashlib.sha256(mturk.read_bytes()).hexdigest()}")
    print(f"  {len(votes_rows):,} flagged images, urls, wnids and devkit labels checked")
    print(f"  outcomes: {dict(counts)}; images kept: {kept:,}")
    votes_csv = DATA / "label_errors" / "imagenet_mturk.csv"
    print(f"  wrote {votes_csv}: sha256 {write_csv(votes_csv, label_errors.COLUMNS, votes_rows)}")

    tsipras = args.reference_dir / "imagenet-multilabel-tsipras"
    table = pandas.read_pickle(tsipras / "annotations_classify_task.pkl")
    their_wnids = np.load(tsipras / "imagenet_label_to_wnid.npy", allow_pickle=True).item()
    main_rows, agree = main_object_rows(table, their_wnids, classes.WNID_TO_INDEX, devkit)
    same_index = sum(their_wnids[i] == classes.WNIDS[i] for i in range(classes.NUM_CLASSES))
    print(f"{tsipras}: {len(main_rows):,} images")
    print(f"  their class ids with this package's wnid: {same_index} of {classes.NUM_CLASSES}")
    print(f"  agreeing with the file name: {agree} of {len(main_rows):,}")
    main_csv = DATA / "main_object" / "main_object.csv"
    print(f"  wrote {main_csv}: sha256 {write_csv(main_csv, main_object.COLUMNS, main_rows)}")


if __name__ == "__main__":
    main()

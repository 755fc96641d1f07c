"""scripts/convert_label_sets.py on hand-made published records: what it checks, and the plain
rows it writes (the shipped files themselves are checked in test_label_sets.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from imagenet_multilabel.dataset_script import classes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import convert_label_sets as convert  # noqa: E402

DEVKIT = classes.validation_labels().astype(np.int64)


def record(image_id: int, guessed: int = 3, votes: tuple[int, ...] = (3, 1, 1, 0), **changes):
    given = int(DEVKIT[image_id - 1])
    wnid = classes.WNIDS[given]
    return {
        "id": image_id,
        "url": f"https://labelerrors.com//static/imagenet/val/{wnid}/"
        f"ILSVRC2012_val_{image_id:08d}.JPEG",
        "given_original_label": given,
        "given_original_label_name": "ignored",
        "our_guessed_label": guessed,
        "our_guessed_label_name": "ignored",
        "mturk": dict(zip(convert.VOTE_KEYS, votes, strict=True)),
        **changes,
    }


def test_label_errors_records_become_sorted_rows():
    rows = convert.label_errors_rows([record(9), record(2, 7, (0, 0, 5, 0))], classes.WNIDS, DEVKIT)
    assert rows == [[2, 970, 7, 0, 0, 5, 0], [9, int(DEVKIT[8]), 3, 3, 1, 1, 0]]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"url": "https://labelerrors.com//static/imagenet/val/n0/ILSVRC2012_val_00000001.JPEG"},
            "url",
        ),
        ({"given_original_label": 1}, "url"),  # the url's folder is the given label's wnid
        ({"mturk": {"given": 3, "guessed": 1, "both": 0, "neither": 0}}, "votes"),
        ({"our_guessed_label": 1000}, "guessed 1000"),
        ({"extra": 1}, "unexpected keys"),
    ],
)
def test_label_errors_records_are_checked(changes, message):
    with pytest.raises(ValueError, match=message):
        convert.label_errors_rows([record(1, **changes)], classes.WNIDS, DEVKIT)


def test_a_given_label_that_is_not_the_devkits_is_refused():
    wrong = record(1)
    wrong["given_original_label"] = 66
    wrong["url"] = wrong["url"].replace(classes.WNIDS[65], classes.WNIDS[66])
    with pytest.raises(ValueError, match="not the devkit's label"):
        convert.label_errors_rows([wrong], classes.WNIDS, DEVKIT)


def loader_position(image_id: int) -> int:
    """Class id x 50 + the file's rank by name within its class."""
    label = int(DEVKIT[image_id - 1])
    same_class = np.equal(DEVKIT, label)
    return label * 50 + np.flatnonzero(same_class).tolist().index(image_id - 1)


def test_main_object_rows_map_classes_through_wnids_and_check_images():
    their_wnids = {i: wnid for i, wnid in enumerate(reversed(classes.WNIDS))}  # another order
    theirs = {wnid: i for i, wnid in their_wnids.items()}
    names = [classes.file_name_from_image_id(i) for i in (30, 4)]
    table = pd.DataFrame(
        {
            "image_number": [loader_position(30), loader_position(4) + 1],  # the second is off
            "imagenet_label": [theirs[classes.WNIDS[DEVKIT[29]]], theirs[classes.WNIDS[0]]],
            "main_top": [theirs[classes.WNIDS[858]], theirs[classes.WNIDS[809]]],
        },
        index=names,
    )
    rows, agree = convert.main_object_rows(table, their_wnids, classes.WNID_TO_INDEX, DEVKIT)
    assert rows == [[4, 809], [30, 858]]
    assert agree == {"image_number": 1, "imagenet_label": 1}

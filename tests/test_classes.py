from collections import Counter

import numpy as np
import pytest
from imagenet_multilabel.dataset_script import classes


def test_class_table_invariants():
    assert len(classes.WNIDS) == classes.NUM_CLASSES == 1000
    assert list(classes.WNIDS) == sorted(set(classes.WNIDS))
    assert classes.WNIDS[0] == "n01440764"
    assert len(set(classes.CLASS_NAMES)) == 1000  # a datasets.ClassLabel needs unique names
    assert classes.CLASS_NAMES[classes.WNID_TO_INDEX["n02012849"]] == "crane (n02012849)"
    assert classes.CLASS_NAMES[classes.WNID_TO_INDEX["n03126707"]] == "crane (n03126707)"


def test_validation_labels_are_fifty_per_class():
    labels = classes.validation_labels()
    assert labels.shape == (50_000,)
    assert set(Counter(labels.tolist()).values()) == {50}
    # ILSVRC2012_val_00000001.JPEG is a snake, n01751748 (sea snake), per the devkit.
    assert classes.WNIDS[labels[0]] == "n01751748"
    assert np.all((labels >= 0) & (labels < 1000))


def test_file_names_round_trip():
    assert classes.image_id_from_file_name("ILSVRC2012_val_00050000.JPEG") == 50_000
    assert classes.file_name_from_image_id(1) == "ILSVRC2012_val_00000001.JPEG"
    for name in ["ILSVRC2012_val_00000000.JPEG", "ILSVRC2012_val_1.JPEG", "x.JPEG"]:
        with pytest.raises(ValueError, match="not an ImageNet validation file name"):
            classes.image_id_from_file_name(name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ILSVRC2012_val_00000001_n01751748.JPEG", "ILSVRC2012_val_00000001.JPEG"),
        ("val/n01751748/ILSVRC2012_val_00000002.JPEG", "ILSVRC2012_val_00000002.JPEG"),
        ("ILSVRC2012_val_00000003", "ILSVRC2012_val_00000003.JPEG"),
        ("ILSVRC2012_val_000000031", None),
        ("ILSVRC2012_val_00060000", None),
        ("n01440764_10026.JPEG", None),
    ],
)
def test_file_name_from_any(name, expected):
    assert classes.file_name_from_any(name) == expected

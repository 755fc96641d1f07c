"""Synthetic annotation files in the exact published schema (human_accuracy_v3.0.0.json)."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.annotations.parse import LABEL_KINDS
from imagenet_multilabel.dataset_script.annotations.published import Annotations
from imagenet_multilabel.metric.references import References

IMAGENET_M_SIZE = 68


def synthetic_annotations(images_per_class: int = 2, seed: int = 0) -> dict[str, Any]:
    """Annotations for ``images_per_class`` images of every class, like the real file.

    Includes what the real file has: ImageNetV2 keys to skip, absent label keys, problematic
    images (at least one class keeps a non-problematic image), and a 68-image ImageNet-M list.
    """
    rng = random.Random(seed)
    labels = classes.validation_labels()
    initial: dict[str, dict[str, list[str]]] = {}
    problematic: dict[str, list[str]] = {}
    for class_index in range(classes.NUM_CLASSES):
        image_ids = np.flatnonzero(labels == class_index)[:images_per_class] + 1
        for position, image_id in enumerate(image_ids.tolist()):
            name = classes.file_name_from_image_id(image_id)
            entry = {"correct": [classes.WNIDS[class_index]]}
            if rng.random() < 0.5:
                entry["correct"].append(rng.choice(classes.WNIDS))
            if rng.random() < 0.7:
                entry["wrong"] = rng.sample(classes.WNIDS, rng.randint(1, 3))
            if rng.random() < 0.3:
                entry["unclear"] = [rng.choice(classes.WNIDS)]
            initial[name] = {k: v for k, v in entry.items() if k != "wrong" or v}
            if position > 0 and rng.random() < 0.2:
                problematic[name] = ["synthetic"]
    for index in range(5):  # ImageNetV2 images live in the same file and must be skipped
        initial[f"imagenetv2-matched-frequency/{index}/{index:032x}.jpeg"] = {
            "correct": ["n01440764"]
        }
    problematic["imagenetv2-matched-frequency/0/00000000000000000000000000000000.jpeg"] = []
    candidates = sorted(
        name for name in initial if name.startswith("ILSVRC") and name not in problematic
    )
    imagenet_m = rng.sample(candidates, IMAGENET_M_SIZE)
    return {"initial_annots": initial, "problematic_images": problematic, "imagenet_m": imagenet_m}


def write_annotation_file(path: Path, data: dict[str, Any] | None = None) -> str:
    """Write ``data`` (default: the synthetic set) as JSON; returns the file's sha256."""
    payload = json.dumps(data if data is not None else synthetic_annotations()).encode()
    path.write_bytes(payload)
    return hashlib.sha256(payload).hexdigest()


def reference_columns(references: References) -> dict[str, list]:
    """``References`` back in the labels column contract (without ``image_id``), to compare."""
    return {
        "file_name": references.file_names.tolist(),
        "original_label": references.original_label.tolist(),
        **{f"{kind}_multi_labels": references.label_lists(kind) for kind in LABEL_KINDS},
        "is_problematic": references.is_problematic.tolist(),
    }


def split_columns_without_image_id(annotations: Annotations, split: str) -> dict[str, list]:
    columns = annotations.split_columns(split)
    del columns["image_id"]
    return columns

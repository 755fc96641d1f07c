"""Synthetic annotations on which a paper model's reviewed mistakes are judged wrong."""

from __future__ import annotations

from typing import Any

from annotation_fixtures import synthetic_annotations
from imagenet_multilabel.dataset_script import classes, mistakes


def paper_mistake_annotations(model: str = "vit3b") -> dict[str, Any]:
    """The synthetic set (2 images per class) plus every image of ``model``'s mistake file.

    Each such image gets its original label as ``correct`` (another class where the model
    predicted the original label) and the model's prediction as ``wrong``, and is never
    problematic, so that the model's rebuilt predictions are rejected exactly on its mistakes.
    """
    data = synthetic_annotations(images_per_class=2)
    originals = classes.validation_labels()
    for file_name, mistake in mistakes.model_mistakes(model).items():
        original = int(originals[classes.image_id_from_file_name(file_name) - 1])
        correct = original if original != mistake.prediction else (original + 1) % 1000
        data["initial_annots"][file_name] = {
            "correct": [classes.WNIDS[correct]],
            "wrong": [classes.WNIDS[mistake.prediction]],
        }
        data["problematic_images"].pop(file_name, None)
    return data

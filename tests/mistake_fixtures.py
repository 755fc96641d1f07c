"""Synthetic annotations on which a paper model's reviewed mistakes are judged wrong, and the
inputs of the whole review loop built on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from annotation_fixtures import synthetic_annotations, write_annotation_file
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.annotations.published import load_annotations
from imagenet_multilabel.dataset_script.taxonomy import experts
from imagenet_multilabel.metric.references import References

NUM_OUTSIDE_LABEL_SET = 5


def paper_mistake_annotations(model: str = "vit3b") -> dict[str, Any]:
    """The synthetic set (2 images per class) plus every image of ``model``'s mistake file.

    Each such image gets its original label as ``correct`` (another class where the model
    predicted the original label) and the model's prediction as ``wrong``, and is never
    problematic, so that the model's rebuilt predictions are rejected exactly on its mistakes.
    """
    data = synthetic_annotations(images_per_class=2)
    originals = classes.validation_labels()
    for file_name, mistake in experts.model_mistakes(model).items():
        original = int(originals[classes.image_id_from_file_name(file_name) - 1])
        correct = original if original != mistake.prediction else (original + 1) % 1000
        data["initial_annots"][file_name] = {
            "correct": [classes.WNIDS[correct]],
            "wrong": [classes.WNIDS[mistake.prediction]],
        }
        data["problematic_images"].pop(file_name, None)
    return data


def write_loop_inputs(root: Path) -> dict[str, Any]:
    """ViT-3B's mistakes judged wrong (annotation file), its rebuilt predictions (JSONL, top-5 with
    probabilities, as `run` writes them) and ``NUM_OUTSIDE_LABEL_SET`` images predicted as a
    class none of their label sets holds: 378 expert mistakes and a few predictions outside the
    label set to review."""
    annotations = root / "annotations.json"
    sha256 = write_annotation_file(annotations, paper_mistake_annotations("vit3b"))
    loaded = load_annotations(annotations, allow_unverified=True, cache_dir=root / "cache")
    validation = References.from_columns(loaded.split_columns("validation"))
    top1 = experts.paper_model_predictions("vit3b", validation)
    vit3b = experts.model_mistakes("vit3b")
    names = validation.file_names.tolist()
    candidates = [
        row
        for row in range(len(names))
        if names[row] not in vit3b and not validation.is_problematic[row]
    ][:NUM_OUTSIDE_LABEL_SET]
    sets = [validation.label_lists(name) for name in ("correct", "unclear", "wrong")]
    for row in candidates:
        known = {class_id for label_sets in sets for class_id in label_sets[row]}
        top1[row] = next(c for c in range(999, -1, -1) if c not in known)
    lines = []
    for name, prediction in zip(names, top1.tolist(), strict=True):
        top5 = [prediction] + [(prediction + k) % 1000 for k in range(1, 5)]
        record = {"file_name": name, "prediction": prediction, "top5": top5}
        record["top5_probs"] = [0.6, 0.2, 0.1, 0.05, 0.05]
        lines.append(json.dumps(record))
    predictions = root / "predictions.jsonl"
    predictions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {
        "annotations": annotations,
        "sha256": sha256,
        "predictions": predictions,
        "outside_label_set": [(names[row], int(top1[row])) for row in candidates],
        "mistake_image_ids": sorted(
            classes.image_id_from_file_name(name)
            for name in [*vit3b, *(names[row] for row in candidates)]
        ),
    }

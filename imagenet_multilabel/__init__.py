"""ImageNet multi-label evaluation (labels v3.0.0, ImageNet-M) for Hugging Face models.

The Python API; the command line (``imagenet-multilabel``, ``python -m imagenet_multilabel``) is a
thin layer over these functions::

    import imagenet_multilabel as iml

    labels = iml.load_labels(("validation", "imagenet_m"), annotations="human_accuracy_v3.0.0.json")
    results = iml.score_predictions("predictions.jsonl", labels=labels)
    results = iml.evaluate_model("timm/resnet50.a1_in1k", "/data/val", labels=labels)
    outcomes = iml.evaluate_models(["timm/resnet50.a1_in1k", "microsoft/resnet-50"], "/data/val")

Names are imported on first use, so ``import imagenet_multilabel`` stays light (no torch).
"""

from __future__ import annotations

import importlib
from typing import Any

from imagenet_multilabel.eval_cli import __version__
from imagenet_multilabel.metric.errors import ToolkitError

# public name -> module that defines it
_API = {
    "Labels": "imagenet_multilabel.dataset_script.labels",
    "load_labels": "imagenet_multilabel.dataset_script.labels",
    "score_predictions": "imagenet_multilabel.eval_cli.score",
    "evaluate_model": "imagenet_multilabel.eval_cli.run",
    "evaluate_models": "imagenet_multilabel.eval_cli.run",
    "ModelSpec": "imagenet_multilabel.eval_cli.run",
}
__all__ = ["ToolkitError", "__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""ImageNet multi-label evaluation (labels v3.0.0, ImageNet-M) for Hugging Face models.

The Python API; the command line (``imagenet-multilabel``, ``python -m imagenet_multilabel``) is a
thin layer over these functions::

    import imagenet_multilabel as iml

    labels = iml.load_labels(("validation", "imagenet_m"), annotations="human_accuracy_v3.0.0.json")
    results = iml.score_predictions("predictions.jsonl", labels=labels)
    results = iml.evaluate_model("timm/resnet50.a1_in1k", "/data/val", labels=labels, cpu=True)
    options = iml.RunOptions(batch_size="auto", mixed_precision="bf16")
    outcomes = iml.evaluate_models(["timm/resnet50.a1_in1k", "microsoft/resnet-50"], "/data/val",
                                   options=options)

Names are imported on first use, so ``import imagenet_multilabel`` stays light (no torch); the
names that evaluate models need the [run] extra and say so when it is missing.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

# In a checkout the sub-packages are the repository's top-level folders beside this one (an
# installed copy holds them inside it). Searching the checkout's root too lets a checkout run
# without installing (PYTHONPATH=CHECKOUT) and keeps it, as the current directory, from
# shadowing an installed copy with a package that has no sub-packages.
_CHECKOUT = Path(__file__).resolve().parent.parent
if not (Path(__file__).parent / "metric").is_dir() and (_CHECKOUT / "metric/scoring.py").is_file():
    __path__.append(str(_CHECKOUT))

from .eval_cli import __version__, require_run_extra  # noqa: E402 (found through the path above)
from .metric.errors import ToolkitError  # noqa: E402

# public name -> module that defines it
_API = {
    "Labels": "imagenet_multilabel.dataset_script.labels.loading",
    "LabelSource": "imagenet_multilabel.dataset_script.labels.loading",
    "load_labels": "imagenet_multilabel.eval_cli.frame",
    "merge_patches": "imagenet_multilabel.eval_cli.curation.merge",
    "score_predictions": "imagenet_multilabel.eval_cli.scores.score",
    "analyze_predictions": "imagenet_multilabel.eval_cli.analysis.analyze",
    "write_leaderboard": "imagenet_multilabel.eval_cli.leaderboard.board",
    "compare_models": "imagenet_multilabel.eval_cli.curation.compare",
    "RunOptions": "imagenet_multilabel.eval_cli.engine.run_options",
    "evaluate_model": "imagenet_multilabel.eval_cli.engine.sweep",
    "evaluate_models": "imagenet_multilabel.eval_cli.engine.sweep",
    "ModelSpec": "imagenet_multilabel.eval_cli.engine.sweep",
    "ImageCategorizer": "imagenet_multilabel.eval_cli.models.categorizer",
    "build_dataset": "imagenet_multilabel.eval_cli.dataset_folder",
    "push_dataset": "imagenet_multilabel.eval_cli.dataset_folder",
}
# The modules that import torch and the rest of the [run] extra.
_NEEDS_RUN_EXTRA = {
    "imagenet_multilabel.eval_cli.engine.sweep",
    "imagenet_multilabel.eval_cli.models.categorizer",
}
__all__ = ["ToolkitError", "__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        if _API[name] in _NEEDS_RUN_EXTRA:
            require_run_extra(f"imagenet_multilabel.{name}")
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

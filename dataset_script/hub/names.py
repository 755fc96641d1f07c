"""What names the published labels dataset on the Hub: its pretty name, its configs and the
benchmark tasks that model repos cite. The builder writes them into the dataset; the model-card
files of every run name them, so they live here, apart from the builder and its ``datasets``
and ``pyarrow`` imports (half a second that `run` need not pay).
"""

from __future__ import annotations

PRETTY_NAME = "ImageNet Multi-Label (v3.0.0) and ImageNet-M"
LABELS_CONFIG = "labels"
IMAGES_CONFIG = "images"
# Benchmark tasks (eval.yaml ``tasks``); model repos cite these ids in ``.eval_results/*.yaml``.
EVAL_TASKS: tuple[dict[str, str], ...] = (
    {
        "id": "multilabel_accuracy",
        "split": "validation",
        "metric_key": "multilabel_accuracy",
        "scale": "accuracy per original class averaged over the classes, in percent (0-100)",
    },
    {
        "id": "imagenet_m",
        "split": "imagenet_m",
        "metric_key": "imagenet_m_correct",
        "scale": "number of the 68 ImageNet-M images classified correctly (0-68)",
    },
)

"""The results document: metrics per split plus the provenance that makes them reproducible.

Both `score` and `run` write one JSON document (``results.json``) of this shape::

    {"metrics": {"validation": {...}, "imagenet_m": {...}},   # metric.scoring keys per split
     "complete": true,            # every split fully predicted and every class covered
     "labels": {...},             # source, sha256, version, verified
     "predictions": {...},        # file, sha256, counts
     "model": {...}, "run": {...},  # `run` only
     "environment": {...}}        # package versions, python, platform, time, command line

and prints a readable summary table.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

TOOLKIT = "imagenet-multilabel"
_PACKAGES = (
    TOOLKIT,
    "numpy",
    "datasets",
    "evaluate",
    "huggingface_hub",
    "pyarrow",
    "pillow",
    "torch",
    "torchvision",
    "transformers",
    "timm",
    "accelerate",
)
SUMMARY_ROWS = (
    ("multilabel_accuracy", "Multi-label accuracy (official)", "pct"),
    ("multilabel_accuracy_micro", "Multi-label accuracy, per image", "pct"),
    ("multilabel_accuracy_strict", "Multi-label accuracy, unclear = wrong", "pct"),
    ("top1_accuracy_original", "Top-1 accuracy, original labels", "pct"),
    ("multilabel_accuracy_top5", "Multi-label top-5 accuracy", "pct"),
    ("top5_accuracy_original", "Top-5 accuracy, original labels", "pct"),
    ("imagenet_m_correct", "ImageNet-M correct", "count"),
    ("num_scored", "Images scored", "count"),
    ("num_problematic_skipped", "Problematic images skipped", "count"),
    ("num_mistakes", "Mistakes (judged wrong)", "count"),
    ("num_unreviewed", "Unreviewed predictions", "count"),
    ("num_missing_predictions", "Images without a prediction", "count"),
)


def environment() -> dict[str, Any]:
    """Versions, interpreter, platform, time and command line of this process."""
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "packages": versions,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": [_program(), *sys.argv[1:]],
    }


def _program() -> str:
    """The console command's name for ``python -m imagenet_multilabel`` (and launchers' ``-m``),
    else the program's file name."""
    name = Path(sys.argv[0]).name
    return TOOLKIT if name == "__main__.py" else name


def is_complete(metrics: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether every split was fully predicted and every per-class mean covers all classes."""
    return all(
        not split.get("partial", False) and split.get("num_missing_predictions", 0) == 0
        for split in metrics.values()
    )


def write_json(path: str | os.PathLike, document: Mapping[str, Any]) -> None:
    """Write atomically: a reader never sees half a file, a failure leaves the old one intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    os.chmod(handle.name, 0o666 & ~_umask())  # a temporary file is private; results are not
    os.replace(handle.name, path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def summary_table(metrics: Mapping[str, Mapping[str, Any]]) -> str:
    """A fixed-width table, one column per split, for the end of a run."""
    splits = list(metrics)
    header = ["Metric", *splits]
    rows = []
    for key, label, style in SUMMARY_ROWS:
        if not any(key in metrics[split] for split in splits):
            continue
        cells = [label]
        for split in splits:
            value = metrics[split].get(key)
            if value is None:
                cells.append("-")
            elif style == "pct":
                cells.append(f"{100 * value:.2f}%")
            elif key == "imagenet_m_correct":
                cells.append(f"{value} / {metrics[split]['imagenet_m_total']}")
            else:
                cells.append(f"{value:,}")
        rows.append(cells)
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(_aligned(row, widths)) for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for split in splits:
        split_metrics = metrics[split]
        if split_metrics.get("partial"):
            lines.append(
                f"PARTIAL ({split}): the per-class means cover "
                f"{split_metrics['num_classes_covered']} of 1000 classes; not the official score."
            )
        if split_metrics.get("num_missing_predictions"):
            lines.append(
                f"INCOMPLETE ({split}): {split_metrics['num_missing_predictions']:,} images of the "
                "split have no prediction and were not scored."
            )
    return "\n".join(lines)


def _aligned(row: list[str], widths: list[int]) -> list[str]:
    """Label column left-aligned, numbers right-aligned."""
    return [row[0].ljust(widths[0])] + [
        cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)
    ]

"""The results document: metrics per split plus the provenance that makes them reproducible,
written once and read back checked.

Both `score` and `run` write one JSON document (``results.json``) of this shape (`document`)::

    {"metrics": {"validation": {...}, "imagenet_m": {...}},   # metric.scoring keys per split
     "complete": true,            # every split fully predicted and every class covered
     "labels": {...},             # source, sha256, version, verified
     "predictions": {...},        # file, sha256, counts
     "mistakes": {...},           # eval_cli.analysis: the rejected predictions by source
     "model": {...}, "run": {...},  # `run` only
     "environment": {...}}        # package versions, python, platform, time, command line

Analyze, compare and the leaderboard read such files back through `read_document`, and every number
they take from one through `checked_metric`. How a document's numbers are judged and shown is
`results`'.
"""

from __future__ import annotations

import math
import os
import platform
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from ...dataset_script.json_input import read_json
from ...metric.errors import ToolkitError, brief_repr
from ...metric.label_sets import METRIC_BY_KEY, METRICS, PCT
from ...metric.references import NUM_CLASSES, NUM_VALIDATION_IMAGES

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


def document(
    metrics: dict[str, dict[str, Any]],
    *,
    labels: Mapping[str, Any],
    predictions: Mapping[str, Any],
    mistakes: Mapping[str, Any] | None = None,
    model: Mapping[str, Any] | None = None,
    run: Mapping[str, Any] | None = None,
    label_files: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The one results document shape, for `score` and `run` alike. ``label_files``: where the
    label files were read (`LabelSource.files`), so a later command finds them from anywhere."""
    assembled: dict[str, Any] = {
        "metrics": metrics,
        "complete": is_complete(metrics),
        "labels": dict(labels),
        "predictions": dict(predictions),
    }
    if mistakes is not None:
        assembled["mistakes"] = dict(mistakes)
    if model is not None:
        assembled["model"] = dict(model)
    if run is not None:
        assembled["run"] = dict(run)
    if label_files is not None:
        assembled["label_files"] = dict(label_files)
    assembled["environment"] = environment()
    return assembled


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


# The most a count metric can be (a metric's ``most`` bounds its total too); any other count is of
# validation images (at most 50,000), and ``limit`` (the --limit given) has no maximum.
_COUNT_MAXIMA: dict[str, int | None] = {
    **{key: m.most for m in METRICS if m.most is not None for key in (m.key, m.total) if key},
    "num_classes_covered": NUM_CLASSES,
    "limit": None,
}


class MetricValueError(ToolkitError):
    """A metric read from a results file that is not a number in its range."""


def checked_metric(value: Any, key: str, source: str, *, most: int | None = None) -> float | int:
    """``value`` of metric ``key`` as read from results file ``source``, the one validator of
    numbers read back: accuracies (metrics of style ``pct``) are finite numbers in 0..1,
    every other metric a count (an integer) in 0..its maximum (``most`` if given, e.g. the
    split's ``imagenet_m_total`` for ``imagenet_m_correct``). ``true`` is not a number, and a
    NaN, a string or -3.0 is refused with a `MetricValueError` naming the file and key."""
    where = f"results file {source!r}: metric {key!r} is {brief_repr(value)}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MetricValueError(f"{where}; expected a number")
    if key in METRIC_BY_KEY and METRIC_BY_KEY[key].style == PCT:
        if not (math.isfinite(value) and 0 <= value <= 1):
            raise MetricValueError(f"{where}; expected an accuracy, a fraction in 0..1")
        return value
    maximum = most if most is not None else _COUNT_MAXIMA.get(key, NUM_VALIDATION_IMAGES)
    if not isinstance(value, int) or value < 0 or (maximum is not None and value > maximum):
        expected = f"0..{maximum:,}" if maximum is not None else "0 or more"
        raise MetricValueError(f"{where}; expected a count, an integer in {expected}")
    return value


def read_document(path: str | os.PathLike, error: type[ToolkitError] = ToolkitError) -> dict:
    """A results file (`score --output`, `run`'s results.json) as its JSON object. A file that
    cannot be read, parsed (huge integers, deep nesting included) or is no object is ``error``
    naming it: the one reader of results files for analyze, compare and the leaderboard."""
    expected = "a results document, a JSON object (as `score --output` and `run` write it)"
    return read_json(path, f"results file {str(path)!r}", expected, top=dict, error=error)

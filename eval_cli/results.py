"""The results document: metrics per split plus the provenance that makes them reproducible.

Both `score` and `run` write one JSON document (``results.json``) of this shape::

    {"metrics": {"validation": {...}, "imagenet_m": {...}},   # metric.scoring keys per split
     "complete": true,            # every split fully predicted and every class covered
     "labels": {...},             # source, sha256, version, verified
     "predictions": {...},        # file, sha256, counts
     "mistakes": {...},           # eval_cli.analysis: the rejected predictions by source
     "model": {...}, "run": {...},  # `run` only
     "environment": {...}}        # package versions, python, platform, time, command line

This module is the one owner of that document (`document`), of its metric rows, labels and cell
formats (`SUMMARY_ROWS`, `format_cell`, `metric_rows`: the summary table, the model card and the
leaderboard use them) and of the rule for what may be called official or published
(`publication_problems`).
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from imagenet_multilabel.metric.scoring import NUM_CLASSES

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
# (key, label, style) of each metric row, in the order the summary table and the model card show
# them. "Per class" rows average per original class, then over the classes, on the annotated,
# non-problematic images; "per image" rows are plain means over the same images.
SUMMARY_ROWS = (
    # split `full` (all 50,000 validation images, plain means per image)
    ("top1_accuracy", "Top-1 vs original label, all images", "pct"),
    ("top5_accuracy", "Top-5 vs original label, all images", "pct"),
    ("real_accuracy", "ReaL accuracy (top-1 in the ReaL set)", "pct"),
    ("real_accuracy_top5", "ReaL top-5 accuracy", "pct"),
    ("num_real_scored", "Images with a ReaL label (scored)", "count"),
    ("num_real_left_out", "Images without a ReaL label (left out)", "count"),
    ("multilabel_accuracy", "Multi-label accuracy, per class", "pct"),
    ("multilabel_accuracy_micro", "Multi-label accuracy, per image", "pct"),
    ("multilabel_accuracy_strict", "Multi-label accuracy, unclear = wrong, per class", "pct"),
    ("top1_accuracy_original", "Top-1 vs original label, same images, per class", "pct"),
    ("multilabel_accuracy_top5", "Multi-label top-5 accuracy, per class", "pct"),
    ("top5_accuracy_original", "Top-5 vs original label, same images, per class", "pct"),
    ("imagenet_m_correct", "ImageNet-M correct", "count"),
    ("num_scored", "Images scored", "count"),
    ("num_problematic_skipped", "Problematic images skipped", "count"),
    ("num_rejected", "Rejected predictions (wrong + unreviewed)", "rejected"),
    ("num_mistakes", "  judged wrong by the experts", "count"),
    ("num_unreviewed", "  never reviewed (novel)", "count"),
    ("num_missing_predictions", "Images without a prediction", "count"),
)
_LABELS = {key: label for key, label, _ in SUMMARY_ROWS}
_STYLES = {key: style for key, _, style in SUMMARY_ROWS}
OFFICIAL_KEY = "multilabel_accuracy"
_SHOWN_UNREVIEWED = 3


def document(
    metrics: dict[str, dict[str, Any]],
    *,
    labels: Mapping[str, Any],
    predictions: Mapping[str, Any],
    mistakes: Mapping[str, Any] | None = None,
    model: Mapping[str, Any] | None = None,
    run: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The one results document shape, for `score` and `run` alike."""
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
    assembled["environment"] = environment()
    return assembled


def publication_problems(document: Mapping[str, Any]) -> list[str]:
    """Why these numbers are not the published benchmark's (empty when they are).

    The one rule for what may be called official or published: the published labels (verified
    sha256), every split fully predicted, every per-class mean over all 1,000 classes.
    """
    problems = []
    labels = document.get("labels", {})
    if labels.get("patched"):
        problems.append(
            f"PATCHED labels: version {labels.get('version')}, {len(labels.get('patches', []))} "
            "label patch(es) applied, so these are not the official labels"
        )
    elif labels.get("verified") is not True:
        problems.append(
            f"UNVERIFIED labels: annotation file sha256 {labels.get('sha256')} is not the "
            "published one, so these are not the benchmark's numbers"
        )
    real = labels.get("real")
    if real is not None and real.get("verified") is not True:
        problems.append(
            f"UNVERIFIED ReaL labels: {real.get('source')} has sha256 {real.get('sha256')}, not "
            "the published real.json, so the ReaL numbers are not the benchmark's"
        )
    split_problems = []
    for split, split_metrics in document.get("metrics", {}).items():
        if split_metrics.get("limit") is not None:
            split_problems.append(
                f"PARTIAL ({split}): only the first {split_metrics['limit']:,} images of the "
                "split were scored (--limit)"
            )
        elif split_metrics.get("partial"):
            split_problems.append(
                f"PARTIAL ({split}): the per-class means cover "
                f"{split_metrics.get('num_classes_covered')} of {NUM_CLASSES} classes"
            )
        if split_metrics.get("num_missing_predictions"):
            split_problems.append(
                f"INCOMPLETE ({split}): {split_metrics['num_missing_predictions']:,} images of "
                "the split have no prediction and were not scored"
            )
    problems.extend(split_problems)
    if document.get("complete") is not True and not split_problems:
        problems.append("INCOMPLETE: the results document is not marked complete")
    return problems


def metric_label(key: str, *, official: bool) -> str:
    """A metric row's label; only the official score of a publishable result says so."""
    return "Multi-label accuracy (official)" if official and key == OFFICIAL_KEY else _LABELS[key]


def format_cell(split_metrics: Mapping[str, Any], key: str) -> str:
    """One metric as the summary table and the model card show it."""
    value = split_metrics.get(key)
    if value is None:
        return "-"
    style = _STYLES[key]
    if style == "pct":
        return f"{100 * value:.2f}%"
    if key == "imagenet_m_correct":
        return f"{value} / {split_metrics['imagenet_m_total']}"
    if style == "rejected":
        return (
            f"{value:,} ({split_metrics['num_mistakes']:,} + {split_metrics['num_unreviewed']:,})"
        )
    return f"{value:,}"


def metric_rows(document: Mapping[str, Any]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The splits and (label, cells) of every metric row any split has."""
    metrics = document["metrics"]
    splits = list(metrics)
    official = not publication_problems(document)
    rows = [
        (metric_label(key, official=official), [format_cell(metrics[s], key) for s in splits])
        for key, _, _ in SUMMARY_ROWS
        if any(key in metrics[split] for split in splits)
    ]
    return splits, rows


def report(document: Mapping[str, Any]) -> str:
    """What `score` and `run` print: the summary table, then every caveat in words."""
    splits, rows = metric_rows(document)
    lines = _table(["Metric", *splits], [[label, *values] for label, values in rows])
    lines.append(
        "validation, imagenet_m: every row uses the split's annotated, non-problematic images;"
        "\nper class = accuracy per original class, then the mean over the classes covered."
    )
    if "full" in document["metrics"]:
        lines.append(
            "full: all validation images that have a prediction, plain means per image; ReaL\n"
            "accuracy leaves out the images without a ReaL label."
        )
    if "mistakes" in document:
        lines.extend(mistakes_report(document["mistakes"]))
    for split in splits:
        unreviewed = document["metrics"][split].get("unreviewed") or []
        if unreviewed:
            lines.append(
                f"Unreviewed predictions ({split}): {len(unreviewed):,}; the first "
                f"{min(len(unreviewed), _SHOWN_UNREVIEWED)}:"
            )
            lines.extend(
                f"  {entry['file_name']}  {entry['prediction']:>3} "
                f"{entry.get('prediction_name', '').split(',')[0]}"
                for entry in unreviewed[:_SHOWN_UNREVIEWED]
            )
    for problem in publication_problems(document):
        lines.append(f"{problem}.")
    outside = document.get("predictions", {}).get("num_outside_chosen_splits")
    if outside:
        lines.append(f"Ignored {outside:,} predictions for images outside the chosen split(s).")
    return "\n".join(lines)


def mistakes_report(mistakes: Mapping[str, Any]) -> list[str]:
    """The ``mistakes`` block in words: counts by source, the paper's category x severity table."""
    by_source = mistakes["by_source"]
    lines = [
        f"Rejected top-1 predictions ({mistakes['split']}) by source:\n  "
        + ", ".join(f"{count:,} {source}" for source, count in by_source.items())
    ]
    table = mistakes["expert_category_severity"]
    if not by_source.get("expert"):
        return [
            *lines,
            "None of them is a mistake the paper's experts reviewed (ViT-3B, Greedy Soups).",
        ]
    severities = list(next(iter(table.values())))
    totals = [sum(row[severity] for row in table.values()) for severity in severities]
    rows = [
        [category, *map(str, row.values()), str(sum(row.values()))]
        for category, row in table.items()
    ]
    rows.append(["total", *map(str, totals), str(sum(totals))])
    lines.extend(_table(["Expert category", *severities, "total"], rows))
    collapsed = mistakes["expert_severity_collapsed"]
    lines.append(
        f"Collapsed as in the paper (borderline = minor): {collapsed['minor']:,} minor, "
        f"{collapsed['major']:,} major.\nconfusion-pair: a class pair ViT-3B confused (a "
        "heuristic, not an expert verdict)."
    )
    imagenet_m = mistakes.get("imagenet_m")
    if imagenet_m and (imagenet_m["solved"] or imagenet_m["missed"]):
        lines.append(
            f"ImageNet-M images among them: {len(imagenet_m['solved'])} solved, "
            f"{len(imagenet_m['missed'])} missed."
        )
    return lines


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


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Fixed-width lines: the header, a rule, then the rows."""
    widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(_aligned(cells, widths)) for cells in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _aligned(row: list[str], widths: list[int]) -> list[str]:
    """Label column left-aligned, numbers right-aligned."""
    return [row[0].ljust(widths[0])] + [
        cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)
    ]

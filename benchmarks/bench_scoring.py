"""Time the vectorised scorer against a plain per-image loop of the official definition.

Run: ``python benchmarks/bench_scoring.py [--repeats 7] [--seed 0]``. Both sides see the same
20,000 synthetic images (1,000 classes x 20, ~10% problematic) and must agree; the last line
printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from metric.scoring import NUM_CLASSES, References, score

IMAGES_PER_CLASS = 20
TOP_K = 5


def synthetic_split(seed: int) -> tuple[dict[str, list[Any]], list[list[int]]]:
    """Labels columns as Python lists (as a Hub dataset hands them over) and top-5 predictions.

    Like the real data, most top-1 mistakes were reviewed (they sit in ``wrong``); about 10%
    of them are left unreviewed.
    """
    rng = np.random.default_rng(seed)
    num_images = NUM_CLASSES * IMAGES_PER_CLASS
    original = np.repeat(np.arange(NUM_CLASSES), IMAGES_PER_CLASS)
    rng.shuffle(original)
    predictions = rng.integers(0, NUM_CLASSES, (num_images, TOP_K))
    hit = rng.random(num_images) < 0.7
    predictions[hit, 0] = original[hit]
    reviewed_miss = ~hit & (rng.random(num_images) < 0.9)

    def label_sets(max_extra: int, must_hold: np.ndarray) -> list[list[int]]:
        sets = []
        for extra, label in zip(
            rng.integers(0, max_extra + 1, num_images).tolist(), must_hold.tolist(), strict=True
        ):
            labels = set(rng.integers(0, NUM_CLASSES, extra).tolist())
            if label >= 0:
                labels.add(label)
            sets.append(sorted(labels))
        return sets

    keep_original = rng.random(num_images) < 0.9
    columns: dict[str, list[Any]] = {
        "file_name": [f"ILSVRC2012_val_{i + 1:08d}.JPEG" for i in range(num_images)],
        "image_id": list(range(1, num_images + 1)),
        "original_label": original.tolist(),
        "correct_multi_labels": label_sets(2, np.where(keep_original, original, -1)),
        "wrong_multi_labels": label_sets(3, np.where(reviewed_miss, predictions[:, 0], -1)),
        "unclear_multi_labels": label_sets(1, np.full(num_images, -1)),
        "is_problematic": (rng.random(num_images) < 0.1).tolist(),
    }
    return columns, predictions.tolist()


def official_loop(predictions: list[list[int]], rows: list[dict[str, Any]]) -> float:
    """The official definition as the TFDS README writes it: one dict per image, a for-loop."""
    num_correct_per_class: dict[int, int] = {}
    num_images_per_class: dict[int, int] = {}
    for example, prediction in zip(rows, predictions, strict=True):
        if example["is_problematic"]:
            continue
        cur_class = example["original_label"]
        if cur_class not in num_correct_per_class:
            num_correct_per_class[cur_class] = 0
            num_images_per_class[cur_class] = 0
        num_images_per_class[cur_class] += 1
        cur_pred = prediction[0]
        if (
            cur_pred in example["correct_multi_labels"]
            or cur_pred in example["unclear_multi_labels"]
        ):
            num_correct_per_class[cur_class] += 1
    accuracies = [num_correct_per_class[c] / num_images_per_class[c] for c in num_images_per_class]
    return math.fsum(accuracies) / len(accuracies)


def best_of(repeats: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """Fastest wall time of ``repeats`` runs and the last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    columns, predictions = synthetic_split(args.seed)
    rows = [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]
    prediction_array = np.asarray(predictions)
    references = References.from_columns(columns)

    loop_s, loop_accuracy = best_of(args.repeats, lambda: official_loop(predictions, rows))
    build_and_score_s, results = best_of(
        args.repeats, lambda: score(predictions, References.from_columns(columns))
    )
    score_only_s, _ = best_of(args.repeats, lambda: score(prediction_array, references))
    if results["multilabel_accuracy"] != loop_accuracy:
        raise SystemExit(
            f"disagreement: score {results['multilabel_accuracy']!r} vs loop {loop_accuracy!r}"
        )
    summary = {
        "images": len(rows),
        "multilabel_accuracy": loop_accuracy,
        "loop_ms": loop_s * 1e3,
        "from_columns_and_score_ms": build_and_score_s * 1e3,
        "score_prebuilt_ms": score_only_s * 1e3,
        "ratio_with_from_columns": loop_s / build_and_score_s,
        "ratio_score_only": loop_s / score_only_s,
    }
    print(f"images: {summary['images']}, multilabel_accuracy: {loop_accuracy:.6f} (both agree)")
    print(f"plain per-image loop:           {summary['loop_ms']:8.2f} ms")
    print(
        f"References.from_columns + score: {summary['from_columns_and_score_ms']:8.2f} ms "
        f"({summary['ratio_with_from_columns']:.1f}x)"
    )
    print(
        f"score on prebuilt References:   {summary['score_prebuilt_ms']:8.2f} ms "
        f"({summary['ratio_score_only']:.1f}x)"
    )
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()

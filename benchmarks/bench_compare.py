"""Speed of `compare`: 10 models' predictions on all 50,000 validation images (goal: < 3 s).

Labels: a synthetic annotation file of the published size in images (20 per class), loaded once
(as `compare` gets them from the cache). Each model: JSONL as `run` writes it (top-5 with
probabilities), right on a share of the images that grows with the model, else a random class
(mostly outside the label set, so the queue is long). Timed: ``compare_models`` from reading the
10 files to writing every output, plot included; medians of ``--repeats`` rounds, wall and CPU
(``benchmarks/timing.py``). ``--profile``: one more round under cProfile, its top functions by
cumulative time, to say where the time goes.
Run: ``python benchmarks/bench_compare.py [--repeats 3] [--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from annotation_fixtures import synthetic_annotations, write_annotation_file  # noqa: E402
from imagenet_multilabel.dataset_script import classes  # noqa: E402
from imagenet_multilabel.dataset_script.labels.loading import load_labels  # noqa: E402
from imagenet_multilabel.eval_cli.curation.compare import compare_models  # noqa: E402
from timing import Rounds  # noqa: E402

NUM_MODELS = 10


def _write_model(path: Path, first_correct: dict[str, int], accuracy: float, seed: int) -> None:
    rng = random.Random(seed)
    lines = []
    for name in classes.validation_file_names():
        right = first_correct.get(name)
        top1 = right if right is not None and rng.random() < accuracy else rng.randrange(1000)
        top5 = [top1, *rng.sample([c for c in range(1000) if c != top1][:50], 4)]
        record = {"file_name": name, "prediction": top1, "top5": top5}
        record["top5_probs"] = [0.6, 0.2, 0.1, 0.06, 0.04]
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="also profile one round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        os.environ["HF_HOME"] = str(root / "hf_home")  # the labels' cache: not the user's
        annotations = root / "annotations.json"
        write_annotation_file(annotations, synthetic_annotations(images_per_class=20))
        labels = load_labels(annotations=annotations, allow_unverified=True)
        validation = labels.split("validation")
        first_correct = {
            name: correct[0]
            for name, correct in zip(
                validation.file_names.tolist(), validation.label_lists("correct"), strict=True
            )
            if correct
        }
        inputs = []
        for model in range(NUM_MODELS):
            path = root / f"model_{model}.jsonl"
            _write_model(path, first_correct, 0.80 + 0.015 * model, seed=model)
            inputs.append(path)
        rounds = Rounds()
        for repeat in range(args.repeats):
            with rounds.measure("compare"):
                document = compare_models(inputs, output_dir=root / f"out{repeat}", labels=labels)
        median = rounds.median("compare")
        print(
            f"compare of {NUM_MODELS} models x 50,000 predictions ({len(validation):,} annotated "
            f"images, queue of {document['queue']['num_items']:,} (image, class) pairs): "
            f"median {median.wall_s:.2f} s wall, {median.cpu_s:.2f} s CPU "
            f"over {args.repeats} rounds (goal: < 3 s); rounds: {rounds.wall_seconds()['compare']}"
        )
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(compare_models, inputs, output_dir=root / "profiled", labels=labels)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(18)


if __name__ == "__main__":
    main()

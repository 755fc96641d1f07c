"""Decode once: `run` end to end, with the old full-decode check up front and with the header check
it does now, against the forward pass alone.

One model (timm's mobilenetv3_small_100, random weights, timm's own preprocessing: small, so
decoding is a large share of the run), the same synthetic 500x375 JPEGs, the same batch size, on
this machine's CPU:

(a) `evaluate_model` end to end, before: every image fully decoded by the up-front check, then
    again by the DataLoader;
(b) `evaluate_model` end to end, now: headers checked up front, each image decoded once;
(c) the model's forward pass alone on pre-made tensors;
(d) the up-front check alone, both ways: full decode (before) and headers (now).

Rounds interleave the three; medians are printed, with the throughput ratios (c)/(a) and (c)/(b).
Run: ``python benchmarks/bench_decode_once.py [--images 300]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import torch
from timing import Rounds, Timing, timed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_run import make_images  # noqa: E402 (the same synthetic photos and annotations)


def make_mobilenet(directory: Path) -> Path:
    """timm's mobilenetv3_small_100 in timm's Hub layout, random weights (timm's own init: a
    transformers MobileNetV2 initialised at random computes on denormal floats, 10x slower)."""
    import timm
    from timm.models._hub import save_for_hf

    torch.manual_seed(0)
    save_for_hf(timm.create_model("mobilenetv3_small_100"), directory, safe_serialization=True)
    return directory


def time_run(
    model: Path, tar: Path, annotations: Path, output: Path, args, *, before: bool
) -> Timing:
    """One `evaluate_model` call; ``before``: with the full-decode check up front."""
    from imagenet_multilabel.dataset_script.images.decode import check_images
    from imagenet_multilabel.dataset_script.labels.loading import LabelSource
    from imagenet_multilabel.eval_cli.engine import run, sweep

    now = run.check_images
    if before:
        run.check_images = lambda images, **_: check_images(images, full_decode=True)
    try:
        with timed() as timing:
            sweep.evaluate_model(
                str(model),
                str(tar),
                split="validation",
                labels=LabelSource(annotations, allow_unverified=True),
                batch_size=args.batch_size,
                num_workers=args.num_workers,
                output_dir=output,
            )
    finally:
        run.check_images = now
    return timing


def time_forward(model: Path, count: int, batch_size: int) -> Timing:
    """The forward pass alone, on tensors made before the clock starts."""
    import timm

    module = timm.create_model(f"local-dir:{model}").eval()
    batches = [
        torch.randn(min(batch_size, count - i), 3, 224, 224) for i in range(0, count, batch_size)
    ]
    with torch.inference_mode():
        module(batches[0])  # warm-up outside the clock
        with timed() as timing:
            for batch in batches:
                module(batch).softmax(-1).topk(5)
    return timing


def time_checks(tar: Path, rounds: Rounds) -> None:
    """The up-front check of every image of ``tar``, full decode and header only."""
    from imagenet_multilabel.dataset_script.images.decode import check_images
    from imagenet_multilabel.dataset_script.images.files import TarImageSource

    source = TarImageSource(tar)
    images = source.locate(sorted(source._index))
    for name, full_decode in (("check_before", True), ("check_now", False)):
        with rounds.measure(name):
            check_images(images, full_decode=full_decode)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-workers", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="rounds; medians are reported")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rounds = Rounds()
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        os.environ["HF_HOME"] = str(directory / "hf_home")
        tar, annotations, _ = make_images(directory, args.images)
        model = make_mobilenet(directory / "mobilenetv3_small_100")
        for round_index in range(args.repeats):
            for name in ("before", "now"):
                output = directory / f"{name}-{round_index}"
                timing = time_run(model, tar, annotations, output, args, before=name == "before")
                rounds.add(name, timing)
            rounds.add("forward", time_forward(model, args.images, args.batch_size))
            time_checks(tar, rounds)
    median = {name: rounds.median(name).wall_s for name in rounds.timings}
    summary = {
        "torch_threads": torch.get_num_threads(),
        "images": args.images,
        "batch_size": args.batch_size,
        "num_workers": args.num_workers,
        "seconds": rounds.wall_seconds(),
        "forward_vs_run_before": round(median["forward"] / median["before"], 3),
        "forward_vs_run_now": round(median["forward"] / median["now"], 3),
        "speedup_now_vs_before": round(median["before"] / median["now"], 3),
    }
    print(f"medians of {args.repeats} rounds, {args.images} images, batch {args.batch_size}:")
    for label, name in (("(a) run, before", "before"), ("(b) run, now", "now")):
        seconds = median[name]
        print(
            f"{label:<16} {seconds:6.2f} s ({args.images / seconds:5.1f} img/s), "
            f"throughput {median['forward'] / seconds:.2f}x of the forward pass"
        )
    print(f"(c) forward only {median['forward']:6.2f} s")
    print(
        f"(d) up-front check: full decode {median['check_before']:.2f} s, headers "
        f"{median['check_now']:.2f} s"
    )
    print(f"now vs before: {summary['speedup_now_vs_before']:.2f}x faster")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()

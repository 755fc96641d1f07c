"""A sweep of three small models in one launch against three separate runs on the same images.

Three timm MobileNetV3 models (small 0.50, 0.75, 1.00; random weights, timm's own preprocessing,
the same for all three, so a launch groups them and decodes each image once), the same synthetic
500x375 JPEGs, batch size and workers, each way as a user would type it:

(a) three `imagenet-multilabel run --model M` commands, one after the other;
(b) one `imagenet-multilabel run --model A --model B --model C` command, grouped (one decode);
(c) the same command with grouping off (`MAX_MODELS_SHARING_DECODE = 1`): one model at a time;
(d) one pass of decoding + preprocessing over the images alone (one process, no model): what
    decoding once saves per model left out of the loop, at most.

Rounds interleave (a), (b) and (c); medians are printed with the ratios (a)/(b) and (c)/(b).
Run: ``python benchmarks/bench_sweep.py [--images 300]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import torch
from timing import Rounds, Timing, time_command, timed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_run import make_images  # noqa: E402 (the same synthetic photos and annotations)

ARCHITECTURES = ("mobilenetv3_small_050", "mobilenetv3_small_075", "mobilenetv3_small_100")


def make_models(directory: Path) -> list[Path]:
    """The three models in timm's Hub layout, random weights (timm's own init)."""
    import timm
    from timm.models._hub import save_for_hf

    torch.manual_seed(0)
    for architecture in ARCHITECTURES:
        save_for_hf(timm.create_model(architecture), directory / architecture)
    return [directory / architecture for architecture in ARCHITECTURES]


# `imagenet-multilabel run` with the launch's group bound set to 1: each model alone.
UNGROUPED = (
    "import sys; from imagenet_multilabel.eval_cli.engine import run; "
    "run.MAX_MODELS_SHARING_DECODE = 1; "
    "from imagenet_multilabel.eval_cli.commands.cli import main; sys.exit(main())"
)


def run_command(
    models: list[Path], tar: Path, annotations: Path, output: Path, args, grouped: bool = True
) -> Timing:
    """One `imagenet-multilabel run` process over ``models``; ``grouped`` False: one model at a
    time, as before launches shared a decode."""
    launcher = ["-m", "imagenet_multilabel"] if grouped else ["-c", UNGROUPED]
    command = [sys.executable, *launcher, "run"]
    for model in models:
        command += ["--model", str(model)]
    command += [
        "--images",
        str(tar),
        "--annotations",
        str(annotations),
        "--allow-unverified-annotations",
        "--split",
        "validation",
        "--batch-size",
        str(args.batch_size),
        "--num-workers",
        str(args.num_workers),
        "--output-dir",
        str(output),
    ]
    return time_command(command)


def time_decoding(model: Path, tar: Path) -> Timing:
    """One pass of decoding and the model's preprocessing over every image of ``tar``."""
    from imagenet_multilabel.dataset_script.images.decode import decode_image
    from imagenet_multilabel.dataset_script.images.files import TarImageSource
    from imagenet_multilabel.eval_cli.models import load_model

    preprocess = load_model(str(model), device=torch.device("cpu")).preprocess
    source = TarImageSource(tar)
    images = source.locate(sorted(source._index))
    with timed() as timing:
        for index in range(len(images)):
            file_name, data = images[index]
            preprocess(decode_image(data, file_name))
    return timing


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-workers", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="rounds; medians are reported")
    args = parser.parse_args(argv)
    os.environ["HF_HUB_OFFLINE"] = "1"
    rounds = Rounds()
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        os.environ["HF_HOME"] = str(directory / "hf_home")
        tar, annotations, _ = make_images(directory, args.images)
        models = make_models(directory)
        for round_index in range(args.repeats):
            separate = directory / f"separate-{round_index}"
            with rounds.measure("separate"):
                for model in models:
                    run_command([model], tar, annotations, separate / model.name, args)
            sweep = directory / f"sweep-{round_index}"
            rounds.add("sweep", run_command(models, tar, annotations, sweep, args))
            one_by_one = directory / f"one-by-one-{round_index}"
            timing = run_command(models, tar, annotations, one_by_one, args, grouped=False)
            rounds.add("one_by_one", timing)
        for model in models:
            shared = json.loads((sweep / model.name / "results.json").read_text())["run"]
            alone = json.loads((one_by_one / model.name / "results.json").read_text())["run"]
            if len(shared["shared_decode_with"]) != 2 or alone["shared_decode_with"]:
                raise SystemExit(f"{model.name}: grouped {shared}, one by one {alone}")
        decoding = time_decoding(models[0], tar).wall_s
    median = {name: rounds.median(name).wall_s for name in rounds.timings}
    summary = {
        "torch_threads": torch.get_num_threads(),
        "images": args.images,
        "batch_size": args.batch_size,
        "num_workers": args.num_workers,
        "seconds": rounds.wall_seconds(),
        "decode_and_preprocess_one_pass_s": round(decoding, 3),
        "separate_vs_sweep": round(median["separate"] / median["sweep"], 3),
        "one_by_one_vs_grouped": round(median["one_by_one"] / median["sweep"], 3),
    }
    print(f"medians of {args.repeats} rounds, {args.images} images, 3 models:")
    print(f"(a) 3 separate runs  {median['separate']:6.2f} s")
    ratio = summary["separate_vs_sweep"]
    print(f"(b) 1 sweep, grouped {median['sweep']:6.2f} s: (a)/(b) {ratio:.2f}x")
    ratio = summary["one_by_one_vs_grouped"]
    print(f"(c) 1 sweep, 1 by 1  {median['one_by_one']:6.2f} s: (c)/(b) {ratio:.2f}x")
    print(f"(d) decode + preprocess, one pass, one process: {decoding:.2f} s")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()

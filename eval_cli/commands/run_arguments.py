"""`run`'s options (`RunOptions` fields, stored under their names; the model and images
options `evaluate_model(s)` takes), and ``--categorizer-model``, which `run`, `analyze` and
`compare` share. Choices come from `eval_cli.choices`.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..choices import (
    DEFAULT_CATEGORIZER_MODEL,
    MIXED_PRECISIONS,
    MODEL_KINDS,
    PLACES,
    ZERO_SHOT_PROMPTS,
)
from .label_arguments import add_label_arguments


def add_categorizer_argument(parser: argparse.ArgumentParser, images: str, dest: str) -> None:
    """The CLIP-like model that judges the automatic taxonomy's image rules (`run`, `analyze`,
    `compare`); ``images``: where the images it looks at come from, in words; ``dest``: the
    parameter it gives (`RunOptions.categorizer_model`, or the ``categorizer`` of `analyze` and
    `compare`)."""
    parser.add_argument(
        "--categorizer-model",
        dest=dest,
        nargs="?",
        const=DEFAULT_CATEGORIZER_MODEL,
        metavar="MODEL",
        help="also judge the automatic mistake taxonomy's two image rules (out-of-vocabulary "
        "objects, non-prototypical images) with this CLIP or SigLIP model (Hub id or folder; "
        f"without a value: {DEFAULT_CATEGORIZER_MODEL}) on {images}, on the GPU when there is "
        "one; needs the [run] extra. Without it the image-free rules run and the results say "
        "which categories were not available",
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        action="append",
        default=[],
        help="Hub model id or local model folder; repeat it to evaluate several models in one "
        "launch (labels and images prepared once)",
    )
    model.add_argument(
        "--models",
        dest="models_file",
        metavar="FILE",
        help="a file of models to evaluate, one a line: MODEL [revision=REV] [kind=KIND]; "
        "'#' starts a comment",
    )
    model.add_argument("--revision", help="branch, tag or commit of a Hub model (each --model)")
    model.add_argument(
        "--model-kind",
        dest="kind",
        choices=MODEL_KINDS,
        help="override the detected model kind (each --model)",
    )
    output = add_evaluation_arguments(
        parser,
        model,
        default_split="imagenet_m",
        output_help="where results go (default: eval_results/<model name>); with several models "
        "the parent of one folder per model (default: eval_results)",
    )
    output.add_argument(
        "--push-to-hub",
        action="store_true",
        help="open a pull request with the results on the model's Hub card",
    )
    output.add_argument("--hub-repo-id", help="model repository for --push-to-hub")
    output.add_argument(
        "--dry-run", action="store_true", help="with --push-to-hub: print what would be sent"
    )
    add_categorizer_argument(output, "the run's images and device", "categorizer_model")


def add_evaluation_arguments(
    parser: argparse.ArgumentParser,
    model: Any,
    *,
    default_split: str,
    output_help: str,
) -> Any:
    """How models are evaluated (`RunOptions` fields but the push), shared by `run` and
    `sweep run`; returns the output group for more options."""
    model.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow models whose code lives in their Hub repository",
    )
    model.add_argument(
        "--zero-shot-prompts",
        choices=ZERO_SHOT_PROMPTS,
        default=ZERO_SHOT_PROMPTS[0],
        help="CLIP/SigLIP prompts: 'ensemble' (default: OpenAI's curated class names and 80 "
        "templates, as the literature reports zero-shot accuracy) or 'single' ('a photo of a "
        "{}.' over the first WordNet lemma)",
    )
    data = parser.add_argument_group("images and labels")
    data.add_argument(
        "--images",
        required=True,
        metavar="SOURCE",
        help="ILSVRC2012_img_val.tar, a folder of validation JPEGs, or a Hugging Face dataset "
        "(Hub id or local folder)",
    )
    data.add_argument(
        "--images-split",
        default="validation",
        help="split of a Hugging Face image dataset (default: validation)",
    )
    data.add_argument(
        "--skip-image-check",
        action="store_true",
        help="skip the up-front check of every image's header (format, size, pixel mode) before "
        "the model runs; either way each image is fully decoded once, during the run, and any "
        "that fail are listed after the others are predicted",
    )
    add_label_arguments(parser, default_split=default_split, full_split=True)
    compute = parser.add_argument_group("compute")
    compute.add_argument(
        "--batch-size",
        type=_batch_size,
        default=64,
        help="images per process and step, or 'auto' to back off from a large size on "
        "out-of-memory (default: 64)",
    )
    compute.add_argument(
        "--num-workers",
        type=int,
        default=min(8, os.cpu_count() or 1),
        help="DataLoader workers per process (decode + preprocessing)",
    )
    compute.add_argument(
        "--mixed-precision",
        choices=MIXED_PRECISIONS,
        default=MIXED_PRECISIONS[0],
        help="autocast through accelerate (default: no)",
    )
    compute.add_argument(
        "--preprocess-on",
        choices=PLACES,
        help="where images are resized and cropped: cpu (workers run the model's own ops and "
        "send uint8, normalised on the device) or device (workers only decode; Pillow-exact "
        "resizing on the device, proven identical on CPU but not yet timed on a GPU, hence not "
        "the default). Default: cpu, or device with --decode-on device",
    )
    compute.add_argument(
        "--decode-on",
        choices=PLACES,
        default=PLACES[0],
        help="where JPEGs are decoded: cpu (PIL, exact; default) or device (batched; nvJPEG on "
        "a GPU is approximate: for screening, never official, not pushed). Implies "
        "--preprocess-on device",
    )
    compute.add_argument(
        "--decoded-cache",
        metavar="DIR",
        help="decode the images once into DIR (memory-mapped uint8, ~28 GB for all 50,000; "
        "said before building, refused when the disk lacks the room) and read them from there "
        "for every model and every later run on this machine; the same predictions",
    )
    compute.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    compute.add_argument("--compile", action="store_true", help="torch.compile the model")
    compute.add_argument("--cpu", action="store_true", help="run on the CPU even if a GPU is there")
    output = parser.add_argument_group("output")
    output.add_argument("--output-dir", help=output_help)
    return output


def _batch_size(value: str) -> int | str:
    if value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {value!r}")
    return int(value)

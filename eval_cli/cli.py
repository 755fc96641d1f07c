"""Command line: `python -m eval_cli {score,run} ...` (also `accelerate launch -m eval_cli run`).

Arguments are defined here for both commands; `eval_cli.score` and `eval_cli.run` hold the logic.
`score` never imports torch, so that scoring a predictions file stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys

from dataset_script.annotations import SPLITS

SPLIT_CHOICES = (*SPLITS, "all")


def _add_label_arguments(parser: argparse.ArgumentParser, *, default_split: str) -> None:
    """The label options shared by `score` and `run`."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--annotations",
        metavar="PATH",
        help="local copy of human_accuracy_v3.0.0.json (default: download the published file "
        "into the Hugging Face cache)",
    )
    source.add_argument(
        "--labels",
        metavar="HUB_ID_OR_DIR",
        help="a labels dataset built by `python -m dataset_script build` or published on the Hub",
    )
    parser.add_argument(
        "--allow-unverified-annotations",
        action="store_true",
        help="accept an --annotations file whose sha256 is not the published one; results are "
        "then marked unverified",
    )
    parser.add_argument(
        "--split",
        choices=SPLIT_CHOICES,
        default=default_split,
        help=f"which split to score (default: {default_split})",
    )


def add_score_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--predictions",
        required=True,
        metavar="FILE",
        help="CSV or JSONL with file_name and prediction (and optionally top5)",
    )
    _add_label_arguments(parser, default_split="validation")
    parser.add_argument("--output", metavar="FILE", help="write the results JSON here")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group("model")
    model.add_argument("--model", required=True, help="Hub model id or local model folder")
    model.add_argument("--revision", help="branch, tag or commit of a Hub model")
    model.add_argument(
        "--model-kind",
        choices=("transformers", "timm", "zero-shot"),
        help="override the detected model kind",
    )
    model.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow models whose code lives in their Hub repository",
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
        help="do not decode every image before the model runs (a corrupt one then stops the run)",
    )
    _add_label_arguments(parser, default_split="imagenet_m")
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
        choices=("no", "fp16", "bf16"),
        default="no",
        help="autocast through accelerate (default: no)",
    )
    compute.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    compute.add_argument("--compile", action="store_true", help="torch.compile the model")
    compute.add_argument("--cpu", action="store_true", help="run on the CPU even if a GPU is there")
    output = parser.add_argument_group("output")
    output.add_argument(
        "--output-dir", help="where results go (default: eval_results/<model name>)"
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


def _batch_size(value: str) -> int | str:
    if value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {value!r}")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eval_cli",
        description="Score ImageNet classifiers with the corrected multi-label labels (v3.0.0) "
        "and ImageNet-M.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add_score_arguments(
        commands.add_parser("score", help="score a predictions file (CSV or JSONL)")
    )
    add_run_arguments(commands.add_parser("run", help="evaluate a model on the validation images"))
    return parser


def _check_combinations(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Options that would otherwise be silently ignored."""
    if args.allow_unverified_annotations and args.labels:
        parser.error("--allow-unverified-annotations applies to --annotations, not --labels")
    if args.command == "run" and not args.push_to_hub:
        for option, value in (("--dry-run", args.dry_run), ("--hub-repo-id", args.hub_repo_id)):
            if value:
                parser.error(f"{option} only applies with --push-to-hub")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_combinations(parser, args)
    try:
        if args.command == "score":
            from eval_cli.score import main as score_main

            score_main(args)
        else:
            from eval_cli.run import run

            run(args)
    except ValueError as error:  # every input error of this toolkit is a ValueError subclass
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0

"""The command line's arguments: one ``add_*_arguments`` per subcommand and ``build_parser``.

Definitions only: `eval_cli.commands.cli` parses and hands the values to the API. Each option
stores its value under the name of the API parameter (or option-object field) it gives: the one
declaration of both names, so that errors name what the caller typed (`option_names`). Mostly
the option is the name with dashes (``--batch-size`` gives ``batch_size``); the others say so
with ``dest`` (``--labels`` gives `LabelSource`'s ``dataset``, ``--label-patch`` its
``patches``, ``--model-kind`` gives ``kind``). Choices come from `eval_cli.choices`, the
constants the code checks against.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from typing import NoReturn, TypeVar

from ...metric.errors import ITEM_CHARS, shorten
from .. import __version__
from ..scores.predictions import FORMATS
from .label_arguments import (
    LabelSetOption,
    add_label_arguments,
    add_label_source_arguments,
    positive_int,
)
from .run_arguments import add_categorizer_argument, add_run_arguments

PROG = "imagenet-multilabel"
Options = TypeVar("Options")
# API parameters that an option gives under another parameter's name: `run --model` is
# `evaluate_model(model=...)` once, `evaluate_models(models=[...])` for several;
# `--categorizer-model` is `RunOptions.categorizer_model`, and `analyze`'s and `compare`'s
# `categorizer` (messages about the model it names say `categorizer_model`).
SAME_OPTION = {"models": "model", "categorizer_model": "categorizer"}
# API functions that messages name, as the command line calls them.
API_FUNCTIONS = {"merge_patches": f"{PROG} patches merge"}
# A value argparse quotes ('...') or a word it echoes, longer than an error should show.
_LONG_QUOTED = re.compile(rf"'([^']{{{ITEM_CHARS + 1},}})'")
_LONG_WORD = re.compile(rf"[^\s']{{{ITEM_CHARS + 1},}}")


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose usage errors show each value at most ``ITEM_CHARS`` long:
    argparse echoes an invalid ``--split`` or ``--limit`` whole, 20 kB on the screen."""

    def error(self, message: str) -> NoReturn:
        message = _LONG_QUOTED.sub(lambda match: f"'{shorten(match.group(1))}'", message)
        super().error(_LONG_WORD.sub(lambda match: shorten(match.group()), message))


def add_score_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--predictions",
        required=True,
        metavar="FILE",
        help="CSV or JSONL with file_name and prediction (and optionally top5); the formats are "
        "below",
    )
    add_label_arguments(parser, default_split="validation", full_split=True)
    parser.add_argument("--output", metavar="FILE", help="write the results JSON here")


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", required=True, help="new or empty directory to write")
    add_label_source_arguments(parser, labels_dataset=False)
    parser.add_argument(
        "--images",
        metavar="SOURCE",
        help="also build the 'images' config from ILSVRC2012_img_val.tar, a folder of images, "
        "or a Hugging Face dataset (ORG/NAME, hf://ORG/NAME or a local dataset folder)",
    )
    parser.add_argument(
        "--images-split",
        metavar="SPLIT",
        help="split of a Hugging Face image dataset (default: validation)",
    )
    parser.add_argument(
        "--full-image-check",
        action="store_true",
        help="with --images: fully decode every image as it is written, not only its header",
    )
    parser.add_argument(
        "--repo-id",
        metavar="ORG/NAME",
        help="Hub id the folder will be pushed to; only used in the card's code examples",
    )


def add_analyze_arguments(parser: argparse.ArgumentParser) -> None:
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument(
        "--run-dir",
        metavar="DIR",
        help="output folder of `run` (its predictions.jsonl; output in DIR/analysis); the labels "
        "the run recorded are used unless label options are given",
    )
    given.add_argument(
        "--predictions",
        metavar="FILE",
        help="CSV or JSONL predictions file (output in analysis/ next to it)",
    )
    add_label_arguments(parser, default_split="all")
    parser.add_argument(
        "--images",
        metavar="SOURCE",
        help="validation images for the review page's thumbnails: ILSVRC2012_img_val.tar, a "
        "folder or a Hugging Face dataset",
    )
    parser.add_argument(
        "--images-split",
        metavar="SPLIT",
        help="split of a Hugging Face image dataset (default: validation)",
    )
    parser.add_argument(
        "--output-dir",
        metavar="DIR",
        help="where results.json, mistakes.jsonl and review/ go; never the run folder or a "
        "folder whose outputs would replace an input",
    )
    add_categorizer_argument(parser, "the --images", "categorizer")


def add_leaderboard_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="RESULTS",
        help="results.json files of `score` or `run`, run directories holding one, or results "
        "datasets (a folder written by `push-results`, or hf://datasets/ORG/NAME)",
    )
    parser.add_argument(
        "--output-dir",
        metavar="DIR",
        default="leaderboard",
        help="where leaderboard.md, leaderboard.csv, leaderboard.html and the plots go "
        "(default: leaderboard)",
    )
    add_label_source_arguments(parser)


def _add_hub_target_arguments(parser: argparse.ArgumentParser, kind: str) -> None:
    """The Hub repository a push goes to, shared by `push` and `push-metric`."""
    parser.add_argument("--repo-id", required=True, metavar="ORG/NAME", help=f"the {kind}")
    parser.add_argument(
        "--private", action="store_true", help=f"create the {kind} as private if it is new"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list the files and target; touch no network"
    )


def add_push_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="DIR", help="folder written by `build`")
    _add_hub_target_arguments(parser, "dataset repository")
    parser.add_argument(
        "--allow-public-images",
        action="store_true",
        help="allow uploading the ImageNet images config to a public repository",
    )
    parser.add_argument(
        "--replace-remote-configs",
        action="store_true",
        help="delete the repository's files of configs this folder lacks (e.g. images/ when "
        "pushing a labels-only build); without it such a push stops",
    )


def add_push_results_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "tree",
        metavar="TREE",
        help="a folder of run folders (results.json + predictions.jsonl each), as `run --models` "
        "writes them",
    )
    _add_hub_target_arguments(parser, "dataset repository")
    parser.add_argument(
        "--files-per-commit",
        type=positive_int,
        metavar="N",
        help="files per commit (default: 100, the Hub's advice for uploads over HTTP)",
    )


def add_push_metric_arguments(parser: argparse.ArgumentParser) -> None:
    _add_hub_target_arguments(parser, "Space")
    parser.add_argument(
        "--token-env",
        metavar="VAR",
        help="environment variable holding the token (default: HF_TOKEN or the `hf auth login` "
        "token)",
    )


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="RUN_DIR_OR_PREDICTIONS",
        help="two or more `run` output folders (predictions.jsonl + results.json) or predictions "
        "files (CSV or JSONL), all judged on the labels given here",
    )
    parser.add_argument(
        "--output-dir",
        required=True,
        metavar="DIR",
        help="where compare.json, compare.md, compare.csv, queue.jsonl and the plot go",
    )
    add_label_source_arguments(parser)
    parser.add_argument(
        "--min-models",
        type=positive_int,
        metavar="K",
        help="a slice candidate is an image at least K models get wrong with a major mistake "
        "(default: all the models)",
    )
    parser.add_argument(
        "--images",
        metavar="SOURCE",
        help="validation images (ILSVRC2012_img_val.tar, a folder or a Hugging Face dataset): "
        "also write the queue as a review page, review/index.html with thumbnails",
    )
    parser.add_argument(
        "--images-split",
        metavar="SPLIT",
        help="split of a Hugging Face image dataset (default: validation)",
    )
    add_categorizer_argument(parser, "the --images", "categorizer")


def add_patches_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="patches_command", required=True, metavar="ACTION")
    merge = actions.add_parser(
        "merge", help="several reviewers' label patches -> one consensus patch and its conflicts"
    )
    merge.add_argument("paths", nargs="+", metavar="PATCH", help="one label patch per reviewer")
    merge.add_argument("--output", required=True, metavar="FILE", help="the merged label patch")
    merge.add_argument(
        "--conflicts",
        metavar="FILE",
        help="where the conflicts go, one JSON object a line (default: conflicts.jsonl beside "
        "--output)",
    )
    merge.add_argument(
        "--min-agreement",
        type=positive_int,
        default=2,
        metavar="N",
        help="keep a verdict given by at least N reviewers and by more than any other (default: 2)",
    )


def options_of(cls: type[Options], args: argparse.Namespace) -> Options:
    """An option object built once from the options of its fields' names."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    return cls(**{f.name: getattr(args, f.name) for f in fields if hasattr(args, f.name)})


def option_names(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    """How the command that ``args`` chose names each API parameter it gives: its option
    (``output_dir`` -> ``--output-dir``), or the metavar of a positional argument."""
    names: dict[str, str] = {}
    actions = list(parser._actions)
    while actions:
        action = actions.pop(0)
        if isinstance(action, argparse._SubParsersAction):
            actions += action.choices[getattr(args, action.dest)]._actions
        elif isinstance(action, LabelSetOption):  # one option per label set
            names[action.parameter] = action.option_strings[0]
        elif action.option_strings:
            names[action.dest] = max(action.option_strings, key=len)
        elif action.dest != argparse.SUPPRESS:
            names[action.dest] = action.metavar or action.dest
    for parameter, same in SAME_OPTION.items():
        if same in names:
            names.setdefault(parameter, names[same])
    return {**API_FUNCTIONS, **names}


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Score ImageNet classifiers with the corrected multi-label labels (v3.0.0) "
        "and ImageNet-M.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_score_arguments(
        commands.add_parser("score", help="score a predictions file (CSV or JSONL)", epilog=FORMATS)
    )
    add_run_arguments(commands.add_parser("run", help="evaluate a model on the validation images"))
    add_analyze_arguments(
        commands.add_parser(
            "analyze",
            help="sort the rejected predictions by the paper's taxonomy; write mistakes.jsonl and "
            "a review page that exports label patches",
            epilog=FORMATS,
        )
    )
    add_build_arguments(
        commands.add_parser(
            "build", help="write the Hub dataset folder (parquet, README.md card, eval.yaml)"
        )
    )
    add_push_arguments(
        commands.add_parser("push", help="upload a built dataset folder to a Hub dataset repo")
    )
    add_leaderboard_arguments(
        commands.add_parser(
            "leaderboard",
            help="one table, a browsable page and three plots from many results files",
            description="Write leaderboard.md, leaderboard.csv, leaderboard.html (a page to sort, "
            "search, filter and explore the plots, offline) and three plots (PNG and SVG): "
            "multi-label accuracy and ImageNet-M correct against original top-1, and each "
            "model's mistakes stacked by automatic category, sorted by top-1. The label "
            "options give the labels on which the paper's reference models are scored.",
        )
    )
    add_push_results_arguments(
        commands.add_parser(
            "push-results",
            help="publish a tree of run folders as a results dataset on the Hub",
            description="Upload one results JSON and one predictions parquet per model (official "
            "results under official/, the others under flagged/ with the reasons) and a card, in "
            "batched commits; `leaderboard hf://datasets/ORG/NAME` reads them back. Run it again "
            "to resume or to add results.",
        )
    )
    add_compare_arguments(
        commands.add_parser(
            "compare",
            help="compare several models: novel-prediction queue, the paper's mistakes solved, "
            "shared mistakes, ImageNet-M-style slice candidates",
            epilog=FORMATS,
        )
    )
    add_patches_arguments(
        commands.add_parser("patches", help="label patches: merge several reviewers' patches")
    )
    from .sweep_cli import add_sweep_arguments  # it builds on this module's arguments

    add_sweep_arguments(
        commands.add_parser(
            "sweep",
            help="score many classifiers: plan a manifest, run a shard of it, SLURM, status",
            description="Sweep the Hub: `sweep plan` writes the manifest of the classifiers to "
            "score, `sweep run` scores one shard of it, `sweep slurm` writes (and submits) a "
            "SLURM job array of shards, `sweep status` says where each model stands.",
        )
    )
    add_push_metric_arguments(
        commands.add_parser(
            "push-metric",
            help="publish the metric as a Hub Space that evaluate.load('ORG/NAME') loads",
            description="Create the Space ORG/NAME if absent and upload the module (as NAME.py), "
            "references.py, scoring.py, errors.py, README.md, app.py and requirements.txt in one "
            "commit.",
        )
    )
    return parser

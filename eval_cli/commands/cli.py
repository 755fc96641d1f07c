"""The command line: ``imagenet-multilabel COMMAND`` (or ``python -m imagenet_multilabel COMMAND``).

Parses the arguments (defined in `eval_cli.commands.arguments`, each stored under the name of
the API parameter it gives), builds the API's option objects once from them (`LabelSource`,
`RunOptions`) and calls the command's API function, which runs in the command frame
(`eval_cli.frame`) as from Python. Nothing else: every rule between options lives in the option
objects and the functions, and errors name each parameter as its option here
(`metric.errors.spelled_as`, from the parser). Only ``ToolkitError`` (bad input, an unusable
file or model) becomes ``error: ...`` and exit status 2; anything else is a bug and keeps its
traceback. Handlers import their command's modules when called, so ``score`` never imports
torch.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ...dataset_script.labels.loading import LabelSource
from ...metric.errors import ToolkitError, spelled_as
from .. import require_run_extra
from ..engine.run_options import RunOptions
from . import sweep_cli
from .arguments import build_parser, option_names, options_of

INTERRUPTED_STATUS = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C
Options = TypeVar("Options")


@dataclass(frozen=True)
class Command:
    """One command: its handler, the framed API function(s) it calls (``module:name`` under
    ``imagenet_multilabel.eval_cli``, imported only when asked for), and its options that give
    no API parameter (what the command line alone does with them)."""

    handler: Callable[[argparse.Namespace], int]
    api: tuple[str, ...]
    cli_only: tuple[str, ...] = ()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with spelled_as(option_names(parser, args)):
        try:
            return COMMANDS[command_name(args)].handler(args)
        except ToolkitError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            if os.environ.get("RANK", "0") == "0":  # one line per launch, not per process
                print(_interrupted(args), file=sys.stderr)
            return INTERRUPTED_STATUS
        finally:
            if argv is None:  # the program: it ends with this call
                # Its last garbage collection would walk every object torch and timm made, ~1 s
                # on two cores (a fifth of `sweep plan`); frozen, they go with the process.
                gc.freeze()


def command_name(args: argparse.Namespace) -> str:
    """The command ``args`` chose, as `COMMANDS` names it: ``sweep ACTION`` for a sweep."""
    if args.command == "sweep":
        return f"sweep {args.sweep_command}"
    return args.command


def _interrupted(args: argparse.Namespace) -> str:
    """What Ctrl-C leaves behind, per command: each writes its files whole or not at all."""
    if args.command == "run":
        if _is_sweep(args):
            kept = f"in each model's folder under {args.output_dir or 'eval_results'}"
        else:
            kept = f"in {args.output_dir or _default_output_dir(args.model[0])}"
        return (
            f"interrupted: the predictions made so far are kept {kept}; run the same command "
            "again to resume (only the images still missing are predicted)"
        )
    if args.command in ("analyze", "leaderboard"):
        return (
            f"interrupted; each file in {args.output_dir or 'the output folder'} is whole, but "
            "some may be missing or from an earlier run: run the same command again"
        )
    if args.command == "sweep":
        return sweep_cli.interrupted(args)
    if args.command in ("push", "push-metric"):
        return (
            "interrupted; nothing was committed to the repository (it may have been created): "
            "run the same command again"
        )
    if args.command == "push-results":
        return (
            "interrupted; the commits already made are kept, each whole: run the same command "
            "again to finish (files the repository holds unchanged are skipped)"
        )
    return "interrupted; nothing was written"


def _default_output_dir(model: str) -> str:
    from ..engine.sweep import default_output_dir

    try:
        return str(default_output_dir(model))
    except ToolkitError:
        return "the output folder"


def _report(document: dict | None, args: argparse.Namespace) -> int:
    """Print the summary; with --strict, results that are not official exit with 3."""
    from ..scores import results

    if document is None:  # not the main process of a launch
        return 0
    print(results.report(document))
    if args.strict and results.publication_problems(document):
        print("--strict: these results are not official; exit status 3", file=sys.stderr)
        return 3
    return 0


def _score(args: argparse.Namespace) -> int:
    from ..scores.score import score_predictions

    document = score_predictions(
        args.predictions,
        split=args.split,
        labels=options_of(LabelSource, args),
        limit=args.limit,
        label_set_files=args.label_set_files,
        allow_unverified_label_set_files=args.allow_unverified_label_set_files,
        output=args.output,
    )
    status = _report(document, args)
    if args.output:
        print(f"Results written to {args.output}")
    else:
        print("No results file written (pass --output FILE to keep them).")
    return status


def _is_sweep(args: argparse.Namespace) -> bool:
    return args.models_file is not None or len(args.model) != 1


def run_command(args: argparse.Namespace) -> dict | None:
    """`run` of one model: `evaluate_model`; the document on the main process."""
    from ..engine.sweep import evaluate_model

    (model,) = args.model
    return evaluate_model(
        model,
        args.images,
        labels=options_of(LabelSource, args),
        options=options_of(RunOptions, args),
        revision=args.revision,
        kind=args.kind,
    )


def _run(args: argparse.Namespace) -> int:
    """One model, or several in one launch (`evaluate_models`): the table of every model; exit
    2 if any failed, else 3 with --strict if any results are not official."""
    require_run_extra("run")
    from accelerate import PartialState

    from ..engine.sweep import ModelSpec, evaluate_models, sweep_report
    from ..outputs import RESULTS_FILE
    from ..scores import results

    if not _is_sweep(args):
        document = run_command(args)
        status = _report(document, args)
        if document is not None:
            output_dir = args.output_dir or _default_output_dir(args.model[0])
            print(f"Results written to {os.path.join(output_dir, RESULTS_FILE)}")
        return status
    specs = [ModelSpec(model, args.revision, args.kind) for model in args.model]
    outcomes = evaluate_models(
        specs,
        args.images,
        labels=options_of(LabelSource, args),
        options=options_of(RunOptions, args),
        models_file=args.models_file,
    )
    if PartialState().is_main_process:
        print(sweep_report(outcomes, args.output_dir))
    if any(isinstance(outcome, ToolkitError) for _, outcome in outcomes):
        return 2
    documents = [outcome for _, outcome in outcomes if isinstance(outcome, dict)]
    if args.strict and any(results.publication_problems(document) for document in documents):
        print("--strict: some of these results are not official; exit status 3", file=sys.stderr)
        return 3
    return 0


def _categorizer(args: argparse.Namespace) -> Any:
    """``--categorizer-model``'s model of `analyze` and `compare` (None when not given), made
    when the command first asks for its rules: inside the command frame, which examines the
    model's folder first."""
    if args.categorizer is None:
        return None
    require_run_extra("--categorizer-model")
    from ..models.categorizer import NamedCategorizer

    return NamedCategorizer(args.categorizer)


def _analyze(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..analysis import analyze
    from ..analysis.review import page_path
    from ..outputs import RESULTS_FILE

    labels = options_of(LabelSource, args)
    document = analyze.analyze_predictions(
        args.predictions,
        run_dir=args.run_dir,
        output_dir=args.output_dir,
        split=args.split,
        labels=labels,
        limit=args.limit,
        images=args.images,
        images_split=args.images_split,
        categorizer=_categorizer(args),
    )
    status = _report(document, args)
    recorded = args.run_dir is not None and not labels.given
    output_dir = Path(args.output_dir or analyze.default_output_dir(vars(args)))
    print(
        f"Labels: version {document['labels'].get('version')}, "
        f"{analyze.labels_in_words(document['labels'])}, "
        f"{'as the run recorded them' if recorded else 'as given by the label options'}\n"
        f"Wrote {output_dir / RESULTS_FILE} and {output_dir / analyze.MISTAKES_FILE}\n"
        f"Review page: {page_path(output_dir).resolve().as_uri()}"
    )
    return status


def _build(args: argparse.Namespace) -> int:
    from ..dataset_folder import build_dataset

    folder = build_dataset(
        args.output,
        options_of(LabelSource, args),
        images=args.images,
        images_split=args.images_split,
        repo_id=args.repo_id,
        full_image_check=args.full_image_check,
    )
    print(f"wrote {folder}")
    return 0


def _push(args: argparse.Namespace) -> int:
    from ..dataset_folder import push_dataset

    push_dataset(
        args.folder,
        args.repo_id,
        private=args.private,
        dry_run=args.dry_run,
        allow_public_images=args.allow_public_images,
        replace_remote_configs=args.replace_remote_configs,
    )
    return 0


def _push_results(args: argparse.Namespace) -> int:
    from ...dataset_script.hub.files import FILES_PER_COMMIT
    from ..scores.push_results import push_results

    push_results(
        args.tree,
        args.repo_id,
        private=args.private,
        dry_run=args.dry_run,
        files_per_commit=args.files_per_commit or FILES_PER_COMMIT,
    )
    return 0


def _push_metric(args: argparse.Namespace) -> int:
    from ...dataset_script.hub.push_metric import describe_dry_run, push_space, resolve_token

    if args.dry_run:
        print(describe_dry_run(args.repo_id, private=args.private))
        return 0
    url = push_space(args.repo_id, token=resolve_token(args.token_env), private=args.private)
    print(f'pushed to {url}\nload it with evaluate.load("{args.repo_id}")')
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    from ..leaderboard.board import write_leaderboard

    board = write_leaderboard(args.paths, args.output_dir, labels=options_of(LabelSource, args))
    for note in board.notes:
        print(f"note: {note}")
    table = os.path.join(args.output_dir, "leaderboard.md")
    print(
        f"{len(board.entries)} result(s): {table}, leaderboard.csv, leaderboard.html and the "
        "plots written"
    )
    return 0


def _compare(args: argparse.Namespace) -> int:
    from ..analysis import review
    from ..curation import compare

    document = compare.compare_models(
        args.inputs,
        output_dir=args.output_dir,
        labels=options_of(LabelSource, args),
        min_models=args.min_models,
        images=args.images,
        images_split=args.images_split,
        categorizer=_categorizer(args),
    )
    print(compare.summary(document))
    print(f"Wrote {args.output_dir}: compare.md, compare.json, compare.csv, queue.jsonl, the plot")
    if args.images is not None:
        print(f"Review page: {review.page_path(args.output_dir).resolve().as_uri()}")
    return 0


def _patches(args: argparse.Namespace) -> int:
    from ..curation import merge

    report = merge.write_merged_patch(
        args.paths, args.output, conflicts=args.conflicts, min_agreement=args.min_agreement
    )
    print(merge.summary(report))
    print(f"Wrote {args.output} and {args.conflicts or merge.default_conflicts(vars(args))}")
    return 0


_SCORE_API = "scores.score:score_predictions"
COMMANDS: dict[str, Command] = {
    "score": Command(_score, (_SCORE_API,), cli_only=("strict",)),
    "run": Command(
        _run, ("engine.sweep:evaluate_model", "engine.sweep:evaluate_models"), ("strict",)
    ),
    "analyze": Command(_analyze, ("analysis.analyze:analyze_predictions",), ("strict",)),
    "build": Command(_build, ("dataset_folder:build_dataset",)),
    "push": Command(_push, ("dataset_folder:push_dataset",)),
    "push-metric": Command(
        _push_metric, (), cli_only=("repo_id", "private", "dry_run", "token_env")
    ),
    "push-results": Command(_push_results, ("scores.push_results:push_results",)),
    "leaderboard": Command(_leaderboard, ("leaderboard.board:write_leaderboard",)),
    "compare": Command(_compare, ("curation.compare:compare_models",)),
    "patches": Command(_patches, ("curation.merge:write_merged_patch",)),
    "sweep plan": Command(sweep_cli.plan_command, ("sweeps.plan:write_plan",)),
    "sweep run": Command(sweep_cli.run_command, ("sweeps.execute:sweep_shard",), ("strict",)),
    # Its other options are `sweep run`'s, passed on to each task (framed when the task runs).
    "sweep slurm": Command(
        sweep_cli.slurm_command,
        ("sweeps.slurm:write_job_array", "sweeps.execute:sweep_shard"),
        ("strict",),
    ),
    "sweep status": Command(sweep_cli.status_command, ("sweeps.status:sweep_status",)),
}

"""The command line: ``imagenet-multilabel COMMAND`` (or ``python -m imagenet_multilabel COMMAND``).

Parses the arguments (defined in `eval_cli.cli_arguments`), turns them into the API's option
objects once (`LabelSource.from_cli`, `RunOptions.from_cli`) and calls the API. Only
``ToolkitError`` (bad input, an unusable file or model) becomes ``error: ...`` and exit status 2,
with API parameter names shown as options; anything else is a bug and keeps its traceback.
Handlers import their command's modules when called, so ``score`` never imports torch.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import sys
from pathlib import Path

from ...dataset_script.label_sets import copy_options
from ...dataset_script.labels.loading import LabelSource
from ...metric.errors import ToolkitError, brief_repr
from ..engine.run_options import RunOptions, require_run_extra
from .arguments import build_parser, copy_flag
from .sweep_cli import handle_sweep
from .sweep_cli import interrupted as sweep_interrupted

INTERRUPTED_STATUS = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C
# The library's errors name API parameters in backquotes (`allow_unverified=True`); the command
# line says the same with its own options. Parameter -> option, used once, when printing.
CLI_NAMES = {
    "`allow_unverified=True`": "`--allow-unverified-annotations`",
    "`annotations=PATH`": "`--annotations PATH`",
    "`annotations`": "`--annotations`",
    "`dataset`": "`--labels`",
    "`patches`": "`--label-patch`",
    "`predictions`": "`--predictions`",
    "`images`": "`--images`",
    "`output_dir`": "`--output-dir`",
    "`min_models`": "`--min-models`",
    **{
        f"`allow_unverified_label_set_files=[{name!r}]`": f"`--allow-unverified-{flag[2:]}`"
        for name, flag in ((name, copy_flag(name)) for name in copy_options())
    },
    "`split='validation'`": "`--split validation`",
    "`merge_patches`": "`imagenet-multilabel patches merge`",
    "`categorizer_model`": "`--categorizer-model`",
    "`categorizer`": "`--categorizer-model`",
}


def _check_combinations(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Options that would otherwise be silently ignored."""
    if getattr(args, "labels", None) and args.allow_unverified_annotations:
        parser.error("--allow-unverified-annotations applies to --annotations, not --labels")
    if args.command == "run" and not args.model and not args.models:
        parser.error("run needs --model MODEL (repeatable) or --models FILE")
    if args.command == "run" and _is_sweep(args) and args.hub_repo_id:
        parser.error("--hub-repo-id names one model's repository; it does not apply to several")
    if args.command == "run":
        try:
            _run_options(args)
        except ToolkitError as error:
            parser.error(str(error))
    if args.command in ("build", "analyze", "compare") and args.images_split and not args.images:
        parser.error("--images-split needs --images SOURCE")
    if args.command in ("analyze", "compare") and args.categorizer_model and not args.images:
        parser.error("--categorizer-model needs --images SOURCE: the image rules look at images")
    if args.command == "build" and args.full_image_check and not args.images:
        parser.error("--full-image-check needs --images SOURCE")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_combinations(parser, args)
    try:
        return _COMMANDS[args.command](args)
    except ToolkitError as error:
        print(f"error: {in_cli_names(str(error))}", file=sys.stderr)
        return 2
    except OSError as error:
        unusable = _unusable_given_path(error, sys.argv[1:] if argv is None else argv)
        if unusable is None:  # not a path the user gave: a bug or the machine, traceback kept
            raise
        print(f"error: {unusable}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if os.environ.get("RANK", "0") == "0":  # one line per launch, not per process
            print(_interrupted(args), file=sys.stderr)
        return INTERRUPTED_STATUS
    finally:
        if argv is None:  # the program: it ends with this call
            # Its last garbage collection would walk every object torch and timm made, ~1 s on
            # two cores (a fifth of `sweep plan`); frozen, they go with the process.
            gc.freeze()


def _unusable_given_path(error: OSError, argv: list[str]) -> str | None:
    """The message for an OSError on a path the command line gave (a name longer than the file
    system allows, a component that is a file): the option and the path, shortened. None when
    the error names no path given there, or one inside it."""
    if error.filename is None:
        return None
    path = os.fsdecode(error.filename)
    for previous, word in itertools.pairwise(["", *argv]):
        option, equals, value = word.partition("=")
        if equals and option.startswith("--"):
            given, named = value, option
        elif not word.startswith("-"):
            given, named = word, previous if previous.startswith("--") else "argument"
        else:
            continue
        if given and _within(path, given):
            reason = error.strerror or type(error).__name__
            return f"{named} {brief_repr(path)} cannot be used: {reason}"
    return None


def _within(path: str, given: str) -> bool:
    """Whether ``path`` is ``given`` (as typed or made absolute) or inside it."""
    forms = {given, os.path.abspath(given)}
    return any(path == form or path.startswith(form.rstrip(os.sep) + os.sep) for form in forms)


def in_cli_names(message: str) -> str:
    """An error message with each API parameter it names (``CLI_NAMES``) as the option."""
    for parameter, option in CLI_NAMES.items():
        message = message.replace(parameter, option)
    return message


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
        return sweep_interrupted(args)
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
    from .. import outputs
    from ..scores.score import score_predictions

    labels = LabelSource.from_cli(args)
    outputs.refuse_directory_as_file(args.output, "--output")
    outputs.refuse_overwriting_inputs(
        {"--output": args.output},
        {
            "--predictions": args.predictions,
            **outputs.label_inputs(labels),
            **{copy_flag(name): path for name, path in args.label_set_files.items()},
        },
    )
    document = score_predictions(
        args.predictions,
        split=args.split,
        labels=labels,
        limit=args.limit,
        label_set_files=args.label_set_files,
        allow_unverified_label_set_files=args.allow_unverified_label_set_files,
    )
    status = _report(document, args)
    if args.output:
        outputs.write_json(args.output, document)
        print(f"Results written to {args.output}")
    else:
        print("No results file written (pass --output FILE to keep them).")
    return status


def _run_options(args: argparse.Namespace) -> RunOptions:
    """`run`'s options as `evaluate_model` and `evaluate_models` take them; refusals name flags."""
    return RunOptions.from_cli(args)


def run_command(args: argparse.Namespace) -> dict | None:
    """`run`'s arguments handed to `evaluate_model`; the document on the main process."""
    from ...dataset_script.labels.loading import LabelSource
    from ..engine.sweep import evaluate_model

    (model,) = args.model
    return evaluate_model(
        model,
        args.images,
        labels=LabelSource.from_cli(args),
        options=_run_options(args),
        revision=args.revision,
        kind=args.model_kind,
    )


def sweep_command(args: argparse.Namespace) -> list:
    """`run` with several models handed to `evaluate_models`: ``(model, document or error)``."""
    from ...dataset_script.labels.loading import LabelSource
    from ..engine.sweep import ModelSpec, evaluate_models, read_models_file

    specs = [ModelSpec(model, args.revision, args.model_kind) for model in args.model]
    if args.models:
        specs += read_models_file(args.models)
    return evaluate_models(
        specs, args.images, labels=LabelSource.from_cli(args), options=_run_options(args)
    )


def _is_sweep(args: argparse.Namespace) -> bool:
    return bool(args.models) or len(args.model) > 1


def _run(args: argparse.Namespace) -> int:
    require_run_extra("run")
    from ..engine.sweep import default_output_dir
    from ..outputs import RESULTS_FILE

    if _is_sweep(args):
        return _run_sweep(args)
    document = run_command(args)
    status = _report(document, args)
    if document is not None:
        output_dir = args.output_dir or default_output_dir(args.model[0])
        print(f"Results written to {os.path.join(output_dir, RESULTS_FILE)}")
    return status


def _run_sweep(args: argparse.Namespace) -> int:
    """The table of every model; exit 2 if any failed, else 3 with --strict if any results are
    not official."""
    from accelerate import PartialState

    from ..engine.sweep import sweep_report
    from ..scores import results

    outcomes = sweep_command(args)
    if PartialState().is_main_process:
        print(sweep_report(outcomes, args.output_dir))
    if any(isinstance(outcome, ToolkitError) for _, outcome in outcomes):
        return 2
    documents = [outcome for _, outcome in outcomes if isinstance(outcome, dict)]
    if args.strict and any(results.publication_problems(document) for document in documents):
        print("--strict: some of these results are not official; exit status 3", file=sys.stderr)
        return 3
    return 0


def _categorizer(args: argparse.Namespace):
    """``--categorizer-model``'s model, checked before any work (None when not given)."""
    if args.categorizer_model is None:
        return None
    require_run_extra("--categorizer-model")
    from ..models.categorizer import ImageCategorizer

    return ImageCategorizer(args.categorizer_model)


def _analyze(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..analysis import analyze
    from ..analysis.review import page_path
    from ..outputs import RESULTS_FILE

    categorizer = _categorizer(args)
    labels = LabelSource.from_cli(args)
    labels_used = "as given by the label options"
    other_inputs = {}
    if args.run_dir:
        # Label options given win over the run's: its recorded labels are then not looked for.
        run = analyze.run_dir_inputs(args.run_dir, recorded_labels=labels == LabelSource())
        predictions, title = run.predictions, run.title
        other_inputs = {"`--run-dir`'s results.json": run.results}
        if labels == LabelSource():
            labels = run.labels
            labels_used = f"{run.labels_description}, as the run recorded them"
    else:
        predictions, title = Path(args.predictions), None
    output_dir = Path(args.output_dir or predictions.parent / analyze.ANALYSIS_FOLDER)
    document = analyze.analyze_predictions(
        predictions,
        output_dir=output_dir,
        split=args.split,
        limit=args.limit,
        images=args.images,
        images_split=args.images_split,
        categorizer=categorizer,
        title=title,
        other_inputs=other_inputs,
        labels=labels,
    )
    status = _report(document, args)
    print(
        f"Labels: version {document['labels'].get('version')}, {labels_used}\n"
        f"Wrote {output_dir / RESULTS_FILE} and {output_dir / analyze.MISTAKES_FILE}\n"
        f"Review page: {page_path(output_dir).resolve().as_uri()}"
    )
    return status


def _build(args: argparse.Namespace) -> int:
    from ...dataset_script.build import build_dataset

    folder = build_dataset(
        args.output,
        LabelSource.from_cli(args),
        images=args.images,
        images_split=args.images_split,
        repo_id=args.repo_id,
        full_image_check=args.full_image_check,
    )
    print(f"wrote {folder}")
    return 0


def _push(args: argparse.Namespace) -> int:
    from ...dataset_script.hub.push_dataset import push_dataset

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

    board = write_leaderboard(args.results, args.output_dir, labels=LabelSource.from_cli(args))
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

    categorizer = _categorizer(args)
    document = compare.compare_models(
        args.inputs,
        output_dir=args.output_dir,
        labels=LabelSource.from_cli(args),
        min_models=args.min_models,
        images=args.images,
        images_split=args.images_split,
        categorizer=categorizer,
    )
    print(compare.summary(document))
    print(f"Wrote {args.output_dir}: compare.md, compare.json, compare.csv, queue.jsonl, the plot")
    if args.images is not None:
        print(f"Review page: {review.page_path(args.output_dir).resolve().as_uri()}")
    return 0


def _patches(args: argparse.Namespace) -> int:
    from ..curation import merge

    conflicts = args.conflicts or Path(args.output).parent / merge.CONFLICTS_FILE
    report = merge.write_merged_patch(
        args.patches, args.output, conflicts_output=conflicts, min_agreement=args.min_agreement
    )
    print(merge.summary(report))
    print(f"Wrote {args.output} and {conflicts}")
    return 0


_COMMANDS = {
    "score": _score,
    "run": _run,
    "analyze": _analyze,
    "build": _build,
    "push": _push,
    "push-metric": _push_metric,
    "push-results": _push_results,
    "leaderboard": _leaderboard,
    "compare": _compare,
    "patches": _patches,
    "sweep": handle_sweep,
}

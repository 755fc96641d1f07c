"""`imagenet-multilabel sweep ACTION`: the arguments of `plan`, `run`, `slurm` and `status`, and
their handlers, which hand the values to the framed API functions of `eval_cli.sweeps`
(`SWEEP_COMMANDS`; imported when called, so `sweep status` never loads a model library it does
not need).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...dataset_script.labels.loading import LabelSource
from ...metric.errors import ToolkitError, named
from .. import require_run_extra
from ..choices import PLAN_SOURCES
from ..engine.run_options import RunOptions
from ..sweeps.slurm import JOB_OPTIONS
from .arguments import options_of
from .label_arguments import positive_int
from .run_arguments import add_evaluation_arguments

# `sweep slurm`'s own options; everything else it takes is `sweep run`'s, passed on to each task.
_SLURM_ONLY = (*JOB_OPTIONS, "script", "submit")


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="sweep_command", required=True, metavar="ACTION")
    _add_plan_arguments(
        actions.add_parser(
            "plan",
            help="write the manifest (JSONL) of the classifiers to score, grouped by geometry",
        )
    )
    run = actions.add_parser(
        "run",
        help="score one shard of a manifest (K/N, or SLURM's array task) into a results tree",
    )
    _add_shard_run_arguments(run)
    slurm = actions.add_parser(
        "slurm", help="write (and --submit) an sbatch job array whose task K runs shard K/N"
    )
    _add_shard_run_arguments(slurm)
    _add_slurm_arguments(slurm)
    slurm.set_defaults(script_parser=slurm)
    status = actions.add_parser(
        "status", help="done / failed / running / missing, per model of a results tree"
    )
    status.add_argument("tree", metavar="TREE", help="the results tree of `sweep run`")
    status.add_argument(
        "--manifest",
        metavar="FILE",
        help="the manifest swept (default: the copy `sweep run` keeps in TREE/_sweep/)",
    )


def _add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "patterns",
        nargs="*",
        metavar="PATTERN",
        help="globs a model must match (its Hub id, or a timm tag such as '*.in1k' or "
        "'*in22k_ft_in1k*'); none: every model",
    )
    parser.add_argument(
        "--from",
        dest="source",
        choices=PLAN_SOURCES,
        default="timm",
        help="timm: the installed timm's pretrained tags (offline); hub: the Hub's image "
        "classifiers trained on imagenet-1k (online); list: a --models file (default: timm)",
    )
    parser.add_argument(
        "--models",
        metavar="FILE",
        help="with --from list: one model a line, MODEL [revision=REV] [kind=KIND]",
    )
    parser.add_argument(
        "--output",
        metavar="FILE",
        default="manifest.jsonl",
        help="the manifest to write (default: manifest.jsonl)",
    )


def _add_shard_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", metavar="MANIFEST", help="a manifest of `sweep plan`")
    parser.add_argument(
        "--shard",
        metavar="K/N",
        help="run shard K of N (K from 0); default: SLURM's array task (SLURM_ARRAY_TASK_ID of "
        "SLURM_ARRAY_TASK_COUNT), else the whole manifest",
    )
    add_evaluation_arguments(
        parser,
        parser.add_argument_group("model"),
        default_split="all",
        output_help="the results tree: one folder per model, the same whatever the shards "
        "(default: eval_results)",
    )
    # A sweep neither pushes to model cards nor runs the taxonomy's image rules (`run` does).
    parser.set_defaults(push_to_hub=False, hub_repo_id=None, dry_run=False, categorizer_model=None)


def _add_slurm_arguments(parser: argparse.ArgumentParser) -> None:
    slurm = parser.add_argument_group("SLURM")
    slurm.add_argument(
        "--array", type=positive_int, required=True, metavar="N", help="tasks (shards)"
    )
    slurm.add_argument("--partition", help="the partition (default: the cluster's)")
    slurm.add_argument("--gpus-per-task", metavar="GPUS", help="e.g. 1, or a100:1")
    slurm.add_argument("--cpus-per-task", type=positive_int, metavar="N")
    slurm.add_argument("--time", help="each task's time limit, e.g. 08:00:00")
    slurm.add_argument("--job-name", default="imagenet-multilabel-sweep")
    slurm.add_argument(
        "--sbatch-option",
        action="append",
        default=[],
        metavar="OPTION",
        help="one more #SBATCH option, e.g. --sbatch-option=--account=ORG (repeatable)",
    )
    slurm.add_argument(
        "--script",
        metavar="FILE",
        help="where the sbatch script goes (default: TREE/_sweep/sweep.sbatch)",
    )
    slurm.add_argument("--submit", action="store_true", help="submit it with sbatch")


def plan_command(args: argparse.Namespace) -> int:
    from ..sweeps import plan

    entries = plan.write_plan(
        args.patterns, source=args.source, models=args.models, output=args.output
    )
    print(plan.plan_summary(entries))
    print(f"wrote {args.output}")
    return 0


def run_command(args: argparse.Namespace) -> int:
    """The shard's table; exit 2 if a model failed, else 3 with --strict if any results of this
    shard are not official."""
    require_run_extra("sweep run")
    from accelerate import PartialState

    from ..engine.sweep import sweep_report
    from ..scores import results
    from ..sweeps.execute import shard_summary, sweep_shard

    report = sweep_shard(
        args.manifest,
        args.images,
        shard=args.shard,
        labels=options_of(LabelSource, args),
        options=options_of(RunOptions, args),
    )
    if PartialState().is_main_process:
        if report.outcomes:
            print(sweep_report(report.outcomes, report.tree))
        print(shard_summary(report))
    outcomes = [outcome for _, outcome in report.outcomes]
    if any(isinstance(outcome, ToolkitError) for outcome in outcomes):
        return 2
    documents = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    if args.strict and any(results.publication_problems(document) for document in documents):
        print("--strict: some of these results are not official; exit status 3", file=sys.stderr)
        return 3
    return 0


def slurm_command(args: argparse.Namespace) -> int:
    from ..sweeps import slurm
    from ..sweeps.manifest import DEFAULT_TREE, SWEEP_FOLDER

    if args.shard is not None:
        raise ToolkitError(
            f"{named('shard')}: sweep slurm gives task K of --array N the shard K/N itself"
        )
    options_of(RunOptions, args)  # what each task would refuse, refused now
    folder = Path(args.output_dir or DEFAULT_TREE) / SWEEP_FOLDER
    script = Path(args.script) if args.script else folder / slurm.SCRIPT_NAME
    scored, job_id = slurm.write_job_array(
        args.manifest,
        script,
        logs=folder / slurm.LOGS,
        run_arguments=_run_command_line(args),
        array=args.array,
        partition=args.partition,
        gpus_per_task=args.gpus_per_task,
        cpus_per_task=args.cpus_per_task,
        time=args.time,
        job_name=args.job_name,
        sbatch_option=args.sbatch_option,
        submit=args.submit,
    )
    logs = (folder / slurm.LOGS).resolve()
    print(f"wrote {script}: {args.array} task(s) over {scored:,} model(s); logs in {logs}")
    if args.array > scored:
        print(f"note: {args.array - scored} task(s) will have no model to run")
    if job_id is not None:
        print(f"submitted job {job_id}; follow it with `imagenet-multilabel sweep status TREE`")
    else:
        print(f"submit it with: sbatch {script}")
    return 0


def _run_command_line(args: argparse.Namespace) -> list[str]:
    """The `sweep run` arguments of this `sweep slurm` command line, as given (defaults left
    out, so each task resolves its own, e.g. its machine's worker count)."""
    words: list[str] = []
    for action in args.script_parser._actions:  # argparse's one list of what it parsed
        value = getattr(args, action.dest, None)
        if action.dest in _SLURM_ONLY or action.dest == "help" or value == action.default:
            continue
        if not action.option_strings:
            words.append(str(value))
        elif action.nargs == 0:
            words.append(action.option_strings[0])
        else:
            values = value if isinstance(value, list) else [value]
            words += [action.option_strings[0], *map(str, values)]
    return words


def status_command(args: argparse.Namespace) -> int:
    from ..sweeps.status import status_report, sweep_status

    print(status_report(sweep_status(args.tree, manifest=args.manifest)))
    return 0


def interrupted(args: argparse.Namespace) -> str:
    """What Ctrl-C leaves behind, per action."""
    if args.sweep_command == "run":
        return (
            f"interrupted: each model's predictions so far are kept in its folder under "
            f"{args.output_dir or 'eval_results'}; run the same command again to resume (models "
            "done are not run again)"
        )
    return "interrupted; nothing was written"

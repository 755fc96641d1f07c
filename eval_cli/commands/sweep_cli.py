"""`imagenet-multilabel sweep ACTION`: the arguments of `plan`, `run`, `slurm` and `status`, and
their handlers, which hand the values to `eval_cli.sweeps` (imported when called, so `sweep
status` never loads a model library it does not need).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...dataset_script.labels.loading import LabelSource
from ...metric.errors import ToolkitError
from ..engine.run_options import RunOptions, require_run_extra
from . import arguments

# `sweep slurm`'s own options; everything else it takes is `sweep run`'s, passed on to each task.
_SLURM_ONLY = (
    "array",
    "partition",
    "gpus_per_task",
    "cpus_per_task",
    "time",
    "job_name",
    "sbatch_option",
    "script",
    "submit",
)
_SOURCES = ("timm", "hub", "list")  # eval_cli.sweeps.plan.SOURCES, which imports no more


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
        choices=_SOURCES,
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
    arguments.add_evaluation_arguments(
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
        "--array", type=arguments._positive_int, required=True, metavar="N", help="tasks (shards)"
    )
    slurm.add_argument("--partition", help="the partition (default: the cluster's)")
    slurm.add_argument("--gpus-per-task", metavar="GPUS", help="e.g. 1, or a100:1")
    slurm.add_argument("--cpus-per-task", type=arguments._positive_int, metavar="N")
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


def handle_sweep(args: argparse.Namespace) -> int:
    return {"plan": _plan, "run": _run, "slurm": _slurm, "status": _status}[args.sweep_command](
        args
    )


def _plan(args: argparse.Namespace) -> int:
    from .. import outputs
    from ..sweeps import plan
    from ..sweeps.manifest import write_manifest

    if (args.source == "list") != (args.models is not None):
        raise ToolkitError("--models FILE goes with --from list, and --from list needs it")
    outputs.refuse_overwriting_inputs({"--output": args.output}, {"--models": args.models})
    if args.source == "timm":
        entries = plan.plan_from_timm(args.patterns)
    elif args.source == "hub":
        entries = plan.plan_from_hub(args.patterns)
    else:
        entries = plan.plan_from_list(args.models, args.patterns)
    if not entries:
        raise ToolkitError(
            f"no model of --from {args.source} matches {' '.join(args.patterns)!r}; nothing "
            "was written"
        )
    write_manifest(args.output, entries)
    print(plan.plan_summary(entries))
    print(f"wrote {args.output}")
    return 0


def _run(args: argparse.Namespace) -> int:
    """The shard's table; exit 2 if a model failed, else 3 with --strict if any results of this
    shard are not official."""
    require_run_extra("sweep run")
    from accelerate import PartialState

    from ..engine.sweep import sweep_report
    from ..scores import results
    from ..sweeps.execute import shard_summary, sweep_shard
    from ..sweeps.shards import Shard

    options = RunOptions.from_cli(args)
    report = sweep_shard(
        args.manifest,
        args.images,
        shard=Shard.parse(args.shard),
        labels=LabelSource.from_cli(args),
        options=options,
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


def _slurm(args: argparse.Namespace) -> int:
    from ..sweeps import slurm
    from ..sweeps.execute import DEFAULT_TREE, SWEEP_FOLDER
    from ..sweeps.manifest import read_manifest

    if args.shard is not None:
        raise ToolkitError("--shard: sweep slurm gives task K of --array N the shard K/N itself")
    RunOptions.from_cli(args)  # what each task would refuse, refused now
    scored = [entry for entry in read_manifest(args.manifest) if entry.skipped is None]
    folder = Path(args.output_dir or DEFAULT_TREE) / SWEEP_FOLDER
    script = Path(args.script) if args.script else folder / slurm.SCRIPT_NAME
    logs = (folder / slurm.LOGS).resolve()
    job = slurm.ArrayJob(
        args.array,
        args.partition,
        args.gpus_per_task,
        args.cpus_per_task,
        args.time,
        args.job_name,
        tuple(args.sbatch_option),
    )
    text = slurm.sbatch_script(job, _run_command_line(args), logs)
    slurm.write_script(script, text, logs)
    print(f"wrote {script}: {args.array} task(s) over {len(scored):,} model(s); logs in {logs}")
    if args.array > len(scored):
        print(f"note: {args.array - len(scored)} task(s) will have no model to run")
    if args.submit:
        job_id = slurm.submit(script)
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


def _status(args: argparse.Namespace) -> int:
    from ..sweeps.execute import MANIFEST_COPY, SWEEP_FOLDER
    from ..sweeps.manifest import read_manifest
    from ..sweeps.status import status_report, tree_status

    tree = Path(args.tree)
    if not tree.is_dir():
        raise ToolkitError(f"results tree {str(tree)!r} is not a folder; expected `sweep run`'s")
    manifest = Path(args.manifest) if args.manifest else tree / SWEEP_FOLDER / MANIFEST_COPY
    if not args.manifest and not manifest.exists():
        raise ToolkitError(
            f"{str(tree)!r} holds no {SWEEP_FOLDER}/{MANIFEST_COPY} (no `sweep run` has started "
            "there yet); pass the manifest with --manifest FILE"
        )
    print(status_report(tree_status(read_manifest(manifest), tree)))
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

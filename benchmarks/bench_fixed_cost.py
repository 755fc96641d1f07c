"""Fixed cost of `imagenet-multilabel run` per model: what a run spends besides the model's own
load and the loop over images (issue 15, item 4: at most 5 s on a warm machine).

A tiny random model (the test suite's ResNet, 32x32 input) and ~200 tiny synthetic JPEGs keep the
model load and the per-image work small, so what is left is the fixed cost. Printed:

(a) `imagenet-multilabel run` end to end as a user types it (median wall of the rounds), and the
    same minus the model's own load (``load_model``) and minus the loop's steady state;
(b) the phases of one instrumented run of the same command in a child process: the import of the
    run machinery, the launch (labels, image index), the model checks, the model load, resume,
    header check, time to the first batch (DataLoader worker start-up included), the loop,
    scoring and writing, and what is left (interpreter start-up and exit, the CLI, the report);
    with ``--models K`` the same command runs K copies of the model as one sweep, phases per model;
(c) DataLoader worker start-up alone (a trivial dataset, time to its first batch);
(d) the slowest imports of the command (``python -X importtime``), and with ``--profile`` the top
    functions of the instrumented run by cumulative time (cProfile).

Run: ``python benchmarks/bench_fixed_cost.py [--images 200] [--num-workers 2] [--models 1]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
CHILD_FLAG = "--instrumented-child"
# Functions of `eval_cli.engine.run` (`launch` for the labels load), timed where the run looks them
# up (their module namespace): name -> what it is. Each call adds one entry; a sweep calls the
# per-model ones once per model.
LAUNCH_PHASES = {
    "check_models": "model checks (every model of the launch)",
    "accelerator_for": "accelerator created",
    "open_launch": "launch: labels + image source indexed",
    "resolve_labels": "  of which labels load",
}
LOOKED_UP_IN_LAUNCH = ("resolve_labels",)
MODEL_PHASES = {
    "load_model": "model load (first: imports its libraries)",
    "predicted_before": "resume check",
    "_check_headers": "header check",
    "_forward": "model prepared (accelerate, layout)",
    "predict_group": "loop (first batch included)",
    "_scored_document": "scoring + results + card files written",
}
FIRST_BATCH = "first batch (DataLoader workers started)"
WARM_LOAD = "model load again, its libraries imported (the model's own load)"


def make_workspace(directory: Path, count: int, num_models: int) -> dict[str, Any]:
    """``count`` synthetic annotated images in a val tar, their annotation file, and
    ``num_models`` copies of the test suite's tiny ResNet (a sweep needs distinct folders)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from annotation_fixtures import synthetic_annotations, write_annotation_file
    from image_fixtures import make_val_tar
    from imagenet_multilabel.dataset_script import classes
    from model_fixtures import save_resnet

    data = synthetic_annotations(images_per_class=max(2, -(-count // 1000) + 1))
    names = sorted(n for n in data["initial_annots"] if n.startswith("ILSVRC"))[:count]
    data["initial_annots"] = {n: data["initial_annots"][n] for n in names}
    data["imagenet_m"] = [n for n in data["imagenet_m"] if n in data["initial_annots"]]
    write_annotation_file(directory / "annotations.json", data)
    make_val_tar(directory / "val.tar", [classes.image_id_from_file_name(n) for n in names])
    first = save_resnet(directory / "resnet-1")
    models = [first]
    for index in range(2, num_models + 1):
        models.append(Path(shutil.copytree(first, directory / f"resnet-{index}")))
    return {"annotations": directory / "annotations.json", "tar": directory / "val.tar",
            "models": models, "images": len(names)}  # fmt: skip


def run_arguments(workspace: dict[str, Any], output: Path, num_workers: int) -> list[str]:
    """The `run` command line (without the program) of every model of the workspace."""
    models = [argument for model in workspace["models"] for argument in ("--model", str(model))]
    return [
        "run",
        *models,
        "--images",
        str(workspace["tar"]),
        "--annotations",
        str(workspace["annotations"]),
        "--allow-unverified-annotations",
        "--output-dir",
        str(output),
        "--num-workers",
        str(num_workers),
    ]


def command_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}


# ---------------------------------------------------------------------------------------------
# The instrumented child: imports nothing heavy before its clock starts.


def instrumented_child(argv: list[str]) -> None:
    """Run the `run` command in this process with its phases timed; print them as JSON."""
    started = time.perf_counter()
    profile_path = argv[0] if argv[0] else None
    run_argv = argv[1:]
    phases: list[tuple[str, float]] = []

    def timed_call(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            begun = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phases.append((name, time.perf_counter() - begun))

        return wrapper

    def first_batch_timed(function: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            begun = time.perf_counter()
            batches = function(*args, **kwargs)
            first = next(batches, None)
            phases.append((FIRST_BATCH, time.perf_counter() - begun))
            if first is not None:
                yield first
                yield from batches

        return wrapper

    with _clock(phases, "import of the CLI"):
        from imagenet_multilabel.eval_cli.commands import cli
    with _clock(phases, "import of the run machinery (torch, accelerate, models)"):
        from imagenet_multilabel.eval_cli.engine import launch, run, sweep  # noqa: F401
    load_model = run.load_model
    for name in (*LAUNCH_PHASES, *MODEL_PHASES):
        module = launch if name in LOOKED_UP_IN_LAUNCH else run
        if not hasattr(module, name):
            raise SystemExit(f"{module.__name__} has no {name} any more: update {__file__}")
        setattr(module, name, timed_call(name, getattr(module, name)))
    run.prediction_batches = first_batch_timed(run.prediction_batches)
    main_started = time.perf_counter()
    if profile_path:
        import cProfile

        profiler = cProfile.Profile()
        status = profiler.runcall(cli.main, run_argv)
        profiler.dump_stats(profile_path)
    else:
        status = cli.main(run_argv)
    phases.append(("cli.main", time.perf_counter() - main_started))
    phases.append(("child total", time.perf_counter() - started))
    with _clock(phases, WARM_LOAD):  # the libraries it imports are imported by now
        load_model(run_argv[run_argv.index("--model") + 1])
    worker_start = [_worker_start_up(int(run_argv[run_argv.index("--num-workers") + 1]))]
    worker_start.append(_worker_start_up(int(run_argv[run_argv.index("--num-workers") + 1])))
    print(json.dumps({"status": status, "phases": phases, "worker_start_up": worker_start}))


class _clock:
    """``with _clock(phases, name):`` appends ``(name, seconds)``; no imports needed."""

    def __init__(self, phases: list[tuple[str, float]], name: str) -> None:
        self.phases, self.name = phases, name

    def __enter__(self) -> None:
        self.begun = time.perf_counter()

    def __exit__(self, *_: object) -> None:
        self.phases.append((self.name, time.perf_counter() - self.begun))


def _worker_start_up(num_workers: int) -> float:
    """Seconds from a DataLoader's creation to its first batch, for a dataset that does nothing:
    the cost of starting ``num_workers`` workers in a process that has torch and a model loaded."""
    import torch
    from torch.utils.data import DataLoader

    begun = time.perf_counter()
    next(iter(DataLoader(torch.arange(64), batch_size=8, num_workers=num_workers)))
    return time.perf_counter() - begun


# ---------------------------------------------------------------------------------------------
# The parent.


def end_to_end(args_list: list[str]) -> float:
    """Wall seconds of the command as a user runs it."""
    from timing import time_command

    command = [sys.executable, "-m", "imagenet_multilabel", *args_list]
    return time_command(command, env=command_env()).wall_s


def instrumented(args_list: list[str], profile: Path | None) -> dict[str, Any]:
    command = [sys.executable, __file__, CHILD_FLAG, str(profile or ""), *args_list]
    completed = subprocess.run(command, env=command_env(), capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"instrumented run failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def slowest_imports(args_list: list[str], count: int) -> list[tuple[float, str]]:
    """The ``count`` slowest imports of the command, cumulative seconds, outermost level only
    where an import is nested in another listed one."""
    command = [sys.executable, "-X", "importtime", "-m", "imagenet_multilabel", *args_list]
    completed = subprocess.run(command, env=command_env(), capture_output=True, text=True)
    rows = []
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append((int(cumulative) / 1e6, depth, name.strip()))
    top_level = [(seconds, name) for seconds, depth, name in rows if depth <= 2]
    return sorted(top_level, reverse=True)[:count]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--models", type=int, default=1, help="copies of the model, one sweep")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--profile", action="store_true", help="cProfile the instrumented run")
    parser.add_argument("--imports", type=int, default=15, help="slowest imports to list")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(BENCHMARKS))
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        os.environ["HF_HOME"] = str(directory / "hf_home")
        workspace = make_workspace(directory, args.images, args.models)
        walls, runs = [], []
        for round_index in range(args.repeats):  # rounds interleave the two measurements
            out = directory / f"e2e-{round_index}"
            walls.append(end_to_end(run_arguments(workspace, out, args.num_workers)))
            profile = directory / "run.prof" if args.profile and round_index == 0 else None
            out = directory / f"phases-{round_index}"
            runs.append(instrumented(run_arguments(workspace, out, args.num_workers), profile))
        imports = slowest_imports(
            run_arguments(workspace, directory / "imports", args.num_workers), args.imports
        )
        if args.profile:
            print_profile(directory / "run.prof")
    return report(args, workspace["images"], walls, runs, imports)


def report(
    args: argparse.Namespace,
    num_images: int,
    walls: list[float],
    runs: list[dict[str, Any]],
    imports: list[tuple[float, str]],
) -> dict[str, Any]:
    """Print the breakdown (medians over the rounds) and return it as a JSON-able summary."""
    per_round = [_summed(run["phases"]) for run in runs]
    names = list(per_round[0])
    phases = {name: statistics.median(r.get(name, 0.0) for r in per_round) for name in names}
    wall = statistics.median(walls)
    model_load = phases[WARM_LOAD] * args.models
    steady_loop = max(0.0, phases.get("predict_group", 0.0) - phases.get(FIRST_BATCH, 0.0))
    accounted = sum(
        phases.get(name, 0.0)
        for name in ("import of the CLI", "import of the run machinery (torch, accelerate, models)")
    )
    outside = wall - phases["cli.main"] - accounted
    labels = {**LAUNCH_PHASES, **MODEL_PHASES}
    print(f"{num_images} images, {args.models} model(s), {args.num_workers} workers, "
          f"medians of {args.repeats} rounds")  # fmt: skip
    print(f"(a) end to end                          {wall:7.2f} s")
    print(f"    minus the model's own load          {wall - model_load:7.2f} s")
    fixed = wall - model_load - steady_loop
    print(f"    minus the loop's steady state       {fixed:7.2f} s  (fixed cost; goal <= 5 s)")
    print("(b) phases of the instrumented run (a sweep sums its models):")
    for name in names:
        if name in ("cli.main", "child total", WARM_LOAD):
            continue
        print(f"    {labels.get(name, name):<56} {phases[name]:7.3f} s")
    rest = phases["cli.main"] - sum(
        phases.get(name, 0.0)
        for name in (*LAUNCH_PHASES, *MODEL_PHASES)
        if name != "resolve_labels"
    )
    print(f"    {'rest of cli.main (CLI, options, report, locks)':<56} {rest:7.3f} s")
    print(f"    {'interpreter start-up + exit (e2e wall - child clock)':<56} {outside:7.3f} s")
    if phases.get("_check_headers"):
        per_image = phases["_check_headers"] / num_images / args.models * 1e6
        print(f"    header check per image: {per_image:.0f} us (x 50,000 = "
              f"{per_image * 0.05:.1f} s)")  # fmt: skip
    worker = statistics.median(w for run in runs for w in run["worker_start_up"])
    print(f"    {WARM_LOAD:<56} {phases[WARM_LOAD]:7.3f} s")
    print(f"(c) {args.num_workers} DataLoader workers, start-up to first batch: {worker:.3f} s")
    print("(d) slowest imports (cumulative s):")
    for seconds, name in imports:
        print(f"    {seconds:6.3f}  {name}")
    summary = {
        "images": num_images,
        "models": args.models,
        "num_workers": args.num_workers,
        "end_to_end_s": walls,
        "end_to_end_median_s": round(wall, 3),
        "minus_model_load_s": round(wall - model_load, 3),
        "fixed_cost_s": round(fixed, 3),
        "phases_median_s": {name: round(seconds, 4) for name, seconds in phases.items()},
        "worker_start_up_s": round(worker, 3),
    }
    print(json.dumps(summary))
    return summary


def _summed(phases: list[tuple[str, float]]) -> dict[str, float]:
    """Phase seconds by name, calls of the same phase (one per model of a sweep) added."""
    total: dict[str, float] = {}
    for name, seconds in phases:
        total[name] = total.get(name, 0.0) + seconds
    return total


def print_profile(path: Path, count: int = 25) -> None:
    import pstats

    print(f"cProfile of the instrumented run, top {count} by cumulative time:")
    pstats.Stats(str(path)).sort_stats("cumulative").print_stats(count)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == CHILD_FLAG:
        instrumented_child(sys.argv[2:])
    else:
        main()

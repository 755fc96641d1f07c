"""Sweeps of the Hub (issue 21): planning the whole timm registry, and one sweep process that
decodes the images once.

(a) `imagenet-multilabel sweep plan --from timm` over the whole installed registry, offline, as a
    user types it (goal: < 5 s on the 2-core CPU), beside its floor, a Python that imports timm
    and exits (the registry lives in timm's model modules), in interleaved rounds;
(b) one `sweep run` process over small timm models (random weights, their registry preprocessing,
    a different geometry each) on synthetic 500x375 JPEGs, with ``--decoded-cache`` built by that
    process, instrumented: the decodes counted (in the cache's build and in the loop) and the
    wall and CPU seconds of each model's phases (load, the rest of its preparation, its loop, its
    scoring);
(c) against each model's forward pass alone on pre-made tensors (same input size, batch size and
    image count) and one decode pass of the images (as many threads as the cache's build): the
    whole sweep command over the sum of the forward passes plus one decode (goal: <= 1.15);
(d) the fixed cost of each model: the same sweep on a few images (``--limit``, the cache reused),
    each model's time there less its own load and its forward pass alone (goal: <= 1 s for the
    second and later models), beside today's way, one `run` process for a model (the same less
    the same).

CPU seconds (the process's threads and the child processes it waited for) are printed beside
wall seconds: on a shared machine they say more about the work than the wall time.

Run: ``python benchmarks/bench_hub_sweep.py [--images 256] [--batch-size 32] [--num-workers 1]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from timing import Rounds, Timing, time_command, timed

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))
from bench_run import make_images  # noqa: E402 (the same synthetic photos and annotations)

CHILD_FLAG = "--instrumented-child"
# Small timm models with one geometry each (input size, crop, interpolation at test time).
TAGS = (
    "mobilenetv3_large_100.ra_in1k",
    "efficientnet_b0.ra4_e3600_r224_in1k",
    "resnet18.tv_in1k",
    "vit_tiny_patch16_224.augreg_in21k_ft_in1k",
)


def make_models(directory: Path) -> list[Path]:
    """Each tag's architecture with random weights, in timm's Hub layout with its registry
    preprocessing (what `sweep plan` and the adapter read)."""
    import timm
    from timm.models._hub import save_for_hf

    torch.manual_seed(0)
    folders = []
    for tag in TAGS:
        model = timm.create_model(tag, pretrained=False)
        save_for_hf(model, directory / tag)
        folders.append(directory / tag)
    return folders


def command_env(directory: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TQDM_DISABLE": "1",
        "HF_HOME": str(directory / "hf_home"),
    }


def evaluation_arguments(tar: Path, annotations: Path, output: Path, args) -> list[str]:
    """What `sweep run` and `run` are given alike: images, labels, batches, workers, output."""
    return [
        "--images", str(tar), "--annotations", str(annotations), "--allow-unverified-annotations",
        "--split", "validation", "--batch-size", str(args.batch_size), "--num-workers",
        str(args.num_workers), "--output-dir", str(output),
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The instrumented child: one sweep process, its phases and decodes recorded.


def instrumented_child(argv: list[str]) -> None:
    """`sweep run ARGV` in this process, timed per phase and per model; JSON on stdout."""
    started = time.perf_counter()
    from imagenet_multilabel.eval_cli.commands import cli
    from imagenet_multilabel.eval_cli.engine import launch, run
    from imagenet_multilabel.eval_cli.feed import decoded_cache_build, loader
    from imagenet_multilabel.eval_cli.sweeps import execute

    phases: list[tuple[str, str, float, float]] = []  # (phase, model, wall, CPU seconds)
    decodes = {"cache build": 0, "loop": 0}

    def timed_call(name: str, function: Callable[..., Any], model_of) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with timed() as timing:
                result = function(*args, **kwargs)
            phases.append((name, model_of(args), timing.wall_s, timing.cpu_s))
            return result

        return wrapper

    def counted(where: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            decodes[where] += 1
            return function(*args, **kwargs)

        return wrapper

    run.load_model = timed_call("load", run.load_model, lambda a: Path(a[0]).name)
    run._prepared_model = timed_call("prepared", run._prepared_model, lambda a: a[1].model)
    run._feed_group = timed_call("loop", run._feed_group, lambda a: a[1][0].spec.model)
    run._finished = timed_call("finished", run._finished, lambda a: a[1].spec.model)
    execute.open_launch = timed_call("launch", execute.open_launch, lambda a: "")
    launch.open_decoded_cache = timed_call("cache", launch.open_decoded_cache, lambda a: "")
    loader.decode_image = counted("loop", loader.decode_image)
    decoded_cache_build.decode_image = counted("cache build", decoded_cache_build.decode_image)
    with timed() as inside:
        status = cli.main(argv)
    print(json.dumps({
        "status": status, "phases": phases, "decodes": decodes, "main_s": inside.wall_s,
        "main_cpu_s": inside.cpu_s, "child_s": time.perf_counter() - started,
    }))  # fmt: skip


def instrumented_sweep(arguments: list[str], env: dict[str, str]) -> dict[str, Any]:
    command = [sys.executable, __file__, CHILD_FLAG, *arguments]
    with timed() as timing:
        completed = subprocess.run(command, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"the instrumented sweep failed:\n{completed.stderr[-3000:]}")
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    if report["status"] != 0:
        raise RuntimeError(f"the sweep exited {report['status']}:\n{completed.stderr[-3000:]}")
    return {**report, "wall_s": timing.wall_s, "cpu_s": timing.cpu_s}


# ---------------------------------------------------------------------------------------------
# The anchors: forward passes alone, one decode pass, a `run` per model.


def forward_pass(folder: Path, count: int, batch_size: int) -> tuple[Timing, Timing]:
    """(the model's own load, its forward pass over ``count`` images) in this process, warm."""
    from imagenet_multilabel.eval_cli.models import load_model

    load_model(str(folder), device=torch.device("cpu"))  # the libraries imported
    with timed() as load:
        adapter = load_model(str(folder), device=torch.device("cpu"))
    size = adapter.preprocessing["input_size"]
    module = adapter.module.eval()
    batches = [min(batch_size, count - start) for start in range(0, count, batch_size)]
    inputs = [torch.rand(size_of_batch, *size) for size_of_batch in batches]
    with torch.inference_mode():
        adapter.logits(module, inputs[0])  # warm-up
        with timed() as forward:
            for pixels in inputs:
                adapter.logits(module, pixels)
    return load, forward


def decode_pass(tar: Path, threads: int) -> Timing:
    """Every image decoded once, in ``threads`` threads (as the cache's build decodes)."""
    from imagenet_multilabel.dataset_script.images.decode import decode_image
    from imagenet_multilabel.dataset_script.images.files import TarImageSource

    source = TarImageSource(tar)
    images = source.locate(sorted(source._index))
    with timed() as timing, ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda index: decode_image(images[index][1], images[index][0]),
                      range(len(images))))  # fmt: skip
    return timing


def per_model(report: dict[str, Any]) -> dict[str, dict[str, Timing]]:
    """Phase timings by model, in the order the sweep ran them."""
    models: dict[str, dict[str, Timing]] = {}
    for phase, model, wall, cpu in report["phases"]:
        if model:
            timing = models.setdefault(Path(model).name, {}).setdefault(phase, Timing(0.0, 0.0))
            timing.wall_s += wall
            timing.cpu_s += cpu
    return models


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--few", type=int, default=16, help="images of (d)'s sweep")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-workers", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the plan command")
    args = parser.parse_args(argv)
    rounds = Rounds()
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        env = command_env(directory)
        os.environ.update(HF_HUB_OFFLINE="1", HF_HOME=env["HF_HOME"])
        program = [sys.executable, "-m", "imagenet_multilabel"]
        for index in range(args.repeats):
            output = ["--output", str(directory / f"timm-{index}.jsonl")]
            rounds.command("plan", [*program, "sweep", "plan", "--from", "timm", *output], env)
            rounds.command("import timm", [sys.executable, "-c", "import timm"], env)
        tar, annotations, _ = make_images(directory, args.images)
        folders = make_models(directory)
        models_file = directory / "models.txt"
        models_file.write_text("".join(f"{folder}\n" for folder in folders))
        manifest = directory / "manifest.jsonl"
        time_command([*program, "sweep", "plan", "--from", "list", "--models", str(models_file),
                      "--output", str(manifest)], env)  # fmt: skip
        cache = ["--decoded-cache", str(directory / "cache")]
        sweeps, anchors = {}, {}
        runs = (("all", args.images, []), ("few", args.few, ["--limit", str(args.few)]))
        for name, count, limit in runs:
            arguments = evaluation_arguments(tar, annotations, directory / name, args)
            command = ["sweep", "run", str(manifest), *arguments, *cache, *limit]
            sweeps[name] = instrumented_sweep(command, env)
            anchors[name] = {f.name: forward_pass(f, count, args.batch_size) for f in folders}
        arguments = evaluation_arguments(tar, annotations, directory / "alone", args)
        limit = ["--limit", str(args.few)]
        today = time_command([*program, "run", "--model", str(folders[0]), *arguments, *limit], env)
        threads = max(1, args.num_workers, min(8, os.cpu_count() or 1))
        decode = decode_pass(tar, threads)
    return report(args, rounds, sweeps, anchors, decode, today, folders[0].name)


def report(args, rounds: Rounds, sweeps, anchors, decode: Timing, today: Timing, first: str):
    plan, floor = rounds.median("plan"), rounds.median("import timm")
    print(
        f"(a) sweep plan --from timm, whole registry: {plan.wall_s:.2f} s wall, {plan.cpu_s:.2f} s "
        f"CPU (median of {args.repeats}; best {rounds.best('plan').wall_s:.2f} s wall), goal < 5 s"
    )
    print(
        f"    a Python importing timm: {floor.wall_s:.2f} s wall, {floor.cpu_s:.2f} s CPU; the "
        f"plan is {plan.wall_s / floor.wall_s:.2f}x that (wall), {plan.cpu_s / floor.cpu_s:.2f}x "
        "(CPU)"
    )
    sweep = sweeps["all"]
    print(
        f"(b) one sweep process, {len(per_model(sweep))} models, {args.images} images, batch "
        f"{args.batch_size}, {args.num_workers} worker(s), its decoded cache built in it:"
    )
    print(
        f"    decodes: {sweep['decodes']['cache build']} in the cache's build, "
        f"{sweep['decodes']['loop']} in the models' loops; in (d)'s sweep, reusing the cache: "
        f"{sweeps['few']['decodes']}"
    )
    forward = Timing(
        sum(f.wall_s for _, f in anchors["all"].values()),
        sum(f.cpu_s for _, f in anchors["all"].values()),
    )
    anchor = Timing(forward.wall_s + decode.wall_s, forward.cpu_s + decode.cpu_s)
    print(
        f"(c) forward passes {forward.wall_s:.2f} s wall / {forward.cpu_s:.2f} s CPU + one decode "
        f"pass {decode.wall_s:.2f} / {decode.cpu_s:.2f} s"
    )
    ratio = Timing(sweep["wall_s"] / anchor.wall_s, sweep["cpu_s"] / anchor.cpu_s)
    print(
        f"    whole sweep command {sweep['wall_s']:.2f} s wall / {sweep['cpu_s']:.2f} s CPU: "
        f"{ratio.wall_s:.2f}x wall, {ratio.cpu_s:.2f}x CPU (goal <= 1.15)"
    )
    print(
        f"(d) fixed cost per model, sweep of {args.few} images (its time less its load and "
        "forward pass alone), wall / CPU:"
    )
    fixed = {}
    for name, phases in per_model(sweeps["few"]).items():
        spent = [
            sum(getattr(phases[p], unit) for p in ("prepared", "loop", "finished"))
            for unit in ("wall_s", "cpu_s")
        ]
        load, alone = anchors["few"][name]
        fixed[name] = Timing(
            spent[0] - phases["load"].wall_s - alone.wall_s,
            spent[1] - phases["load"].cpu_s - alone.cpu_s,
        )
        print(
            f"    {name:<45} load {phases['load'].wall_s:5.2f} s, forward {alone.wall_s:5.2f} s:"
            f" fixed {fixed[name].wall_s:5.2f} s wall, {fixed[name].cpu_s:5.2f} s CPU"
        )
    later = [timing.wall_s for timing in list(fixed.values())[1:]]
    load, alone = anchors["few"][first]
    today_fixed = Timing(
        today.wall_s - load.wall_s - alone.wall_s, today.cpu_s - load.cpu_s - alone.cpu_s
    )
    print(
        f"    second and later models: median {statistics.median(later):.2f} s, max "
        f"{max(later):.2f} s wall (goal <= 1 s); today, one `run` process for {first}: "
        f"{today_fixed.wall_s:.2f} s wall, {today_fixed.cpu_s:.2f} s CPU"
    )
    summary = {
        "plan_wall_s": rounds.wall_seconds()["plan"],
        "plan_cpu_s": round(plan.cpu_s, 3),
        "import_timm_wall_s": rounds.wall_seconds()["import timm"],
        "import_timm_cpu_s": round(floor.cpu_s, 3),
        "decodes": sweep["decodes"],
        "sweep_s": [round(sweep["wall_s"], 3), round(sweep["cpu_s"], 3)],
        "anchor_s": [round(anchor.wall_s, 3), round(anchor.cpu_s, 3)],
        "ratio": [round(ratio.wall_s, 3), round(ratio.cpu_s, 3)],
        "fixed_s": {name: [round(t.wall_s, 3), round(t.cpu_s, 3)] for name, t in fixed.items()},
        "today_fixed_s": [round(today_fixed.wall_s, 3), round(today_fixed.cpu_s, 3)],
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == CHILD_FLAG:
        instrumented_child(sys.argv[2:])
    else:
        main()

"""Speed of `imagenet-multilabel analyze`, and of its review page in a real headless browser.

(a) ``analyze`` vs ``score`` on the same 20,000 top-5 predictions (with probabilities, as `run`
    writes them; 80% right, the rest a random class), once the labels are cached: as whole
    commands (interleaved rounds, medians of wall and CPU time), and in one warm process (CPU
    time without the imports). Goals: analyze < 1 s and < 2x score.
(b) The review page for 500 mistakes from a tar of 500x375 JPEGs: the first ``analyze --images``
    writes the thumbnails, a second one reuses them (their mtimes must not change); the page
    then opens in headless chromium and filters (goal: < 1 s each); the page size is reported.
Labels: a synthetic annotation file of the published size in images (20 per class).
Run: ``python benchmarks/bench_analyze.py [--repeats 5]`` (part (b) needs chromium and
chromedriver, as the review page's test does).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from timing import Rounds, Timing, time_command, timed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from annotation_fixtures import synthetic_annotations, write_annotation_file  # noqa: E402
from browser_fixtures import headless_chromium, missing_browser_reason  # noqa: E402
from image_fixtures import add_tar_member  # noqa: E402
from imagenet_multilabel.dataset_script.annotations.published import load_annotations  # noqa: E402
from imagenet_multilabel.metric.references import References  # noqa: E402

NUM_REVIEW_MISTAKES = 500


def _predictions(references: References, wrong_rows: set[int], rng: random.Random) -> str:
    """JSONL as `run` writes it: the first correct label where right, else a random other class."""
    correct = references.label_lists("correct")
    accepted = [
        set(c) | set(u) for c, u in zip(correct, references.label_lists("unclear"), strict=True)
    ]
    lines = []
    for row, name in enumerate(references.file_names.tolist()):
        if row in wrong_rows or not correct[row]:
            top1 = rng.choice([c for c in range(1000) if c not in accepted[row]])
        else:
            top1 = correct[row][0]
        top5 = [top1, *rng.sample([c for c in range(1000) if c != top1], 4)]
        probs = [0.6, 0.2, 0.1, 0.06, 0.04]
        lines.append(
            json.dumps({"file_name": name, "prediction": top1, "top5": top5, "top5_probs": probs})
        )
    return "\n".join(lines) + "\n"


def _command(*args: str, env: dict[str, str]) -> Timing:
    """One `imagenet-multilabel` command in a fresh process."""
    return time_command([sys.executable, "-m", "imagenet_multilabel", *args], env)


def _in_process(
    score: list[str], analyze: list[str], env: dict[str, str], repeats: int
) -> dict[str, float]:
    """The same two commands in one warm process (as from the Python API or a notebook): their
    CPU time without the ~2 s of imports that every fresh command pays."""
    os.environ["HF_HOME"] = env["HF_HOME"]
    from imagenet_multilabel.eval_cli.commands.cli import main as cli_main

    commands = {"score": score, "analyze": analyze}
    rounds = Rounds()
    with contextlib.redirect_stdout(io.StringIO()):
        for command in commands.values():
            cli_main(command)  # imports: not counted
        for _ in range(repeats):
            for name, command in commands.items():
                with rounds.measure(name):
                    cli_main(command)
    cpu = {name: rounds.median(name).cpu_s for name in commands}
    return {
        "in_process_score_cpu_s": round(cpu["score"], 3),
        "in_process_analyze_cpu_s": round(cpu["analyze"], 3),
        "in_process_cpu_ratio": round(cpu["analyze"] / cpu["score"], 2),
    }


def _jpeg(rng: np.random.Generator) -> bytes:
    """A 500x375 photo-like JPEG: a smooth gradient with noise (~40-60 kB)."""
    y, x = np.mgrid[0:375, 0:500]
    base = np.stack([x * 0.5, y * 0.6, (x + y) * 0.3], axis=-1) + rng.integers(0, 255, 3)
    pixels = (base + rng.normal(0, 18, base.shape)).clip(0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    report: dict = {}
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        env = {**os.environ, "HF_HOME": str(directory / "hf_home"), "HF_HUB_OFFLINE": "1"}
        annotations = directory / "human_accuracy_v3.0.0.json"
        write_annotation_file(annotations, synthetic_annotations(images_per_class=20))
        validation = References.from_columns(
            load_annotations(
                annotations, allow_unverified=True, cache_dir=directory / "c"
            ).split_columns("validation")
        )
        labels = ["--annotations", str(annotations), "--allow-unverified-annotations"]
        rng = random.Random(0)
        rows = range(len(validation))

        # (a) analyze vs score, 20,000 predictions, no images
        predictions = directory / "a" / "predictions.jsonl"
        predictions.parent.mkdir()
        predictions.write_text(_predictions(validation, set(rng.sample(rows, len(rows) // 5)), rng))
        score = [
            "score",
            "--predictions",
            str(predictions),
            *labels,
            "--split",
            "all",
            "--output",
            str(directory / "a" / "scored.json"),
        ]
        analyze = ["analyze", "--predictions", str(predictions), *labels]
        _command(*score, env=env)  # parses the annotation file once into the compact cache
        rounds = Rounds()
        for _ in range(args.repeats):
            rounds.add("score", _command(*score, env=env))
            rounds.add("analyze", _command(*analyze, env=env))
        wall = {name: rounds.median(name).wall_s for name in ("score", "analyze")}
        cpu = {name: rounds.median(name).cpu_s for name in ("score", "analyze")}
        rejected = json.loads((directory / "a" / "analysis" / "results.json").read_text())
        report["a"] = {
            "num_predictions": len(validation),
            "num_rejected": rejected["mistakes"]["num_rejected"],
            "score_wall_s": round(wall["score"], 3),
            "analyze_wall_s": round(wall["analyze"], 3),
            "wall_ratio": round(wall["analyze"] / wall["score"], 2),
            "score_cpu_s": round(cpu["score"], 3),
            "analyze_cpu_s": round(cpu["analyze"], 3),
            "cpu_ratio": round(cpu["analyze"] / cpu["score"], 2),
            "load_average": os.getloadavg()[0],
        }
        report["a"].update(_in_process(score, analyze, env, args.repeats))
        print(f"(a) {report['a']}")

        # (b) the review page for 500 mistakes
        wrong_rows = set(
            rng.sample([r for r in rows if not validation.is_problematic[r]], NUM_REVIEW_MISTAKES)
        )
        predictions = directory / "b" / "predictions.jsonl"
        predictions.parent.mkdir()
        predictions.write_text(_predictions(validation, wrong_rows, rng))
        tar = directory / "b" / "val.tar"
        pixels = np.random.default_rng(0)
        with tarfile.open(tar, "w") as archive:
            for row in sorted(wrong_rows):
                add_tar_member(archive, validation.file_names[row], _jpeg(pixels))
        analyze = ["analyze", "--predictions", str(predictions), *labels, "--images", str(tar)]
        first = _command(*analyze, env=env).wall_s
        output = directory / "b" / "analysis"
        thumbnails = sorted((output / "review" / "thumbnails").iterdir())
        written = {path: path.stat().st_mtime_ns for path in thumbnails}
        second = _command(*analyze, env=env).wall_s
        assert {path: path.stat().st_mtime_ns for path in thumbnails} == written
        page = output / "review" / "index.html"
        report["b"] = {
            "num_mistakes": json.loads((output / "results.json").read_text())["mistakes"][
                "num_rejected"
            ],
            "first_analyze_with_thumbnails_s": round(first, 3),
            "second_analyze_reusing_them_s": round(second, 3),
            "thumbnails": len(thumbnails),
            "thumbnails_bytes": sum(path.stat().st_size for path in thumbnails),
            "page_bytes": page.stat().st_size,
        }
        reason = missing_browser_reason()
        if reason:
            report["b"]["browser"] = f"not measured: {reason}"
        else:
            report["b"].update(_browser_timings(page, directory / "downloads"))
        print(f"(b) {report['b']}")
    return report


def _browser_timings(page: Path, downloads: Path) -> dict[str, float]:
    """Open the page (navigation start to its script done, and to the load event, which waits
    for the thumbnails in view) and time two filters (change to rendered)."""
    downloads.mkdir()
    driver = headless_chromium(downloads)
    try:
        with timed() as opening:
            driver.get(page.as_uri())
        ready_ms, load_ms = driver.execute_script(
            "return [performance.getEntriesByName('review-ready')[0].startTime,"
            " performance.getEntriesByType('navigation')[0].loadEventEnd];"
        )
        filter_ms = {}
        for select, value in (("filter-source", "uncategorized"), ("filter-class", None)):
            filter_ms[select] = driver.execute_script(
                """for (const other of document.querySelectorAll('select[id^=filter-]')) {
                  other.value = '';
                }
                const select = document.getElementById(arguments[0]);
                select.value = arguments[1] === null ? select.options[1].value : arguments[1];
                const start = performance.now();
                select.dispatchEvent(new Event('change'));
                return performance.now() - start;""",
                select,
                value,
            )
        shown = driver.find_element("id", "shown-count").text
    finally:
        driver.quit()
    return {
        "open_wall_s": round(opening.wall_s, 3),
        "ready_ms": round(ready_ms, 1),
        "load_event_ms": round(load_ms, 1),
        "filter_source_ms": round(filter_ms["filter-source"], 1),
        "filter_class_ms": round(filter_ms["filter-class"], 1),
        "shown_after_filters": shown,
    }


if __name__ == "__main__":
    main()

"""Time and memory to reject a hostile predictions file: 10^6 rows, every name 20 times, or
30 MB of blank lines.

Rows of ``file_name`` and ``prediction`` (with ``--top5``: also ``top5`` and ``top5_probs``, as
``run`` writes them) in which the 50,000 validation file names each appear 20 times, so 950,000
rows repeat an earlier name and 50,000 names are duplicated. Reading must reject it in bounded
time and memory with a short message (issue 8; before the fix: 29.5 s, 690 MB peak RSS, a 6 MB
message). With ``--blank-mb 30``: a file of 30 MB of blank lines (31 million of them), which took
over 90 s when each went through json.loads' error path (issue 19); the goal is a few seconds.
Run it with ``PYTHONPATH=/work/main`` (another checkout) for the anchor of the same machine.
The read runs in a fresh child process, so its peak RSS (``resource.getrusage``) is the reader's
alone, not the writer's; its CPU time is printed beside the wall time, which other processes on
a shared machine inflate.
Run: ``python benchmarks/bench_predictions_file.py [--rows 1000000] [--format jsonl|csv] [--top5]
[--blank-mb MB]``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import timed

NUM_NAMES = 50_000


def write_file(path: Path, num_rows: int, file_format: str, with_top5: bool) -> None:
    """``num_rows`` predictions cycling through the 50,000 validation file names."""
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as out:
        if file_format == "csv":
            out.write("file_name,prediction,top5\n" if with_top5 else "file_name,prediction\n")
        for row in range(num_rows):
            name = f"ILSVRC2012_val_{row % NUM_NAMES + 1:08d}.JPEG"
            top5 = rng.sample(range(1000), 5)
            if file_format == "csv":
                ranked = f",{' '.join(map(str, top5))}" if with_top5 else ""
                out.write(f"{name},{top5[0]}{ranked}\n")
                continue
            record = {"file_name": name, "prediction": top5[0]}
            if with_top5:
                record.update(top5=top5, top5_probs=[0.5, 0.2, 0.1, 0.05, 0.01])
            out.write(json.dumps(record) + "\n")


def write_blank_lines(path: Path, megabytes: int, file_format: str) -> None:
    """``megabytes`` MB of empty lines (after a CSV's header): no prediction at all."""
    with open(path, "w", encoding="utf-8") as out:
        if file_format == "csv":
            out.write("file_name,prediction\n")
        for _ in range(megabytes):
            out.write("\n" * 1_000_000)


def read_once(path: str) -> None:
    """Child process: read the file, print the outcome as one JSON line."""
    from imagenet_multilabel.eval_cli.scores.predictions import (
        PredictionsFileError,
        read_predictions,
    )

    message = ""
    with timed() as reading:
        try:
            read_predictions(path)
        except PredictionsFileError as error:
            message = str(error)
    print(json.dumps({"seconds": reading.wall_s, "cpu_seconds": reading.cpu_s, "message": message}))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    parser.add_argument("--top5", action="store_true", help="rows as run writes them, with top5")
    parser.add_argument(
        "--blank-mb", type=int, metavar="MB", help="instead: a file of MB megabytes of blank lines"
    )
    parser.add_argument("--read", metavar="PATH", help=argparse.SUPPRESS)  # the child's mode
    args = parser.parse_args(argv)
    if args.read:
        read_once(args.read)
        return {}
    with tempfile.TemporaryDirectory() as temp:
        path = Path(temp) / f"predictions.{args.format}"
        if args.blank_mb:
            write_blank_lines(path, args.blank_mb, args.format)
        else:
            write_file(path, args.rows, args.format, args.top5)
        with timed() as child_timing:
            child = subprocess.run(
                [sys.executable, __file__, "--read", str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
        outcome = json.loads(child.stdout)
        size_mb = path.stat().st_size / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    report = {
        "rows": "blank lines only" if args.blank_mb else args.rows,
        "format": args.format,
        "top5": args.top5,
        "file_mb": round(size_mb, 1),
        "read_s": round(outcome["seconds"], 2),
        "read_cpu_s": round(outcome["cpu_seconds"], 2),  # less swayed by other processes
        "child_wall_s": round(child_timing.wall_s, 2),
        "peak_rss_mb": round(peak_mb),
        "message_chars": len(outcome["message"]),
        "message_start": outcome["message"][:300],
    }
    for key, value in report.items():
        print(f"{key}: {value}")
    return report


if __name__ == "__main__":
    main()

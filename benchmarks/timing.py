"""The one way the benchmarks time things: wall and CPU seconds of a block or a command, collected
over rounds, summarised as the best or the median.

CPU time is this process's (all threads) plus that of the child processes it has waited for, so
one number covers in-process work and commands alike; on a shared machine it says more about
the work than the wall time, which other processes inflate.
"""

from __future__ import annotations

import math
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Timing:
    """Seconds of one measurement; NaN until the measured block has finished."""

    wall_s: float = math.nan
    cpu_s: float = math.nan


def _cpu_s() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@contextmanager
def timed() -> Iterator[Timing]:
    """``with timed() as timing: ...``; ``timing`` holds the block's seconds once it ends."""
    timing = Timing()
    wall, cpu = time.perf_counter(), _cpu_s()
    yield timing
    timing.wall_s, timing.cpu_s = time.perf_counter() - wall, _cpu_s() - cpu


def time_command(command: Sequence[str], env: Mapping[str, str] | None = None) -> Timing:
    """One command, its output captured; a failure raises with the command and its stderr."""
    with timed() as timing:
        completed = subprocess.run(command, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {completed.returncode}:\n{completed.stderr[-3000:]}"
        )
    return timing


class Rounds:
    """Timings of named measurements over rounds. Interleaving the measurements within each
    round keeps a noisy spell on the machine from hitting one of them only."""

    def __init__(self) -> None:
        self.timings: dict[str, list[Timing]] = {}

    def add(self, name: str, timing: Timing) -> Timing:
        self.timings.setdefault(name, []).append(timing)
        return timing

    @contextmanager
    def measure(self, name: str) -> Iterator[Timing]:
        """``with rounds.measure(name): ...`` adds the block's timing under ``name``."""
        with timed() as timing:
            yield timing
        self.add(name, timing)

    def command(self, name: str, command: Sequence[str], env: Mapping[str, str] | None = None):
        """Run ``command`` once, its timing added under ``name``."""
        return self.add(name, time_command(command, env))

    def best(self, name: str) -> Timing:
        return self._summary(name, min)

    def median(self, name: str) -> Timing:
        return self._summary(name, statistics.median)

    def _summary(self, name: str, of: Callable[[list[float]], float]) -> Timing:
        timings = self.timings[name]
        return Timing(of([t.wall_s for t in timings]), of([t.cpu_s for t in timings]))

    def wall_seconds(self) -> dict[str, list[float]]:
        """Every round's wall seconds by name, rounded to ms, for a benchmark's JSON summary."""
        return {name: [round(t.wall_s, 3) for t in ts] for name, ts in self.timings.items()}

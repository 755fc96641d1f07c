"""benchmarks/timing.py, the timing every benchmark script shares."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from timing import Rounds, Timing, time_command, timed  # noqa: E402

BUSY_CHILD = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"


def test_cpu_time_counts_the_child_processes_waited_for():
    timing = time_command([sys.executable, "-c", BUSY_CHILD])
    assert timing.cpu_s >= 0.3
    assert timing.wall_s >= 0.3


def test_a_block_is_timed_once_it_ends():
    with timed() as timing:
        assert math.isnan(timing.wall_s)  # not measured yet
        sum(range(10_000))
    assert 0 < timing.wall_s < 5 and 0 <= timing.cpu_s < 5


def test_a_failing_command_raises_with_its_stderr():
    with pytest.raises(RuntimeError, match=r"exited 1:\nboom"):
        time_command([sys.executable, "-c", "import sys; sys.exit('boom')"])


def test_rounds_summarise_wall_and_cpu_each_on_its_own():
    rounds = Rounds()
    for wall, cpu in ((3.0, 1.0), (1.0, 2.0), (2.0, 3.0)):
        rounds.add("score", Timing(wall, cpu))
    with rounds.measure("other"):
        pass
    assert rounds.best("score") == Timing(1.0, 1.0)
    assert rounds.median("score") == Timing(2.0, 2.0)
    assert rounds.wall_seconds()["score"] == [3.0, 1.0, 2.0]
    assert set(rounds.timings) == {"score", "other"}

"""A sweep on a real SLURM cluster (tests/slurm_fixtures.py starts one on this machine): `sweep
slurm --array 3 --submit` over six tiny models, each task a separate process running its shard,
gives the results tree that one process gives (tests/sweep_fixtures.py says what is compared).
Resubmitting is tested in one process (tests/test_sweep_run.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from imagenet_multilabel.eval_cli.commands.cli import main
from slurm_fixtures import PARTITION, SlurmCluster
from slurm_fixtures import slurm_cluster as slurm_cluster  # noqa: F401 (the fixture)
from sweep_fixtures import common_args, comparable_tree, make_sweep_workspace, sweep_run_args

# slow: the daemons and each array task are processes of their own (fresh interpreters).
pytestmark = [pytest.mark.usefixtures("fresh_accelerator_state"), pytest.mark.slow]
JOB_TIMEOUT_S = 600


def _submit(cluster: SlurmCluster, workspace, tree: Path, monkeypatch, capsys) -> str:
    """`sweep slurm --submit` (3 tasks) run as a user would; the job id it printed."""
    monkeypatch.setenv("SLURM_CONF", cluster.env["SLURM_CONF"])
    monkeypatch.setenv("PATH", cluster.env["PATH"])
    args = ["sweep", "slurm", str(workspace["manifest"]), *common_args(workspace, tree)]
    assert main([*args, "--array", "3", "--partition", PARTITION, "--submit"]) == 0
    printed = capsys.readouterr().out
    return re.search(r"submitted job (\d+)", printed)[1]


def test_a_slurm_job_array_writes_the_tree_of_one_process(
    slurm_cluster: SlurmCluster, tmp_path, monkeypatch, capsys
):
    workspace = make_sweep_workspace(tmp_path / "workspace")
    one = tmp_path / "one"
    assert main(sweep_run_args(workspace, one)) == 2  # the broken model fails
    capsys.readouterr()

    tree = tmp_path / "slurm"
    job = _submit(slurm_cluster, workspace, tree, monkeypatch, capsys)
    slurm_cluster.wait_for_job(job, JOB_TIMEOUT_S)
    logs = sorted((tree / "_sweep" / "logs").glob(f"{job}_*.out"))
    assert len(logs) == 3, slurm_cluster.task_states(job)
    summaries = [log.read_text().strip().splitlines()[-1] for log in logs]
    assert all(re.match(r"shard [012]/3: ", line) for line in summaries), summaries
    assert sum(int(re.search(r"(\d+) run", line)[1]) for line in summaries) == 6
    states = slurm_cluster.task_states(job)
    assert sorted(states.values()) == ["COMPLETED 0:0", "COMPLETED 0:0", "FAILED 2:0"], states
    assert comparable_tree(tree) == comparable_tree(one)

    assert main(["sweep", "status", str(tree)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "6 model(s): 5 done, 1 failed"

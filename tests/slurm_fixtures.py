"""A real one-node SLURM cluster for the tests: munged with a generated key, slurmctld and slurmd
on this host, a minimal slurm.conf, everything (sockets, state, spool, logs) in a temporary
folder and on free ports, started without systemd and stopped at the end of the session.

Debian's ``slurm-wlm`` and ``munge`` provide the daemons (``.ci/run`` installs them when
missing). Where they are not installed or cannot start (no root to run jobs as their users, a
sandbox without sockets), the tests that need the cluster are skipped, saying why.
"""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol")
PARTITION = "sweep"
START_TIMEOUT_S = 30


@dataclass(frozen=True)
class SlurmCluster:
    """A running cluster: ``env`` points SLURM's commands at it (``SLURM_CONF``)."""

    folder: Path
    env: dict[str, str]

    def run(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def wait_for_job(self, job_id: str, timeout: float) -> None:
        """Until no task of ``job_id`` is pending or running (every task ended)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            queued = self.run("squeue", "--noheader", "--jobs", job_id, "--format", "%i %T")
            if queued.returncode == 0 and not queued.stdout.strip():
                return
            time.sleep(0.5)
        raise AssertionError(f"job {job_id} still queued after {timeout} s: {queued.stdout}")

    def task_states(self, job_id: str) -> dict[str, str]:
        """Array task id -> its final state and exit code, from the controller."""
        shown = self.run("scontrol", "--oneliner", "show", "job", job_id)
        states = {}
        for line in shown.stdout.splitlines():
            fields = dict(word.split("=", 1) for word in line.split() if "=" in word)
            states[fields.get("ArrayTaskId", "")] = f"{fields['JobState']} {fields['ExitCode']}"
        return states


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _config(folder: Path, host: str, user: str) -> str:
    cpus = max(os.cpu_count() or 1, 3)  # three array tasks at once, even on two cores
    return f"""\
ClusterName=imltest
SlurmctldHost={host}
SlurmUser={user}
SlurmdUser={user}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={folder}/munge.socket
CredType=cred/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
MailProg=/bin/true
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _log_tail(folder: Path) -> str:
    tails = []
    for name in ("munged.log", "slurmctld.log", "slurmd.log"):
        path = folder / name
        if path.exists():
            lines = path.read_text(errors="replace").strip().splitlines()[-3:]
            tails.append(f"{name}: {' | '.join(lines)}")
    return "; ".join(tails) or "no daemon wrote a log"


def start_cluster(folder: Path) -> SlurmCluster:
    """munged, slurmctld and slurmd started on this host; ``pytest.skip`` with the reason when
    they are missing or do not come up."""
    missing = [name for name in (*DAEMONS, *CLIENTS) if shutil.which(name) is None]
    missing = [name for name in missing if not Path("/usr/sbin", name).exists()]
    if missing:
        pytest.skip(f"SLURM is not installed here (missing {', '.join(missing)}): apt-get "
                    "install slurm-wlm munge (.ci/run does)")  # fmt: skip
    host = socket.gethostname().split(".")[0]
    for name in ("state", "spool"):
        (folder / name).mkdir(parents=True)
    key = folder / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    key.chmod(0o600)
    conf = folder / "slurm.conf"
    conf.write_text(_config(folder, host, getpass.getuser()))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    env["PATH"] = f"{env.get('PATH', '')}:/usr/sbin"
    commands = [
        ["munged", f"--key-file={key}", f"--socket={folder}/munge.socket", "--force",
         f"--pid-file={folder}/munged.pid", f"--log-file={folder}/munged.log",
         f"--seed-file={folder}/munged.seed"],
        ["slurmctld", "-f", str(conf)],
        ["slurmd", "-f", str(conf)],
    ]  # fmt: skip
    cluster = SlurmCluster(folder, env)
    for command in commands:
        started = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
        if started.returncode != 0:
            stop_cluster(cluster)
            pytest.skip(
                f"the SLURM daemons cannot start here ({command[0]} exited "
                f"{started.returncode}: {started.stderr.strip()[-300:]}; {_log_tail(folder)})"
            )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        nodes = cluster.run("sinfo", "--noheader", "--format", "%t")
        if nodes.returncode == 0 and nodes.stdout.strip() in ("idle", "mix", "alloc"):
            return cluster
        time.sleep(0.3)
    stop_cluster(cluster)
    pytest.skip(f"the SLURM node never became idle ({_log_tail(folder)})")


def stop_cluster(cluster: SlurmCluster) -> None:
    """Every daemon stopped: SLURM's by ``scontrol shutdown``, munged by its socket; any still
    running after that by the pid it wrote."""
    folder = cluster.folder
    cluster.run("scontrol", "shutdown", timeout=30)
    subprocess.run(["munged", "--stop", f"--socket={folder}/munge.socket"], capture_output=True,
                   env=cluster.env, timeout=30)  # fmt: skip
    deadline = time.monotonic() + 10
    pid_files = [folder / f"{name}.pid" for name in DAEMONS]
    while time.monotonic() < deadline and any(_alive(path) for path in pid_files):
        time.sleep(0.2)
    for path in pid_files:
        if _alive(path):
            os.kill(int(path.read_text().split()[0]), 9)


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    # A short path: munge's socket path must fit in a sockaddr_un (108 bytes).
    folder = Path(tmp_path_factory.mktemp("slurm"))
    if len(str(folder / "munge.socket")) > 100:
        folder = Path(tempfile.mkdtemp(prefix="slurm-"))
    cluster = start_cluster(folder)
    try:
        yield cluster
    finally:
        stop_cluster(cluster)

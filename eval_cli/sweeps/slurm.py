"""`sweep slurm`: a SLURM job array whose task K runs ``sweep run ... --shard K/N``, written as
an sbatch script (and submitted with ``sbatch`` on request).

One array task is one process scoring its share, model after model; a model that needs several
GPUs or nodes stays a single `run` under accelerate or torchrun. The script passes the shard
explicitly (``$SLURM_ARRAY_TASK_ID/N``), so resubmitting part of the array (``sbatch
--array=3,7 SCRIPT``) runs those shards; every task skips the models already done, so
resubmitting the whole script runs only what is not done.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ...metric.errors import ToolkitError, brief_repr, shorten
from .. import outputs
from ..frame import FILE, FOLDER, Read, Write, command
from .manifest import read_manifest

SCRIPT_NAME = "sweep.sbatch"
# The job array's options, as `write_job_array` and `sweep slurm` name them (not `sweep run`'s).
JOB_OPTIONS = (
    "array",
    "partition",
    "gpus_per_task",
    "cpus_per_task",
    "time",
    "job_name",
    "sbatch_option",
)
LOGS = "logs"
# What an #SBATCH value may hold: sbatch reads the rest of the line, so no blanks or controls.
_SBATCH_VALUE = re.compile(r"[\w.:,=@+/%-]+")


class SlurmError(ToolkitError):
    """The script cannot be written or submitted."""


@dataclass(frozen=True)
class ArrayJob:
    """The job array's resources; None: the cluster's default."""

    tasks: int
    partition: str | None = None
    gpus_per_task: str | None = None
    cpus_per_task: int | None = None
    time: str | None = None
    job_name: str = "imagenet-multilabel-sweep"
    extra: tuple[str, ...] = ()  # more #SBATCH options, e.g. --account=ORG

    def directives(self, logs: Path) -> list[str]:
        """The script's ``#SBATCH`` lines; a value sbatch would misread is refused."""
        given = {
            "--job-name": self.job_name,
            "--array": f"0-{self.tasks - 1}",
            "--ntasks": "1",
            "--output": str(logs / "%A_%a.out"),
            "--partition": self.partition,
            "--gpus-per-task": self.gpus_per_task,
            "--cpus-per-task": self.cpus_per_task,
            "--time": self.time,
        }
        lines = []
        for option, value in given.items():
            if value is None:
                continue
            if not _SBATCH_VALUE.fullmatch(str(value)):
                raise SlurmError(
                    f"{option} {brief_repr(value)}: sbatch reads it from a script line, which "
                    "takes no blanks, quotes or control characters"
                )
            lines.append(f"#SBATCH {option}={value}")
        for option in self.extra:
            if not option.startswith("--") or not _SBATCH_VALUE.fullmatch(option):
                raise SlurmError(
                    f"--sbatch-option {brief_repr(option)}: expected one sbatch option such as "
                    "--account=ORG or --qos=high, without blanks"
                )
            lines.append(f"#SBATCH {option}")
        return lines


def sbatch_script(job: ArrayJob, run_arguments: Sequence[str], logs: Path) -> str:
    """The script: its directives, then task K's ``sweep run`` with ``--shard K/N``, started
    from the submitting directory with this Python."""
    if job.tasks < 1:
        raise SlurmError(f"--array {job.tasks}: expected at least one task")
    command = [sys.executable, "-m", "imagenet_multilabel", "sweep", "run", *run_arguments]
    return "\n".join(
        [
            "#!/bin/bash",
            f"# Written by `imagenet-multilabel sweep slurm`: {job.tasks} array task(s), task K "
            f"runs shard K/{job.tasks}.",
            "# Resubmit it to run only the models not done yet; `imagenet-multilabel sweep status "
            "TREE` shows where each model stands.",
            *job.directives(logs),
            "set -euo pipefail",
            f"cd {shlex.quote(os.getcwd())}",
            f'exec {shlex.join(command)} --shard "${{SLURM_ARRAY_TASK_ID}}/{job.tasks}"',
            "",
        ]
    )


def write_script(path: Path, text: str, logs: Path) -> None:
    """The script (executable) and the logs folder SLURM writes into (it creates none)."""
    try:
        logs.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise outputs.write_error(logs, error, "nothing was written") from error
    outputs.write_text(path, text, mode=0o755)


def _submitted(script: Path) -> str:
    """``sbatch`` the script; its job id. SLURM missing or refusing is one error, the script
    kept for submitting by hand."""
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise SlurmError(
            f"sbatch is not installed here (SLURM's client is not on PATH); the script is written: "
            f"submit it where SLURM is, with `sbatch {script}`"
        )
    try:
        completed = subprocess.run(
            [sbatch, "--parsable", str(script)], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SlurmError(f"sbatch {script} failed: {error}; the script is kept") from error
    if completed.returncode != 0:
        said = shorten(" ".join(completed.stderr.split()) or f"exit {completed.returncode}")
        raise SlurmError(f"sbatch refused {script}: {said}; the script is kept")
    return completed.stdout.strip().split(";")[0]


@command(
    Read("manifest", FILE, expected="a manifest of `sweep plan` (JSONL)"),
    Write("script", FILE),
    Write("logs", FOLDER, writes=None),  # SLURM writes every task's log there
    plain=("run_arguments", *JOB_OPTIONS, "submit"),
)
def write_job_array(
    manifest: str | os.PathLike,
    script: str | os.PathLike,
    *,
    logs: str | os.PathLike,
    run_arguments: Sequence[str],
    array: int,
    partition: str | None = None,
    gpus_per_task: str | None = None,
    cpus_per_task: int | None = None,
    time: str | None = None,
    job_name: str = "imagenet-multilabel-sweep",
    sbatch_option: Sequence[str] = (),
    submit: bool = False,
) -> tuple[int, str | None]:
    """`sweep slurm`: the sbatch script of ``array`` tasks, task K running ``sweep run
    RUN_ARGUMENTS --shard K/ARRAY`` with its log in ``logs``, written to ``script`` (and
    submitted with ``submit``); how many models of ``manifest`` it scores, and the job id."""
    scored = sum(entry.skipped is None for entry in read_manifest(manifest))
    job = ArrayJob(
        array, partition, gpus_per_task, cpus_per_task, time, job_name, tuple(sbatch_option)
    )
    logs = Path(logs).resolve()
    write_script(Path(script), sbatch_script(job, run_arguments, logs), logs)
    return scored, (_submitted(Path(script)) if submit else None)

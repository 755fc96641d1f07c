"""What the `run` tests share: a small workspace (annotations, a tar of their images, a tiny
model), the command line of a run into it, and its predictions keyed by file name."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from annotation_fixtures import synthetic_annotations, write_annotation_file
from image_fixtures import make_val_tar
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.eval_cli.commands.cli import build_parser
from imagenet_multilabel.eval_cli.scores.predictions import read_predictions
from model_fixtures import save_resnet


def make_workspace(root: Path) -> dict[str, Path]:
    """A ~150-image annotation file (ImageNet-M included), its images as a tar, and a model."""
    data = synthetic_annotations()
    validation = sorted(n for n in data["initial_annots"] if n.startswith("ILSVRC"))
    keep = set(validation[:83]) | set(data["imagenet_m"])
    assert len(keep) % 8, "an image count that 2 processes x batch 4 do not divide"
    data["initial_annots"] = {k: v for k, v in data["initial_annots"].items() if k in keep}
    write_annotation_file(root / "annotations.json", data)
    image_ids = sorted(classes.image_id_from_file_name(n) for n in keep)
    make_val_tar(root / "val.tar", image_ids)
    return {
        "root": root,
        "annotations": root / "annotations.json",
        "tar": root / "val.tar",
        "image_ids": image_ids,
        "resnet": save_resnet(root / "resnet"),
    }


def run_args(workspace, model: Path, output: Path, *extra: str) -> list[str]:
    """`run` of ``model`` on the workspace's tar and labels, in this process's DataLoader."""
    return [
        "run",
        "--model",
        str(model),
        "--images",
        str(workspace["tar"]),
        "--annotations",
        str(workspace["annotations"]),
        "--allow-unverified-annotations",
        "--output-dir",
        str(output),
        "--num-workers",
        "0",
        *extra,
    ]


def with_option(args: list[str], option: str, value: str) -> list[str]:
    """``args`` with the value of ``option`` replaced."""
    changed = list(args)
    changed[changed.index(option) + 1] = value
    return changed


def namespace(args: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(args)


def prediction_ids(path: Path) -> dict[str, list[int]]:
    """Top-5 class ids per file name."""
    predictions = read_predictions(path)
    return dict(zip(predictions.file_names.tolist(), predictions.topk.tolist(), strict=True))


def torchrun_two(args: list[str]) -> subprocess.CompletedProcess:
    """``imagenet-multilabel ARGS`` under torchrun as two CPU processes of one thread each, its
    rendezvous on a free port (``--standalone``) so that tests run in parallel (``pytest -n``)
    never meet on torchrun's fixed default port."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2", "-m", "imagenet_multilabel", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)

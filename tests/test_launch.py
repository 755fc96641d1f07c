"""How launchers start the command, and several evaluations in one Python process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from annotation_fixtures import synthetic_annotations, write_annotation_file
from image_fixtures import make_val_folder
from imagenet_multilabel.dataset_script import classes
from model_fixtures import save_resnet, save_vit

from imagenet_multilabel import LabelSource, evaluate_model


@pytest.fixture(scope="module")
def imagenet_m_workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The 68 ImageNet-M images as a folder, their annotations, and two tiny models."""
    root = tmp_path_factory.mktemp("launch")
    data = synthetic_annotations()
    write_annotation_file(root / "annotations.json", data)
    image_ids = sorted(classes.image_id_from_file_name(name) for name in data["imagenet_m"])
    return {
        "annotations": root / "annotations.json",
        "images": make_val_folder(root / "images", image_ids, class_subfolders=False),
        "resnet": save_resnet(root / "resnet"),
        "vit": save_vit(root / "vit"),
    }


def _run_args(workspace: dict[str, Path], output: Path) -> list[str]:
    return [
        "run",
        "--model",
        str(workspace["resnet"]),
        "--images",
        str(workspace["images"]),
        "--annotations",
        str(workspace["annotations"]),
        "--allow-unverified-annotations",
        "--output-dir",
        str(output),
        "--num-workers",
        "0",
        "--batch-size",
        "17",
    ]


@pytest.mark.slow
def test_accelerate_launch_runs_the_module_form(imagenet_m_workspace, tmp_path):
    output = tmp_path / "accelerate"
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "1",
        "-m", "imagenet_multilabel", *_run_args(imagenet_m_workspace, output),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    document = json.loads((output / "results.json").read_text())
    assert document["metrics"]["imagenet_m"]["imagenet_m_total"] == 68
    assert document["environment"]["command"][:2] == ["imagenet-multilabel", "run"]
    assert "starts a single process" not in completed.stderr  # our warning, not accelerate's


@pytest.mark.slow
def test_a_cpu_launch_of_several_processes_that_starts_one_warns(imagenet_m_workspace, tmp_path):
    """`accelerate launch --cpu --num_processes 2` starts a single process (accelerate's simple
    launcher); the run says so and how to get two, and still completes."""
    output = tmp_path / "collapsed"
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
        "-m", "imagenet_multilabel", *_run_args(imagenet_m_workspace, output),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "MASTER_ADDR")}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "torchrun --nproc_per_node N -m imagenet_multilabel run" in completed.stderr
    assert json.loads((output / "results.json").read_text())["run"]["num_processes"] == 1


def test_two_models_and_two_precisions_in_one_process(
    imagenet_m_workspace, tmp_path, monkeypatch, capsys
):
    """evaluate_model creates its own Accelerator; a second call with another model and another
    precision in the same process works (accelerate keeps one global state). bf16 on a CPU
    without native bf16 warns that it will be slow."""
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    common = {
        "labels": LabelSource(imagenet_m_workspace["annotations"], allow_unverified=True),
        "batch_size": 17,
    }
    images = str(imagenet_m_workspace["images"])
    first = evaluate_model(
        str(imagenet_m_workspace["resnet"]), images, output_dir=tmp_path / "a", **common
    )
    assert "no native bf16 support" not in capsys.readouterr().err
    second = evaluate_model(
        str(imagenet_m_workspace["vit"]),
        images,
        output_dir=tmp_path / "b",
        mixed_precision="bf16",
        **common,
    )
    assert "no native bf16 support; --mixed-precision bf16 will be emulated" in (
        capsys.readouterr().err
    )
    assert first["run"]["mixed_precision"] == "no" and second["run"]["mixed_precision"] == "bf16"
    assert first["model"]["kind"] == second["model"]["kind"] == "transformers"
    assert first["model"]["id"] != second["model"]["id"]
    for document in (first, second):
        assert document["metrics"]["imagenet_m"]["imagenet_m_total"] == 68

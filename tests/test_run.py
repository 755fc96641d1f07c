"""`imagenet-multilabel run` end to end: sources, model kinds, processes, resume, outputs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from image_fixtures import make_hf_parquet_dataset, make_jpeg, make_val_folder
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.images.errors import CorruptImageError, MissingImagesError
from imagenet_multilabel.eval_cli.commands.cli import main, run_command
from imagenet_multilabel.eval_cli.engine import predict_loop
from imagenet_multilabel.eval_cli.engine import run as run_module
from model_fixtures import save_clip, save_config_only, save_timm_model, save_vit
from run_fixtures import (
    make_workspace,
    namespace,
    prediction_ids,
    run_args,
    torchrun_two,
    with_option,
)

pytestmark = pytest.mark.usefixtures("fresh_accelerator_state")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_workspace(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def reference_run(workspace) -> Path:
    """One uninterrupted single-process run over every split, the baseline for the others."""
    output = workspace["root"] / "reference"
    assert main(run_args(workspace, workspace["resnet"], output, "--split", "all")) == 0
    return output


def test_single_process_outputs(workspace, reference_run):
    document = json.loads((reference_run / "results.json").read_text())
    num_images = len(workspace["image_ids"])
    assert document["metrics"]["imagenet_m"]["imagenet_m_total"] == 68
    assert document["metrics"]["validation"]["num_missing_predictions"] == 0
    assert document["model"]["kind"] == "transformers"
    assert document["model"]["preprocessing"]
    assert document["labels"]["verified"] is False
    assert document["run"]["num_processes"] == 1
    assert document["run"]["images_predicted_this_session"] == num_images
    assert document["run"]["images_per_second"] > 0
    lines = (reference_run / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == num_images
    record = json.loads(lines[0])
    assert set(record) == {
        "file_name",
        "prediction",
        "prediction_name",
        "top5",
        "top5_probs",
        "top5_names",
        "image_bytes",
        "image_blake2b",
    }
    tar_member = make_jpeg(classes.image_id_from_file_name(record["file_name"]))
    assert record["image_bytes"] == len(tar_member)
    assert record["image_blake2b"] == hashlib.blake2b(tar_member, digest_size=8).hexdigest()
    assert record["prediction_name"] == classes.CLASS_NAMES[record["prediction"]]
    assert record["top5_names"] == [classes.CLASS_NAMES[i] for i in record["top5"]]
    assert record["top5_probs"] == sorted(record["top5_probs"], reverse=True)
    for name in ("model-index.yaml", "model_card_results.md"):
        assert (reference_run / name).is_file()


def test_score_reads_the_run_predictions(workspace, reference_run, tmp_path):
    output = tmp_path / "scored.json"
    args = [
        "score",
        "--predictions",
        str(reference_run / "predictions.jsonl"),
        "--annotations",
        str(workspace["annotations"]),
        "--allow-unverified-annotations",
        "--split",
        "all",
        "--output",
        str(output),
    ]
    assert main(args) == 0
    run_metrics = json.loads((reference_run / "results.json").read_text())["metrics"]
    assert json.loads(output.read_text())["metrics"] == run_metrics


@pytest.mark.slow
def test_two_processes_match_one(workspace, reference_run, tmp_path):
    output = tmp_path / "two"
    args = run_args(workspace, workspace["resnet"], output, "--split", "all", "--batch-size", "4")
    completed = torchrun_two(args)
    assert completed.returncode == 0, completed.stderr[-3000:]
    document = json.loads((output / "results.json").read_text())
    reference = json.loads((reference_run / "results.json").read_text())
    assert document["run"]["num_processes"] == 2
    assert document["metrics"] == reference["metrics"]
    assert prediction_ids(output / "predictions.jsonl") == prediction_ids(
        reference_run / "predictions.jsonl"
    )


@pytest.mark.slow
def test_a_second_run_is_refused_while_one_runs_and_a_killed_run_resumes(
    workspace, reference_run, tmp_path, capsys
):
    """One running launch serves both checks: a second run into its directory is refused at
    once (two runs used to both append, and leave duplicates that no later run could read); once
    the first is killed (kill -9), its lock is gone and a restart resumes it."""
    output = tmp_path / "killed"
    args = run_args(workspace, workspace["resnet"], output, "--split", "all", "--batch-size", "1")
    process = subprocess.Popen(
        [sys.executable, "-m", "imagenet_multilabel", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    predictions = output / "predictions.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if predictions.exists() and predictions.read_bytes().count(b"\n") >= 20:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run finished before it could be killed"
    assert main(args) == 2
    refusal = capsys.readouterr().err
    assert f"{str(output)!r} is in use by another command (pid {process.pid} on host " in refusal
    assert process.poll() is None, "the first run must still be running when refused"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = predictions.read_bytes().count(b"\n")
    assert 20 <= done_before < len(workspace["image_ids"])
    with open(predictions, "a") as handle:  # a write torn by the kill
        handle.write('{"file_name": "ILSVRC2012_val_0000')

    assert main(args) == 0
    document = json.loads((output / "results.json").read_text())
    reference = json.loads((reference_run / "results.json").read_text())
    assert document["metrics"] == reference["metrics"]
    assert document["run"]["images_resumed"] == done_before
    assert document["run"]["images_predicted_this_session"] == (
        len(workspace["image_ids"]) - done_before
    )
    assert prediction_ids(predictions) == prediction_ids(reference_run / "predictions.jsonl")


def test_resume_refuses_another_model(workspace, reference_run, tmp_path, capsys):
    output = tmp_path / "other"
    assert main(run_args(workspace, workspace["resnet"], output)) == 0
    vit = save_vit(tmp_path / "vit")
    assert main(run_args(workspace, vit, output)) == 2
    assert "holds predictions of a different run" in capsys.readouterr().err


@pytest.mark.parametrize("source", ["folder", "class_folders", "hf_parquet"])
def test_every_image_source_gives_the_same_predictions(workspace, reference_run, tmp_path, source):
    ids = workspace["image_ids"]
    if source == "hf_parquet":
        images = make_hf_parquet_dataset(tmp_path / "hf", ids)
    else:
        images = make_val_folder(tmp_path / "images", ids, class_subfolders=source != "folder")
    output = tmp_path / "out"
    args = run_args(workspace, workspace["resnet"], output)
    args = with_option(args, "--images", str(images))
    args = with_option(args, "--num-workers", "2")  # the default path: decoding in workers
    assert main(args) == 0
    reference = prediction_ids(reference_run / "predictions.jsonl")
    predicted = prediction_ids(output / "predictions.jsonl")
    assert predicted == {name: reference[name] for name in predicted}


@pytest.mark.parametrize(
    ("saver", "kind"),
    [
        (save_vit, "transformers"),
        (save_timm_model, "timm"),
        # The default 80-prompt ensemble: 80,000 prompts through the text tower, in bf16.
        pytest.param(save_clip, "zero-shot", marks=pytest.mark.slow),
    ],
)
def test_every_model_kind_runs(workspace, tmp_path, saver, kind):
    model = saver(tmp_path / kind)
    output = tmp_path / "out"
    assert main(run_args(workspace, model, output, "--mixed-precision", "bf16")) == 0
    document = json.loads((output / "results.json").read_text())
    assert document["model"]["kind"] == kind
    assert document["run"]["mixed_precision"] == "bf16"
    assert document["metrics"]["imagenet_m"]["imagenet_m_total"] == 68


def test_missing_and_corrupt_images_stop_before_the_model_runs(workspace, tmp_path, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("stopped too late")

    ids = workspace["image_ids"]
    folder = make_val_folder(tmp_path / "images", ids[1:], class_subfolders=False)
    args = run_args(workspace, workspace["resnet"], tmp_path / "out", "--split", "all")
    args = with_option(args, "--images", str(folder))
    with monkeypatch.context() as patch:
        patch.setattr(run_module, "load_model", must_not_run)  # missing: before the model loads
        with pytest.raises(MissingImagesError, match="1 of"):
            run_command(namespace(args))
    (folder / classes.file_name_from_image_id(ids[0])).write_bytes(b"not a jpeg")
    monkeypatch.setattr(run_module, "predict_group", must_not_run)  # corrupt: before any prediction
    with pytest.raises(CorruptImageError, match=classes.file_name_from_image_id(ids[0])):
        run_command(namespace(args))


def _wrap_logits(monkeypatch, wrapper) -> None:
    """Make every adapter that `run` loads compute its logits through ``wrapper``."""
    real_load = run_module.load_model

    def load(*args, **kwargs):
        adapter = real_load(*args, **kwargs)
        real_logits = adapter.logits
        adapter.logits = lambda module, pixel_values: wrapper(real_logits, module, pixel_values)
        return adapter

    monkeypatch.setattr(run_module, "load_model", load)


def test_auto_batch_size_backs_off_on_out_of_memory(workspace, tmp_path, monkeypatch):
    def memory_limit(logits, module, pixel_values):
        if pixel_values.shape[0] > 16:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return logits(module, pixel_values)

    _wrap_logits(monkeypatch, memory_limit)
    output = tmp_path / "auto"
    args = run_args(workspace, workspace["resnet"], output, "--batch-size", "auto")
    document = run_command(namespace(args))
    assert 8 < document["run"]["batch_size_per_process"] <= 16  # accelerate backs off by 0.9
    assert document["metrics"]["imagenet_m"]["imagenet_m_total"] == 68


def test_bad_batch_size(workspace, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(run_args(workspace, workspace["resnet"], tmp_path / "o", "--batch-size", "0"))
    assert exit_info.value.code == 2
    assert "expected a positive integer or 'auto', got '0'" in capsys.readouterr().err


def test_push_to_hub_dry_run(workspace, tmp_path, capsys):
    output = tmp_path / "push"
    extra = ["--push-to-hub", "--hub-repo-id", "someone/tiny-resnet", "--dry-run"]
    args = run_args(workspace, workspace["resnet"], output, *extra)
    assert main(args) == 2  # unverified labels never become model-index entries
    assert "unverified" in capsys.readouterr().err.lower()


def test_compile_and_channels_last_agree_with_eager(workspace, reference_run, tmp_path):
    output = tmp_path / "compiled"
    extra = ("--compile", "--channels-last", "--batch-size", "16")
    assert main(run_args(workspace, workspace["resnet"], output, *extra)) == 0
    document = json.loads((output / "results.json").read_text())
    assert document["run"]["compile"] and document["run"]["channels_last"]
    reference = prediction_ids(reference_run / "predictions.jsonl")
    compiled = prediction_ids(output / "predictions.jsonl")
    same_top1 = sum(compiled[name][0] == reference[name][0] for name in compiled)
    assert same_top1 >= 0.9 * len(compiled)  # kernels may differ in the last float bits


def test_a_later_run_over_more_splits_reuses_the_predictions(workspace, reference_run, tmp_path):
    output = tmp_path / "growing"
    assert main(run_args(workspace, workspace["resnet"], output)) == 0  # ImageNet-M only
    assert main(run_args(workspace, workspace["resnet"], output, "--split", "all")) == 0
    document = json.loads((output / "results.json").read_text())
    reference = json.loads((reference_run / "results.json").read_text())
    assert document["run"]["images_resumed"] == 68
    assert document["metrics"] == reference["metrics"]
    assert main(run_args(workspace, workspace["resnet"], output)) == 0  # back to ImageNet-M alone
    document = json.loads((output / "results.json").read_text())
    assert document["metrics"]["imagenet_m"] == reference["metrics"]["imagenet_m"]
    assert document["predictions"]["num_outside_chosen_splits"] == len(workspace["image_ids"]) - 68


def test_non_finite_outputs_stop_the_run(workspace, tmp_path, monkeypatch):
    def overflow(logits, module, pixel_values):
        values = logits(module, pixel_values)
        values[0, 3] = float("nan")
        return values

    _wrap_logits(monkeypatch, overflow)
    with pytest.raises(predict_loop.NonFiniteOutputError, match="NaN.*ILSVRC2012_val_"):
        run_command(namespace(run_args(workspace, workspace["resnet"], tmp_path / "nan")))


def test_corrupt_image_in_a_worker_is_a_clear_error(workspace, tmp_path, capsys):
    ids = workspace["image_ids"]
    folder = make_val_folder(tmp_path / "images", ids, class_subfolders=False)
    corrupt = classes.file_name_from_image_id(ids[-1])
    (folder / corrupt).write_bytes(b"not a jpeg")
    extra = ("--skip-image-check", "--split", "all")
    args = run_args(workspace, workspace["resnet"], tmp_path / "out", *extra)
    args = with_option(with_option(args, "--images", str(folder)), "--num-workers", "2")
    assert main(args) == 2
    assert corrupt in capsys.readouterr().err


def test_run_judges_the_image_rules_on_its_own_device(workspace, reference_run, tmp_path, capsys):
    """`--categorizer-model`: the automatic taxonomy's image rules on the run's images and
    device, when it scores; a model that is not CLIP-like is refused before any model runs."""
    clip = save_clip(tmp_path / "clip")
    output = tmp_path / "categorized"
    args = run_args(workspace, workspace["resnet"], output, "--split", "all")
    assert main([*args, "--categorizer-model", str(clip)]) == 0
    document = json.loads((output / "results.json").read_text())
    auto = document["mistakes"]["auto_categories"]
    assert auto["not_available"] == {} and auto["image_rules"]["model"] == "clip"
    assert auto["image_rules"]["device"].split(":")[0] == (
        "cuda" if torch.cuda.is_available() else "cpu"
    )
    assert auto["num_mistakes"] == document["mistakes"]["num_rejected"]
    reference = json.loads((reference_run / "results.json").read_text())["mistakes"]
    assert reference["auto_categories"]["image_rules"] is None  # the image-free rules only
    assert reference["auto_categories"]["num_mistakes"] == auto["num_mistakes"]
    capsys.readouterr()
    vit = save_config_only(tmp_path / "vit", {"model_type": "vit"})
    refused = tmp_path / "refused"
    refused_args = with_option(args, "--output-dir", str(refused))
    assert main([*refused_args, "--categorizer-model", str(vit)]) == 2
    assert "`--categorizer-model` 'vit' cannot judge the image rules" in capsys.readouterr().err
    assert not refused.exists()

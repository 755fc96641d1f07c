"""A sweep decodes once: models whose preprocessing gives the same uint8 pixels share one loop
(each batch decoded once, normalised per model), and each still ends exactly as if run alone:
the same predictions and metrics, resume per model, a failure its own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.eval_cli.engine import run as run_module
from imagenet_multilabel.eval_cli.feed import loader as loader_module
from imagenet_multilabel.eval_cli.feed import preprocess_plan
from imagenet_multilabel.eval_cli.feed.preprocess_plan import UnsupportedPreprocessingError
from imagenet_multilabel.eval_cli.scores.predictions import read_predictions
from model_fixtures import save_timm_model
from run_fixtures import make_workspace, prediction_ids, run_args, torchrun_two

pytestmark = pytest.mark.usefixtures("fresh_accelerator_state")

MODELS = ("resnet", "resnet_b", "timm")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The run workspace's ResNet, a copy of it normalised with another mean and std (same
    geometry, so the two share a decode), and a timm model (another geometry)."""
    workspace = make_workspace(tmp_path_factory.mktemp("grouping"))
    other = workspace["root"] / "resnet_b"
    shutil.copytree(workspace["resnet"], other)
    config_path = other / "preprocessor_config.json"
    config = json.loads(config_path.read_text())
    config.update(image_mean=[0.3, 0.4, 0.5], image_std=[0.2, 0.25, 0.3])
    config_path.write_text(json.dumps(config))
    workspace["resnet_b"] = other
    workspace["timm"] = save_timm_model(workspace["root"] / "timm")
    return workspace


@pytest.fixture(scope="module")
def single_runs(workspace) -> dict[str, Path]:
    """Each model run on its own: what the grouped sweep must reproduce."""
    outputs = {}
    for name in MODELS:
        outputs[name] = workspace["root"] / f"single-{name}"
        assert main(run_args(workspace, workspace[name], outputs[name])) == 0
    return outputs


def _sweep(workspace, parent: Path, names=MODELS, *extra: str) -> int:
    args = run_args(workspace, workspace[names[0]], parent, *extra)
    for name in names[1:]:
        args += ["--model", str(workspace[name])]
    return main(args)


def _results(output: Path) -> dict:
    return json.loads((output / "results.json").read_text())


def _probabilities(path: Path) -> dict[str, list[float]]:
    records = map(json.loads, path.read_text().splitlines())
    return {record["file_name"]: record["top5_probs"] for record in records}


def _assert_as_alone(parent: Path, single_runs, names=MODELS) -> None:
    for name in names:
        assert _results(parent / name)["metrics"] == _results(single_runs[name])["metrics"]
        alone = single_runs[name] / "predictions.jsonl"
        assert prediction_ids(parent / name / "predictions.jsonl") == prediction_ids(alone)
        grouped = _probabilities(parent / name / "predictions.jsonl")
        for file_name, probs in _probabilities(alone).items():
            assert grouped[file_name] == pytest.approx(probs, abs=1e-6)


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """Every image decoded in this process's DataLoader (workers 0), by file name."""
    decoded: list[str] = []
    real = loader_module.decode_image

    def counted(data, file_name):
        decoded.append(file_name)
        return real(data, file_name)

    monkeypatch.setattr(loader_module, "decode_image", counted)
    return decoded


def test_models_of_equal_geometry_share_one_decode_and_predict_as_alone(
    workspace, single_runs, tmp_path, decodes
):
    parent = tmp_path / "sweep"
    assert _sweep(workspace, parent) == 0
    count = len(read_predictions(single_runs["resnet"] / "predictions.jsonl"))
    assert len(decodes) == 2 * count  # the two ResNets once together, the timm model once
    _assert_as_alone(parent, single_runs)
    shared = {name: _results(parent / name)["run"]["shared_decode_with"] for name in MODELS}
    assert shared == {
        "resnet": [str(workspace["resnet_b"])],
        "resnet_b": [str(workspace["resnet"])],
        "timm": [],
    }


def test_a_group_resumes_each_model_from_its_own_folder(workspace, single_runs, tmp_path, decodes):
    """resnet_b was interrupted after 10 predictions, resnet finished: the group's loop decodes
    only what resnet_b lacks, and both end as their single runs."""
    parent = tmp_path / "resumed"
    for name in ("resnet", "resnet_b"):
        shutil.copytree(single_runs[name], parent / name)
    interrupted = parent / "resnet_b"
    lines = (interrupted / "predictions.jsonl").read_text().splitlines(keepends=True)
    (interrupted / "predictions.jsonl").write_text("".join(lines[:10]))
    (interrupted / "results.json").unlink()
    assert _sweep(workspace, parent, ("resnet", "resnet_b")) == 0
    assert len(decodes) == len(lines) - 10
    run = {name: _results(parent / name)["run"] for name in ("resnet", "resnet_b")}
    assert run["resnet"]["images_predicted_this_session"] == 0
    assert run["resnet_b"]["images_predicted_this_session"] == len(lines) - 10
    assert run["resnet_b"]["images_resumed"] == 10
    _assert_as_alone(parent, single_runs, ("resnet", "resnet_b"))


def test_a_model_failing_in_the_loop_leaves_the_rest_of_its_group_going(
    workspace, single_runs, tmp_path, monkeypatch, capsys
):
    real_load = run_module.load_model

    def load(model, **kwargs):
        adapter = real_load(model, **kwargs)
        if model == str(workspace["resnet_b"]):
            adapter.logits = lambda module, pixels: torch.full(
                (len(pixels), 1000), float("nan"), device=pixels.device
            )
        return adapter

    monkeypatch.setattr(run_module, "load_model", load)
    parent = tmp_path / "failing"
    assert _sweep(workspace, parent, ("resnet_b", "resnet")) == 2
    captured = capsys.readouterr()
    assert "failed (NonFiniteOutputError)" in captured.out
    assert f"error: {workspace['resnet_b']}: the model returned NaN" in captured.err
    assert not (parent / "resnet_b" / "results.json").exists()
    _assert_as_alone(parent, single_runs, ("resnet",))


def test_beyond_the_group_bound_models_run_one_at_a_time(
    workspace, single_runs, tmp_path, monkeypatch, decodes
):
    monkeypatch.setattr(run_module, "MAX_MODELS_SHARING_DECODE", 1)
    parent = tmp_path / "bounded"
    assert _sweep(workspace, parent, ("resnet", "resnet_b")) == 0
    assert len(decodes) == 2 * len(read_predictions(parent / "resnet" / "predictions.jsonl"))
    for name in ("resnet", "resnet_b"):
        assert _results(parent / name)["run"]["shared_decode_with"] == []
    _assert_as_alone(parent, single_runs, ("resnet", "resnet_b"))


def test_models_on_the_float_path_share_no_decode(workspace, tmp_path, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise UnsupportedPreprocessingError("refused by the test")

    monkeypatch.setattr(preprocess_plan, "plan_for_processor", refuse)
    parent = tmp_path / "float"
    assert _sweep(workspace, parent, ("resnet", "resnet_b"), "--limit", "8") == 0
    for name in ("resnet", "resnet_b"):
        run = _results(parent / name)["run"]
        assert run["preprocessing_path"] == loader_module.FLOAT_PATH
        assert run["shared_decode_with"] == []


@pytest.mark.slow
def test_two_processes_share_a_decode_with_one_model_resumed(workspace, single_runs, tmp_path):
    """torchrun, 2 CPU processes, batch 4: resnet_b resumes after 10 images, so some batches
    hold images one model needs and the other does not; both end as their single runs."""
    parent = tmp_path / "two"
    shutil.copytree(single_runs["resnet_b"], parent / "resnet_b")
    predictions = parent / "resnet_b" / "predictions.jsonl"
    predictions.write_text("".join(predictions.read_text().splitlines(keepends=True)[:10]))
    (parent / "resnet_b" / "results.json").unlink()
    args = run_args(workspace, workspace["resnet"], parent, "--batch-size", "4")
    args += ["--model", str(workspace["resnet_b"])]
    completed = torchrun_two(args)
    assert completed.returncode == 0, completed.stderr[-2000:]
    for name in ("resnet", "resnet_b"):
        run = _results(parent / name)["run"]
        assert run["num_processes"] == 2 and len(run["shared_decode_with"]) == 1
    _assert_as_alone(parent, single_runs, ("resnet", "resnet_b"))

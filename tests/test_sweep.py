"""`run` with several models in one launch: `--model A --model B`, `--models FILE`,
`evaluate_models`."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from imagenet_multilabel.dataset_script.images import decode
from imagenet_multilabel.dataset_script.labels import loading as labels_module
from imagenet_multilabel.dataset_script.labels.loading import LabelSource
from imagenet_multilabel.eval_cli import outputs as outputs_module
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.eval_cli.engine import launch as launch_module
from imagenet_multilabel.eval_cli.engine import run as run_module
from imagenet_multilabel.eval_cli.engine.sweep import (
    ModelSpec,
    default_output_dir,
    evaluate_models,
    read_models_file,
)
from imagenet_multilabel.eval_cli.models import LabelSpaceError, ModelLoadError
from imagenet_multilabel.eval_cli.outputs import OutputWriteError
from imagenet_multilabel.metric.errors import ToolkitError
from model_fixtures import save_timm_model, save_vit
from run_fixtures import make_workspace, prediction_ids, run_args, torchrun_two, with_option

pytestmark = pytest.mark.usefixtures("fresh_accelerator_state")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The run workspace plus a timm model and a 10-class model that no sweep can score."""
    workspace = make_workspace(tmp_path_factory.mktemp("sweep"))
    workspace["timm"] = save_timm_model(workspace["root"] / "timm")
    workspace["cifar"] = save_vit(workspace["root"] / "cifar", labels=[f"c{i}" for i in range(10)])
    return workspace


@pytest.fixture(scope="module")
def single_runs(workspace) -> dict[str, Path]:
    """The ResNet and the timm model each run on its own: what a sweep must reproduce."""
    outputs = {}
    for name in ("resnet", "timm"):
        outputs[name] = workspace["root"] / f"single-{name}"
        assert main(run_args(workspace, workspace[name], outputs[name])) == 0
    return outputs


def _sweep_args(workspace, parent: Path, models_file: Path) -> list[str]:
    """`--model resnet --models FILE`: the ResNet, the 10-class model, the timm model."""
    models_file.write_text(f"# a sweep\n{workspace['cifar']}\n{workspace['timm']} kind=timm\n")
    args = run_args(workspace, workspace["resnet"], parent)
    return [*args, "--models", str(models_file)]


def _results(output: Path) -> dict:
    return json.loads((output / "results.json").read_text())


def test_a_sweep_is_separate_runs_sharing_labels_and_images(
    workspace, single_runs, tmp_path, monkeypatch, capsys
):
    calls: Counter[str] = Counter()
    checked: Counter[str] = Counter()
    for module, name in ((labels_module.LabelSource, "load"), (launch_module, "open_image_source")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, _counted(real, name, calls))
    real_check = decode.check_images

    def counted_check(images, **kwargs):
        checked.update(images.file_names)
        return real_check(images, **kwargs)

    monkeypatch.setattr(run_module, "check_images", counted_check)
    parent = tmp_path / "sweep"
    assert main(_sweep_args(workspace, parent, tmp_path / "models.txt")) == 2
    captured = capsys.readouterr()

    assert calls == {"load": 1, "open_image_source": 1}
    assert len(checked) == 68 and set(checked.values()) == {1}  # every header once, not per model
    for name in ("resnet", "timm"):
        sweep = _results(parent / name)
        assert sweep["metrics"] == _results(single_runs[name])["metrics"]
        assert prediction_ids(parent / name / "predictions.jsonl") == prediction_ids(
            single_runs[name] / "predictions.jsonl"
        )
    assert not (parent / "cifar" / "results.json").exists()
    table = captured.out.splitlines()
    assert table[0].split() == [
        "Model",
        "Status",
        "Multi-label",
        "accuracy",
        "ImageNet-M",
        "Output",
    ]
    rows = {line.split()[0]: line for line in table[2:5]}
    assert (
        "ok, not official: unverified" in rows[str(workspace["resnet"])]  # synthetic labels
        and str(parent / "resnet") in rows[str(workspace["resnet"])]
    )
    assert "failed (LabelSpaceError)" in rows[str(workspace["cifar"])]
    imagenet_m = _results(single_runs["timm"])["metrics"]["imagenet_m"]["imagenet_m_correct"]
    assert f"{imagenet_m} / 68" in rows[str(workspace["timm"])]
    assert f"error: {workspace['cifar']}: " in captured.err

    assert main(_sweep_args(workspace, parent, tmp_path / "models.txt")) == 2  # resumed
    for name in ("resnet", "timm"):
        assert _results(parent / name)["run"]["images_predicted_this_session"] == 0


def _counted(function, name: str, calls: Counter):
    def counted(*args, **kwargs):
        calls[name] += 1
        return function(*args, **kwargs)

    return counted


def test_evaluate_models_returns_each_document_or_error(workspace, single_runs, tmp_path):
    outcomes = evaluate_models(
        [str(workspace["cifar"]), ModelSpec(str(workspace["resnet"]))],
        str(workspace["tar"]),
        labels=LabelSource(workspace["annotations"], allow_unverified=True),
        output_dir=tmp_path,
    )
    (cifar, error), (resnet, document) = outcomes
    assert cifar == ModelSpec(str(workspace["cifar"])) and isinstance(error, LabelSpaceError)
    assert resnet.output_dir(tmp_path) == tmp_path / "resnet"
    assert document["metrics"] == _results(single_runs["resnet"])["metrics"]


def test_two_revisions_of_one_model_get_two_folders_and_a_repeat_is_refused(tmp_path):
    main_branch, tagged = ModelSpec("org/model", "main"), ModelSpec("org/model", "v1.0/rc")
    assert main_branch.output_dir(tmp_path) == tmp_path / "org--model@main"
    assert tagged.output_dir(None) == Path("eval_results/org--model@v1.0--rc")
    with pytest.raises(ToolkitError, match="1 output folder.*org--model@main"):
        evaluate_models([main_branch, main_branch], "org/unused", output_dir=tmp_path)


def test_a_models_file_line_that_is_not_a_model_is_named(tmp_path):
    models = tmp_path / "models.txt"
    models.write_text("timm/resnet50.a1_in1k revision=main kind=timm  # fine\n\nx kind=onnx\ny z\n")
    with pytest.raises(ToolkitError, match=r"2 line\(s\).*line 3: x kind=onnx, line 4: y z"):
        read_models_file(models)
    models.write_text("# nothing but comments\n")
    with pytest.raises(ToolkitError, match="names no model"):
        read_models_file(models)


def test_run_needs_a_model(workspace, tmp_path, capsys):
    args = run_args(workspace, workspace["resnet"], tmp_path)
    del args[1:3]  # --model MODEL
    assert main(args) == 2
    assert "expected --model MODEL (repeatable) or --models FILE" in capsys.readouterr().err


@pytest.mark.slow
def test_two_processes_sweep_in_step_past_a_failing_model(workspace, single_runs, tmp_path):
    """The failing model fails on both processes at the same point; the next model runs on
    both and gathers as a single run does."""
    parent = tmp_path / "two"
    args = [*_sweep_args(workspace, parent, tmp_path / "models.txt"), "--batch-size", "4"]
    completed = torchrun_two(args)
    assert completed.returncode != 0
    assert "failed (LabelSpaceError)" in completed.stdout
    for name in ("resnet", "timm"):
        assert _results(parent / name)["run"]["num_processes"] == 2
        assert prediction_ids(parent / name / "predictions.jsonl") == prediction_ids(
            single_runs[name] / "predictions.jsonl"
        )


def test_a_corrupt_run_identity_fails_that_model_and_the_sweep_goes_on(
    workspace, single_runs, tmp_path, capsys
):
    parent = tmp_path / "corrupt"
    (parent / "resnet").mkdir(parents=True)
    shutil.copy(single_runs["resnet"] / "predictions.jsonl", parent / "resnet")
    (parent / "resnet" / "run_identity.json").write_text('{"model": {"id": ')  # torn
    args = [*run_args(workspace, workspace["resnet"], parent), "--model", str(workspace["timm"])]
    assert main(args) == 2
    captured = capsys.readouterr()
    rows = {line.split()[0]: line for line in captured.out.splitlines()[2:4]}
    assert "failed (ResumeError)" in rows[str(workspace["resnet"])]
    assert " ok, not official: unverified " in rows[str(workspace["timm"])]
    assert _results(parent / "timm")["metrics"] == _results(single_runs["timm"])["metrics"]
    assert "run_identity.json, which says which run made them, cannot be read" in captured.out
    assert "Traceback" not in captured.err


def _models_file(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


BAD_500TH_LINES = {
    "syntax": ("m kind=onnx", r"1 line\(s\) not of the form.*line 500: m kind=onnx"),
    "duplicate": ("{first}", r"1 output folder\(s\) would be written by several models"),
    "missing-folder": ("./no/such/model", r"'./no/such/model' is not a model folder"),
    "not-a-hub-id": ("bad!name", r"'bad!name' is neither a local model folder nor a Hub"),
    "offline-uncached": ("org/uncached", r"'org/uncached'.*not in the local Hugging Face cache"),
}


@pytest.mark.parametrize(("line", "message"), BAD_500TH_LINES.values(), ids=BAD_500TH_LINES)
def test_a_models_file_is_checked_whole_before_any_folder_is_created(
    workspace, tmp_path, monkeypatch, capsys, line, message
):
    """499 good models (folders with a config.json; none is loaded) and a bad 500th line: the
    launch stops at once, before labels are loaded or any output folder is made."""
    folders = []
    for index in range(499):
        folder = tmp_path / "models" / f"m{index}"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        folders.append(str(folder))
    models = _models_file(tmp_path / "models.txt", [*folders, line.format(first=folders[0])])

    def no_labels(*args, **kwargs):
        raise AssertionError("labels are loaded only after every model passed its check")

    monkeypatch.setattr(labels_module, "load_labels", no_labels)
    parent = tmp_path / "out"
    args = [*run_args(workspace, workspace["resnet"], parent), "--models", str(models)]
    assert main(args) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not parent.exists()


def test_a_models_file_line_is_quoted_briefly(tmp_path):
    models = _models_file(tmp_path / "models.txt", ["x kind=" + "k" * 1_000_000])
    with pytest.raises(ToolkitError, match=r"line 1: x kind=k+\.\.\. \(1,000,015 characters\)\)$"):
        read_models_file(models)


@pytest.mark.parametrize("models", ["timm/resnet50.a1_in1k", Path("models.txt"), b"ab"])
def test_evaluate_models_refuses_one_string_instead_of_a_list(models):
    with pytest.raises(ModelLoadError, match="models: expected a list of Hub model ids"):
        evaluate_models(models, "org/unused")


def test_a_model_spec_checks_its_fields():
    with pytest.raises(ModelLoadError, match="kind of 'org/model': expected one of"):
        ModelSpec("org/model", kind="onnx")
    with pytest.raises(ModelLoadError, match=r"^model \[.org/model.\]: expected a Hub model id"):
        ModelSpec(["org/model"])


def test_a_folder_name_too_long_for_the_file_system_names_the_model(tmp_path, monkeypatch):
    spec = ModelSpec("org/model", "r" * 300)
    with pytest.raises(OutputWriteError, match=r"model 'org/model'.*evaluate that model on its"):
        spec.output_dir(tmp_path)
    monkeypatch.setattr(outputs_module, "_longest_name", lambda directory: 8)
    with pytest.raises(OutputWriteError, match=r"'org--model', 10 bytes.*with output_dir=DIR"):
        default_output_dir("org/model")


def test_a_model_name_longer_than_a_path_is_a_clear_error(workspace, tmp_path, capsys):
    args = with_option(run_args(workspace, workspace["resnet"], tmp_path), "--model", "m" * 5000)
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: --model 'mmmm")
    assert "(5,002 characters) cannot be used: File name too long" in error
    assert len(error) < 400

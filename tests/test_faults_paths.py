"""Issue 19's reproductions of files under hostile names, each as a user meets it (the command
line, or the Python API): locks that are links, commands writing over their own inputs, FIFOs
where a command reads, link loops, a full disk, broken model folders, the API's wording, a labels
dataset reaching outside its folder. Each failed before the command frame (`eval_cli/frame/`),
whose guards tests/test_frame.py drives through every declared path of every command."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hostile_fixtures import fifo, loop, unblocked
from imagenet_multilabel.eval_cli.commands.cli import main
from mistake_fixtures import write_loop_inputs
from model_fixtures import save_resnet
from run_fixtures import make_workspace, run_args

import imagenet_multilabel as iml

LOCK = ".run.lock"


@pytest.fixture(scope="module")
def loop_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return write_loop_inputs(tmp_path_factory.mktemp("loop"))


def _labels(inputs: dict[str, Any]) -> list[str]:
    return ["--annotations", str(inputs["annotations"]), "--allow-unverified-annotations"]


def _one_error(argv: list[str], capsys, fifos: list[Path] = ()) -> str:
    """The one ``error:`` line of a refused command (status 2), which never blocked."""
    with unblocked(list(fifos)) as opened:
        status = main(argv)
    err = capsys.readouterr().err
    assert not opened, f"blocked on {opened}: {err}"
    assert status == 2, err
    errors = [line for line in err.splitlines() if "error" in line.lower()]  # not progress bars
    assert len(errors) == 1 and err.rstrip("\n").endswith(errors[0]), err
    assert errors[0].startswith("error: ") and "Traceback" not in err, err
    return errors[0]


def _commands(inputs: dict[str, Any], tmp: Path) -> dict[str, list[str]]:
    """analyze, leaderboard and compare into ``tmp / "out"``."""
    results = tmp / "results.json"
    score = ["score", "--predictions", str(inputs["predictions"]), *_labels(inputs)]
    assert main([*score, "--output", str(results)]) == 0
    other = tmp / "other.jsonl"
    other.write_text(inputs["predictions"].read_text().replace('"top5_probs"', '"p"'))
    out = str(tmp / "out")
    return {
        "analyze": ["analyze", "--predictions", str(inputs["predictions"]), "--output-dir", out],
        "leaderboard": ["leaderboard", str(results), "--output-dir", out],
        "compare": ["compare", str(inputs["predictions"]), str(other), "--output-dir", out],
    }


@pytest.mark.parametrize("command", ["analyze", "leaderboard", "compare"])
def test_a_lock_file_that_is_a_link_is_refused_and_its_target_kept(
    loop_inputs, tmp_path, capsys, command
):
    """Problem 2: `ln -s ../p.jsonl out/.run.lock` made analyze leave p.jsonl holding one line
    "pid N on host ..." (leaderboard and compare alike)."""
    argv = [*_commands(loop_inputs, tmp_path)[command], *_labels(loop_inputs)]
    target = tmp_path / "p.jsonl"
    shutil.copy(loop_inputs["predictions"], target)
    before = target.read_bytes()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / LOCK).symlink_to(os.path.join("..", "p.jsonl"))
    line = _one_error(argv, capsys)
    assert LOCK in line and "symbolic link" in line
    assert target.read_bytes() == before


@pytest.mark.parametrize("command", ["analyze", "leaderboard", "compare"])
def test_a_command_leaves_no_lock_file_in_its_output(loop_inputs, tmp_path, capsys, command):
    """A `.run.lock` stayed in every output folder, eval_results/<model>/ included."""
    argv = [*_commands(loop_inputs, tmp_path)[command], *_labels(loop_inputs)]
    assert main(argv) == 0
    assert not (tmp_path / "out" / LOCK).exists()
    assert any((tmp_path / "out").iterdir())


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_workspace(tmp_path_factory.mktemp("run_ws"))


@pytest.mark.parametrize(
    ("option", "name"),
    [("--annotations", "results.json"), ("--label-patch", "model_card_results.md")],
)
def test_run_never_writes_over_its_own_label_files(workspace, tmp_path, capsys, option, name):
    """Problem 3: `run --annotations out/results.json --output-dir out` exited 0 with the
    annotation file replaced by results.json; `--label-patch out/model_card_results.md` too."""
    out = tmp_path / "out"
    given = out / name
    given.parent.mkdir()
    shutil.copy(workspace["annotations"], given)
    before = given.read_bytes()
    argv = run_args(workspace, workspace["resnet"], out)
    if option == "--annotations":
        argv[argv.index("--annotations") + 1] = str(given)
    else:
        argv += ["--label-patch", str(given)]
    line = _one_error(argv, capsys)
    assert f"{option} it reads" in line
    assert given.read_bytes() == before


@pytest.mark.parametrize(
    ("option", "name"), [("--label-patch", "leaderboard.md"), ("--annotations", "leaderboard.csv")]
)
def test_leaderboard_never_writes_over_its_label_files(loop_inputs, tmp_path, capsys, option, name):
    """Problem 4: the leaderboard wrote over its --label-patch / --annotations when they sat in
    --output-dir under an output's name."""
    argv = _commands(loop_inputs, tmp_path)["leaderboard"]
    given = tmp_path / "out" / name
    given.parent.mkdir()
    shutil.copy(loop_inputs["annotations"], given)
    before = given.read_bytes()
    labels = _labels(loop_inputs)
    if option == "--annotations":
        labels[1] = str(given)
    else:
        labels += ["--label-patch", str(given)]
    line = _one_error([*argv, *labels], capsys)
    assert f"{option} it reads" in line
    assert given.read_bytes() == before


def test_a_fifo_in_the_label_cache_is_refused(loop_inputs, tmp_path, capsys):
    """Problem 6: a label-cache entry that is a FIFO hung every command."""
    from huggingface_hub import constants

    entry = Path(constants.HF_HOME) / "imagenet_multilabel" / "compact" / "fifo.npz"
    fifo(entry)
    try:
        argv = ["score", "--predictions", str(loop_inputs["predictions"]), *_labels(loop_inputs)]
        line = _one_error(argv, capsys, [entry])
    finally:
        entry.unlink()
    assert "label cache/compact/fifo.npz" in line and "is a FIFO" in line


def test_a_fifo_thumbnail_index_in_analyzes_output_is_refused(loop_inputs, tmp_path, capsys):
    """Problem 6: `review/thumbnails.json` of analyze's output folder as a FIFO hung it."""
    out = tmp_path / "out"
    index = fifo(out / "review" / "thumbnails.json")
    argv = ["analyze", "--predictions", str(loop_inputs["predictions"]), *_labels(loop_inputs)]
    line = _one_error([*argv, "--output-dir", str(out)], capsys, [index])
    assert line.startswith("error: --output-dir/review/thumbnails.json ") and "FIFO" in line


def test_a_fifo_for_a_run_folders_predictions_is_refused(workspace, tmp_path, capsys):
    """Problem 6: a run folder whose predictions.jsonl is a FIFO beside a valid
    run_identity.json hung `run` resuming it, and `analyze --run-dir`."""
    out = tmp_path / "out"
    assert main(run_args(workspace, workspace["resnet"], out)) == 0
    (out / "predictions.jsonl").unlink()
    predictions = fifo(out / "predictions.jsonl")
    capsys.readouterr()
    line = _one_error(run_args(workspace, workspace["resnet"], out), capsys, [predictions])
    assert line.startswith("error: --output-dir/predictions.jsonl ") and "FIFO" in line
    line = _one_error(["analyze", "--run-dir", str(out)], capsys, [predictions])
    assert line.startswith("error: --run-dir/predictions.jsonl ") and "FIFO" in line


@pytest.mark.parametrize(
    ("command", "option"),
    [
        ("score", "--predictions"),
        ("score", "--output"),
        ("score", "--label-patch"),
        ("analyze", "--output-dir"),
        ("leaderboard", None),
    ],
)
def test_a_symbolic_link_loop_is_one_error_line(loop_inputs, tmp_path, capsys, command, option):
    """Problem 7: any link loop given as an input or output was `RuntimeError: Symlink loop`."""
    looped = str(loop(tmp_path / "loop"))
    argv = [command, "--predictions", str(loop_inputs["predictions"]), *_labels(loop_inputs)]
    if command == "leaderboard":
        argv = [command, looped, "--output-dir", str(tmp_path / "board")]
    elif option == "--predictions":
        argv[2] = looped
    else:
        argv += [option, looped]
    line = _one_error(argv, capsys)
    assert "cannot be used: Too many levels of symbolic links" in line


def test_build_on_a_full_disk_is_one_error_line(loop_inputs, tmp_path, capsys, monkeypatch):
    """Problem 7: `build` on a full disk was pyarrow's OSError traceback; nothing is left."""
    import pyarrow.parquet as pq

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "Error writing bytes to file. Detail: [errno 28] No space left")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    out = tmp_path / "built"
    line = _one_error(["build", "--output", str(out), *_labels(loop_inputs)], capsys)
    assert line.startswith(f"error: cannot write {str(out)!r} (Error writing bytes")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "broken",
    [
        lambda folder: (folder / "config.json").write_bytes(bytes(range(256)) * 8),
        lambda folder: (folder / "config.json").write_text("[" * 100_000 + "]" * 100_000),
        lambda folder: (folder / "model.safetensors").write_bytes(b"\x10\x00" + os.urandom(500)),
    ],
    ids=["config.json binary garbage", "config.json nested 100,000 deep", "garbage weights"],
)
def test_a_broken_model_folder_is_one_error_line(workspace, tmp_path, capsys, broken):
    """Problem 7: these were tracebacks (UnicodeDecodeError, RecursionError, SafetensorError)."""
    model = save_resnet(tmp_path / "model")
    broken(model)
    line = _one_error(run_args(workspace, model, tmp_path / "out"), capsys)
    assert str(model) in line or "config.json" in line


def test_the_python_api_names_its_own_parameters(loop_inputs, tmp_path):
    """Problem 8: the API's errors named command-line flags (--output-dir, --push-to-hub)."""
    occupied = tmp_path / "a-file"
    occupied.write_text("")
    with pytest.raises(iml.ToolkitError) as raised:
        iml.write_leaderboard([loop_inputs["predictions"]], occupied / "board")
    assert "output_dir" in str(raised.value) and "--" not in str(raised.value)
    with pytest.raises(iml.ToolkitError) as raised:
        iml.analyze_predictions(
            loop_inputs["predictions"], output_dir=occupied, labels=_source(loop_inputs)
        )
    assert "output_dir" in str(raised.value) and "--" not in str(raised.value)


def _source(inputs: dict[str, Any]) -> iml.LabelSource:
    return iml.LabelSource(annotations=inputs["annotations"], allow_unverified=True)


def test_evaluate_model_names_push_to_hub_as_the_api_does(workspace, tmp_path):
    """Problem 8: evaluate_model(push_to_hub=True) on unpublished labels said --push-to-hub."""
    labels = iml.LabelSource(annotations=workspace["annotations"], allow_unverified=True)
    with pytest.raises(iml.ToolkitError) as raised:
        iml.evaluate_model(
            str(workspace["resnet"]),
            str(workspace["tar"]),
            labels=labels,
            push_to_hub=True,
            hub_repo_id="someone/model",
            output_dir=str(tmp_path / "out"),
            num_workers=0,
        )
    assert str(raised.value).startswith("push_to_hub needs the published labels")


def test_run_options_refuse_an_unknown_split_when_made():
    """Problem 8: RunOptions(split="bogus") was accepted and failed after everything loaded."""
    with pytest.raises(iml.ToolkitError, match="^split: expected one of .* got 'bogus'"):
        iml.RunOptions(split="bogus")


def test_a_labels_dataset_may_not_point_outside_its_folder(loop_inputs, tmp_path, capsys):
    """Problem 10: a card's data_files could name `../other/*.parquet`, read without complaint
    and unprotected as inputs."""
    built = tmp_path / "built"
    assert main(["build", "--output", str(built), *_labels(loop_inputs)]) == 0
    other = tmp_path / "other"
    shutil.copytree(built / "labels", other)
    card = (built / "README.md").read_text()
    assert "labels/validation-" in card
    (built / "README.md").write_text(card.replace("path: labels/", "path: ../other/"))
    argv = ["score", "--predictions", str(loop_inputs["predictions"]), "--labels", str(built)]
    line = _one_error(argv, capsys)
    assert "reaches outside the dataset's folder" in line and "../other/" in line

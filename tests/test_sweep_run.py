"""`sweep run` (shards of a manifest into one results tree), `sweep status` and `sweep slurm`'s
script, in this process; tests/test_sweep_slurm.py runs the same on a real SLURM cluster."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from imagenet_multilabel.eval_cli import outputs
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.eval_cli.engine import run as run_module
from imagenet_multilabel.eval_cli.sweeps.manifest import read_manifest
from imagenet_multilabel.eval_cli.sweeps.status import FAILURE_FILE
from sweep_fixtures import (
    MODELS,
    common_args,
    comparable_tree,
    make_sweep_workspace,
    sweep_run_args,
)

pytestmark = pytest.mark.usefixtures("fresh_accelerator_state")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return make_sweep_workspace(tmp_path_factory.mktemp("sweep_run"))


@pytest.fixture(scope="module")
def one_process(workspace) -> Path:
    """The whole manifest in one process: what every sharding must reproduce."""
    from accelerate.state import AcceleratorState

    tree = workspace["root"] / "one"
    assert main(sweep_run_args(workspace, tree)) == 2  # the broken model fails
    AcceleratorState._reset_state(reset_partial_state=True)
    return tree


def _folder(tree: Path, workspace, name: str) -> Path:
    return tree / Path(workspace[name]).name


def test_three_shards_write_the_tree_one_process_writes(workspace, one_process, tmp_path, capsys):
    tree = tmp_path / "sharded"
    ran = []
    for index in range(3):
        status = main(sweep_run_args(workspace, tree, "--shard", f"{index}/3"))
        assert status in (0, 2)
        summary = capsys.readouterr().out.splitlines()[-1]
        assert summary.startswith(f"shard {index}/3: ")
        ran.append(int(re.search(r"(\d+) run", summary)[1]))
    assert sum(ran) == 6 and all(ran)  # each model in one shard; every shard has some
    assert comparable_tree(tree) == comparable_tree(one_process)
    assert sorted(path.name for path in tree.iterdir()) == sorted(["_sweep", *MODELS])
    failure = json.loads((_folder(tree, workspace, "broken") / FAILURE_FILE).read_text())
    assert failure["error"] == "ModelLoadError" and "no_such_arch" in failure["message"]


def test_status_says_done_failed_running_missing(workspace, one_process, tmp_path, capsys):
    tree = Path(shutil.copytree(one_process, tmp_path / "tree"))
    (_folder(tree, workspace, "vit") / "results.json").unlink()
    with outputs.locked_folder(_folder(tree, workspace, "convnext")):
        assert main(["sweep", "status", str(tree)]) == 0
    lines = capsys.readouterr().out.splitlines()
    states = {line.split()[1]: line for line in lines[1:-1]}
    assert Counter(line.split()[0] for line in states.values()) == {
        "done": 3,
        "failed": 1,
        "running": 1,
        "missing": 1,
    }
    assert "ModelLoadError: timm cannot load" in states[str(workspace["broken"])]
    assert "pid " in states[str(workspace["convnext"])]
    assert "146 predictions kept" in states[str(workspace["vit"])]
    assert "validation 0." in states[str(workspace["resnet"])]
    assert lines[-1] == "6 model(s): 3 done, 1 failed, 1 running, 1 missing"


def test_a_resubmission_runs_only_what_is_not_done(
    workspace, one_process, tmp_path, monkeypatch, capsys
):
    tree = Path(shutil.copytree(one_process, tmp_path / "tree"))
    (_folder(tree, workspace, "vit") / "results.json").unlink()
    loaded: list[str] = []
    real_load = run_module.load_model

    def counted(model, **kwargs):
        loaded.append(model)
        return real_load(model, **kwargs)

    monkeypatch.setattr(run_module, "load_model", counted)
    assert main(sweep_run_args(workspace, tree)) == 2
    assert sorted(loaded) == sorted([str(workspace["vit"]), str(workspace["broken"])])
    assert (
        capsys.readouterr()
        .out.splitlines()[-1]
        .startswith(
            "shard 0/1: 6 model(s); 4 done before, 0 held by another process, 2 run (1 failed)"
        )
    )
    vit = json.loads((_folder(tree, workspace, "vit") / "results.json").read_text())
    assert vit["run"]["images_predicted_this_session"] == 0  # its predictions were kept
    assert comparable_tree(tree).keys() == comparable_tree(one_process).keys()


def test_a_model_held_by_another_process_is_left_to_it(workspace, one_process, tmp_path, capsys):
    tree = Path(shutil.copytree(one_process, tmp_path / "tree"))
    for name in ("vit", "broken"):
        (_folder(tree, workspace, name) / "results.json").unlink(missing_ok=True)
    with outputs.locked_folder(_folder(tree, workspace, "broken")):
        assert main(sweep_run_args(workspace, tree)) == 0
    captured = capsys.readouterr()
    assert "is in use by another command" in captured.err
    assert captured.out.splitlines()[-1].startswith(
        "shard 0/1: 6 model(s); 4 done before, 1 held by another process, 1 run (0 failed)"
    )


def test_a_success_clears_an_earlier_failure(workspace, one_process, tmp_path):
    tree = Path(shutil.copytree(one_process, tmp_path / "tree"))
    vit = _folder(tree, workspace, "vit")
    (vit / "results.json").unlink()
    (vit / FAILURE_FILE).write_text('{"error": "X", "message": "an earlier failure"}')
    main(sweep_run_args(workspace, tree))
    assert not (vit / FAILURE_FILE).exists() and (vit / "results.json").exists()


def test_a_manifest_line_naming_an_unknown_model_stops_every_shard(workspace, tmp_path, capsys):
    manifest = tmp_path / "manifest.jsonl"
    lines = workspace["manifest"].read_text().splitlines()
    lines.insert(2, json.dumps({"model": str(tmp_path / "no-such-model")}))
    lines.append(json.dumps({"model": "org/model", "kind": "onnx"}))
    manifest.write_text("\n".join(lines) + "\n")
    tree = tmp_path / "tree"
    args = sweep_run_args(workspace, tree, "--shard", "1/2")
    args[2] = str(manifest)
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: manifest {str(manifest)!r}: 2 model(s) cannot be evaluated")
    assert "line 3: " in error and "no-such-model' is not a model folder" in error
    assert f"line {len(lines)}: kind of 'org/model': expected one of" in error
    assert error.count("\n") == 1 and not tree.exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", r"line 2: not valid JSON: Expecting value: .*: 'not json'"),
        ('{"model": "m", "cost": 0}', r"line 2: cost of 'm' is 0"),
        ('{"model": "m", "colour": 1}', r"line 2: unknown field\(s\) 'colour'"),
        ('["m"]', r"line 2: not an object"),
    ],
)
def test_a_manifest_line_that_is_not_an_entry_is_named(tmp_path, line, message):
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(f'{{"model": "a"}}\n{line}\n')
    with pytest.raises(Exception, match=message):
        read_manifest(manifest)


def test_a_model_listed_twice_is_refused(tmp_path):
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text('{"model": "a"}\n{"model": "b"}\n{"model": "a"}\n')
    with pytest.raises(Exception, match=r"1 line\(s\) of a model already listed.*line 3: a"):
        read_manifest(manifest)


@pytest.mark.parametrize("shard", ["3/3", "1", "-1/2", "a/b", "0/0"])
def test_a_shard_out_of_range_is_one_line(workspace, tmp_path, capsys, shard):
    assert main(sweep_run_args(workspace, tmp_path / "tree", f"--shard={shard}")) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: --shard '{shard}': expected K/N with 0 <= K < N")
    assert error.count("\n") == 1 and not (tmp_path / "tree").exists()


def test_the_shard_comes_from_slurm_when_not_given(
    workspace, one_process, tmp_path, monkeypatch, capsys
):
    tree = Path(shutil.copytree(one_process, tmp_path / "tree"))
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "5")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "4")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    main(sweep_run_args(workspace, tree))
    assert capsys.readouterr().out.splitlines()[-1].startswith("shard 1/3: ")


def _slurm_args(workspace, tree: Path, *extra: str) -> list[str]:
    return ["sweep", "slurm", str(workspace["manifest"]), *common_args(workspace, tree), *extra]


def test_the_sbatch_script_runs_shard_k_with_the_options_given(workspace, tmp_path, capsys):
    tree = tmp_path / "tree"
    args = _slurm_args(workspace, tree, "--array", "4", "--partition", "gpu", "--time", "2:00:00")
    args += ["--gpus-per-task", "1", "--sbatch-option=--account=lab", "--label-patch", "p.json"]
    assert main(args) == 0
    script = (tree / "_sweep" / "sweep.sbatch").read_text()
    logs = f"--output={tree.resolve()}/_sweep/logs/%A_%a.out"
    for directive in ("--array=0-3", "--partition=gpu", "--time=2:00:00", "--gpus-per-task=1"):
        assert f"#SBATCH {directive}\n" in script
    assert "#SBATCH --account=lab\n" in script and f"#SBATCH {logs}\n" in script
    command = script.splitlines()[-1]
    assert command.endswith('--shard "${SLURM_ARRAY_TASK_ID}/4"')
    assert f" sweep run {workspace['manifest']} --images {workspace['tar']} " in command
    assert " --label-patch p.json " in command and "--num-workers 0" in command
    assert "--split" not in command and "--array" not in command  # defaults and SLURM's own
    assert (tree / "_sweep" / "logs").is_dir()
    assert "submit it with: sbatch" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--partition", "a b"), "--partition 'a b': sbatch reads it from a script line"),
        (("--sbatch-option", "--qos high"), "--sbatch-option '--qos high': expected one sbatch"),
        (("--shard", "1/2"), "--shard: sweep slurm gives task K of --array N the shard K/N"),
    ],
)
def test_what_the_sbatch_script_cannot_say_is_refused(workspace, tmp_path, capsys, extra, message):
    args = _slurm_args(workspace, tmp_path / "tree", "--array", "2", *extra)
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "tree" / "_sweep" / "sweep.sbatch").exists()


def test_submitting_without_slurm_installed_is_one_line_and_keeps_the_script(
    workspace, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    tree = tmp_path / "tree"
    assert main(_slurm_args(workspace, tree, "--array", "2", "--submit")) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: sbatch is not installed here") and error.count("\n") == 1
    assert (tree / "_sweep" / "sweep.sbatch").exists()


def test_a_model_done_on_another_split_or_limit_is_run_again(workspace, one_process):
    from imagenet_multilabel.eval_cli.engine.run_options import RunOptions
    from imagenet_multilabel.eval_cli.sweeps.execute import _done

    folder = _folder(one_process, workspace, "vit")
    assert _done(folder, RunOptions(split="all"))
    assert not _done(folder, RunOptions(split="imagenet_m"))
    assert not _done(folder, RunOptions(split="all", limit=10))
    assert not _done(_folder(one_process, workspace, "broken"), RunOptions(split="all"))


def test_a_sweep_tree_feeds_the_leaderboard_and_push_results(one_process, tmp_path, capsys):
    """README's last sweep step: the tree's results files make the board, the tree is what
    push-results publishes; the failed model is in neither, the sweep's own folder adds nothing."""
    done = sorted(str(path) for path in one_process.glob(f"*/{outputs.RESULTS_FILE}"))
    assert len(done) == len(MODELS) - 1
    board = tmp_path / "board"
    assert main(["leaderboard", *done, "--output-dir", str(board)]) == 0
    page = (board / "leaderboard.html").read_text()
    assert all(Path(path).parent.name in page for path in done) and "broken" not in page
    capsys.readouterr()
    assert main(["push-results", str(one_process), "--repo-id", "org/sweep", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "0 official and 5 flagged result(s)" in printed, printed
    assert "broken" not in printed and "_sweep" not in printed


@pytest.mark.parametrize("hostile", ["a link out", "a FIFO", "a lock linked to the manifest"])
def test_a_hostile_model_folder_is_refused_before_any_work(workspace, tmp_path, capsys, hostile):
    """Each model's folder is declared to the frame as the tree's subfolder: a link out of the
    tree wrote the model's files wherever it pointed (exit 0), a FIFO failed after the images
    were indexed, naming `output_dir` to a command-line user."""
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    outside.mkdir()
    folder = _folder(tree, workspace, "vit")
    folder.parent.mkdir()
    if hostile == "a link out":
        folder.symlink_to(outside, target_is_directory=True)
    elif hostile == "a FIFO":
        os.mkfifo(folder)
    else:
        folder.mkdir()
        (folder / outputs.LOCK_FILE).symlink_to(workspace["manifest"])
    manifest = workspace["manifest"].read_bytes()
    assert main(sweep_run_args(workspace, tree)) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: --output-dir/{folder.name}"), line
    assert list(outside.iterdir()) == [] and workspace["manifest"].read_bytes() == manifest
    assert sorted(path.name for path in tree.iterdir()) == [folder.name]  # nothing written

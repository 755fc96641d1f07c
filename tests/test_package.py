"""The installed package: one namespace, the console command, launchers, the Python API."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from annotation_fixtures import synthetic_annotations
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.eval_cli import RUN_EXTRA_PACKAGES

import imagenet_multilabel

# Generic names that other PyPI distributions install at top level; a file of that name in the
# working directory is what a user's project may well contain.
STRAY_MODULES = ("metric", "cards", "eval_cli", "dataset_script")
ROOT = Path(__file__).resolve().parents[1]
# The public names that need the [run] extra; `pip install imagenet-multilabel` serves the rest.
NEEDS_RUN_EXTRA = {"evaluate_model", "evaluate_models", "ModelSpec", "ImageCategorizer"}
# Run first in a child interpreter: every import finder reports the [run] extra's packages
# missing, as after `pip install imagenet-multilabel` without the extra (sys.argv[1] names them).
HIDE_RUN_EXTRA = textwrap.dedent(
    """
    import sys

    HIDDEN = set(sys.argv[1].split(","))


    class Hidden:
        def __init__(self, finder):
            self.finder = finder

        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in HIDDEN:
                return None
            return self.finder.find_spec(name, path, target)

        def __getattr__(self, attribute):
            return getattr(self.finder, attribute)


    sys.meta_path[:] = [Hidden(finder) for finder in sys.meta_path]
    """
)


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def stray_cwd(tmp_path_factory) -> Path:
    """A working directory whose generic module names would shadow a top-level package."""
    cwd = tmp_path_factory.mktemp("user_project")
    for name in STRAY_MODULES:
        (cwd / f"{name}.py").write_text("raise ImportError('the stray module was imported')\n")
    return cwd


def test_nothing_is_installed_under_a_generic_top_level_name(stray_cwd):
    code = "import importlib.util as u, sys; print([n for n in sys.argv[1:] if u.find_spec(n)])"
    completed = _run([sys.executable, "-I", "-c", code, *STRAY_MODULES], cwd=stray_cwd)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"  # -I: not even the cwd's stray files


def test_console_command_and_module_form(stray_cwd):
    version = _run(["imagenet-multilabel", "--version"], cwd=stray_cwd)
    assert version.returncode == 0 and version.stdout.strip() == (
        f"imagenet-multilabel {imagenet_multilabel.__version__}"
    )
    helped = _run([sys.executable, "-m", "imagenet_multilabel", "--help"], cwd=stray_cwd)
    assert helped.returncode == 0, helped.stderr
    for command in ("score", "run", "build", "push", "push-metric", "push-results"):
        assert command in helped.stdout


@pytest.mark.slow
def test_score_and_the_metric_work_beside_stray_modules(stray_cwd, annotation_file, tmp_path):
    """A `metric.py` or `cards.py` in the working directory breaks nothing: the command scores
    and `evaluate.load(imagenet_multilabel.metric.PATH)` loads the module from there."""
    path, _ = annotation_file
    names = [n for n in synthetic_annotations()["imagenet_m"]]
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text(
        "".join(json.dumps({"file_name": n, "prediction": 0}) + "\n" for n in names)
    )
    args = ["--predictions", str(predictions), "--annotations", str(path)]
    scored = _run(
        [
            "imagenet-multilabel",
            "score",
            *args,
            "--allow-unverified-annotations",
            "--split",
            "imagenet_m",
        ],
        cwd=stray_cwd,
    )
    assert scored.returncode == 0, scored.stderr
    assert "ImageNet-M correct" in scored.stdout
    code = textwrap.dedent(
        """
        import evaluate, imagenet_multilabel.metric
        metric = evaluate.load(imagenet_multilabel.metric.PATH)
        row = {"file_name": "ILSVRC2012_val_00000001.JPEG", "image_id": 1, "original_label": 0,
               "correct_multi_labels": [0], "wrong_multi_labels": [], "unclear_multi_labels": [],
               "is_problematic": False}
        results = metric.compute(predictions=[0], references=[row], imagenet_m=True)
        print(results["imagenet_m_correct"])
        """
    )
    env = {**os.environ, "PYTHONPATH": ""}
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=stray_cwd, capture_output=True, text=True, env=env
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip().splitlines()[-1] == "1"


def test_python_api_scores_like_the_command(annotation_file, tmp_path):
    path, sha256 = annotation_file
    labels = imagenet_multilabel.load_labels(annotations=path, allow_unverified=True)
    assert set(labels.splits) == {"validation", "imagenet_m"}
    names = labels.split("validation").file_names.tolist()
    predictions = tmp_path / "p.csv"
    predictions.write_text(
        "file_name,prediction\n"
        + "".join(
            f"{n},{classes.validation_labels()[classes.image_id_from_file_name(n) - 1]}\n"
            for n in names
        )
    )
    document = imagenet_multilabel.score_predictions(predictions, labels=labels)
    assert document["labels"]["sha256"] == sha256
    assert document["metrics"]["validation"]["top1_accuracy_original"] == 1.0
    assert document["complete"] is True
    with pytest.raises(imagenet_multilabel.ToolkitError, match="^split: expected one of"):
        imagenet_multilabel.score_predictions(predictions, labels=labels, split="train")


def _run_extra_in_pyproject() -> set[str]:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = project["optional-dependencies"]["run"]
    return {re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0] for requirement in extra}


def test_run_checks_for_exactly_the_run_extra_and_the_core_needs_none_of_it():
    assert set(RUN_EXTRA_PACKAGES) == _run_extra_in_pyproject()
    tomllib = pytest.importorskip("tomllib")
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert (
        not {re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0] for r in core} & _run_extra_in_pyproject()
    )


@pytest.mark.parametrize(
    "statement",
    [
        "from imagenet_multilabel.eval_cli.scores.score import score_predictions",
        "from imagenet_multilabel.eval_cli.analysis.analyze import analyze_predictions",
        "from imagenet_multilabel.eval_cli.leaderboard.board import write_leaderboard",
        "from imagenet_multilabel.metric.scoring import score",
        "import imagenet_multilabel.eval_cli.commands.cli",
        "from imagenet_multilabel import "
        + ", ".join(sorted(set(imagenet_multilabel.__all__) - NEEDS_RUN_EXTRA)),
    ],
)
def test_scoring_imports_none_of_the_run_extra(statement):
    """Scoring stays light where torch is installed too: none of [run] is imported."""
    code = f"import sys\n{statement}\nprint(sorted(set(sys.argv[1:]) & set(sys.modules)))"
    completed = _run([sys.executable, "-c", code, *RUN_EXTRA_PACKAGES], cwd=ROOT)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]", statement


@pytest.mark.slow
def test_a_core_install_scores_and_run_names_the_extra(annotation_file, tmp_path):
    """Without the [run] extra: score (`--split full` too: every label set ships in the package),
    analyze, leaderboard, build and the `evaluate` module work; run says which extra to install
    and exits 2."""
    path, _ = annotation_file
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text(
        "".join(
            json.dumps({"file_name": n, "prediction": 0}) + "\n"
            for n in synthetic_annotations()["imagenet_m"]
        )
    )
    code = HIDE_RUN_EXTRA + textwrap.dedent(
        """
        import contextlib, io, json
        import evaluate, imagenet_multilabel.metric
        from imagenet_multilabel.eval_cli.commands.cli import main

        annotations, predictions, out = sys.argv[2:]
        labels = ["--annotations", annotations, "--allow-unverified-annotations"]
        scored = f"{out}/scored.json"
        commands = {
            "score": ["score", "--predictions", predictions, *labels, "--split", "imagenet_m",
                      "--output", scored],
            "score full": ["score", "--predictions", predictions, *labels, "--split", "full"],
            "analyze": ["analyze", "--predictions", predictions, *labels, "--split", "imagenet_m",
                        "--output-dir", f"{out}/analysis"],
            "leaderboard": ["leaderboard", scored, "--output-dir", f"{out}/board"],
            "build": ["build", "--output", f"{out}/built", *labels],
            "run": ["run", "--model", "timm/resnet50.a1_in1k", "--images", out],
        }
        outcome = {}
        for name, args in commands.items():
            stderr = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
                outcome[name] = [main(args), stderr.getvalue()]
        row = {"file_name": "ILSVRC2012_val_00000001.JPEG", "image_id": 1, "original_label": 0,
               "correct_multi_labels": [0], "wrong_multi_labels": [], "unclear_multi_labels": [],
               "is_problematic": False}
        metric = evaluate.load(imagenet_multilabel.metric.PATH)
        outcome["metric"] = metric.compute(predictions=[0], references=[row], imagenet_m=True)
        outcome["imported"] = sorted(set(sys.modules) & HIDDEN)
        print(json.dumps(outcome))
        """
    )
    args = [",".join(RUN_EXTRA_PACKAGES), str(path), str(predictions), str(tmp_path)]
    completed = _run([sys.executable, "-c", code, *args], cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    for command in ("score", "score full", "analyze", "leaderboard", "build"):
        assert outcome[command][0] == 0, (command, outcome[command][1])
    assert outcome["run"] == [
        2,
        'error: run needs the [run] extra: pip install "imagenet-multilabel[run]" '
        f"(not installed: {', '.join(RUN_EXTRA_PACKAGES)})\n",
    ]
    assert outcome["metric"]["imagenet_m_correct"] == 1
    assert outcome["imported"] == []

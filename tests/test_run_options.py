"""`RunOptions` (one object from the command line or from keywords, its checks between options)
and the API namespace that exposes it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from imagenet_multilabel.dataset_script.labels.loading import LabelSource
from imagenet_multilabel.eval_cli.commands.cli import main, options_of
from imagenet_multilabel.eval_cli.engine.run_options import RunOptions
from imagenet_multilabel.metric.errors import ToolkitError
from run_fixtures import namespace

import imagenet_multilabel

ARGS = ["run", "--model", "m", "--images", "i"]


def test_the_command_line_and_the_keywords_build_the_same_options():
    args = namespace([*ARGS, "--batch-size", "auto", "--num-workers", "3", "--limit", "5", "--cpu"])
    expected = RunOptions(batch_size="auto", num_workers=3, limit=5, cpu=True)
    assert options_of(RunOptions, args) == expected
    # every option of RunOptions is a flag of `run`, under the same name
    assert {field.name for field in dataclasses.fields(RunOptions)} <= set(vars(args))


def test_run_builds_its_option_objects_once(tmp_path, monkeypatch, capsys):
    """They were built three times per run (twice by the CLI, once more by the sweep), each
    time checked again."""
    built = Counter()
    for cls in (RunOptions, LabelSource):
        checks = cls.__post_init__
        monkeypatch.setattr(cls, "__post_init__", _counted(built, cls.__name__, checks))
    (tmp_path / "images").mkdir()
    args = ["run", "--model", str(tmp_path / "model"), "--images", str(tmp_path / "images")]
    assert main([*args, "--output-dir", str(tmp_path / "out")]) == 2  # not a model folder
    assert "does not exist; expected a local model folder" in capsys.readouterr().err
    assert built == {"RunOptions": 1, "LabelSource": 1}


def _counted(built: Counter, name: str, checks):
    def post_init(self):
        built[name] += 1
        checks(self)

    return post_init


@pytest.mark.parametrize(
    ("split", "extra", "message"),
    [
        ("bogus", {}, "split: expected one of validation, imagenet_m, all, full, got 'bogus'"),
        (
            "all",
            {"label_set_files": {"real": "real.json"}},
            r"label_set_files\['real'\] applies to split='full' only, the split that scores the "
            "ReaL labels",
        ),
        (
            "imagenet_m",
            {"allow_unverified_label_set_files": ["real"]},
            r"allow_unverified_label_set_files=\['real'\] applies to split='full' only",
        ),
        (
            "full",
            {"label_set_files": "real.json"},
            r"label_set_files: expected a mapping",
        ),
    ],
)
def test_what_is_scored_is_checked_when_the_options_are_made(split, extra, message):
    """`RunOptions(split="bogus")` was accepted, and the run failed after loading everything."""
    with pytest.raises(ToolkitError, match=f"^{message}"):
        RunOptions(split=split, **extra)


@pytest.mark.parametrize(
    ("keywords", "flags", "api_message", "cli_message"),
    [
        (
            {"dry_run": True},
            ["--dry-run"],
            "dry_run only applies with push_to_hub",
            "--dry-run only applies with --push-to-hub",
        ),
        (
            {"hub_repo_id": "a/b"},
            ["--hub-repo-id", "a/b"],
            "hub_repo_id only applies with push_to_hub",
            "--hub-repo-id only applies with --push-to-hub",
        ),
    ],
)
def test_an_option_that_would_be_ignored_is_refused_in_the_callers_words(
    keywords, flags, api_message, cli_message, capsys
):
    with pytest.raises(ToolkitError, match=f"^{api_message}$"):
        RunOptions(**keywords)
    assert main([*ARGS, *flags]) == 2
    assert capsys.readouterr().err == f"error: {cli_message}\n"
    with pytest.raises(ToolkitError, match=f"^{api_message}$"):  # the API refuses it too
        imagenet_multilabel.evaluate_model("org/model", "org/unused", **keywords)
    assert RunOptions(push_to_hub=True, **keywords).push_to_hub


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"batch_size": 0}, "batch_size: expected a positive integer or 'auto', got 0"),
        ({"batch_size": True}, "batch_size: expected a positive integer or 'auto'"),
        ({"num_workers": -1}, r"num_workers: expected an integer >= 0, got -1"),
        ({"limit": 0}, "limit: expected a positive integer or None, got 0"),
        ({"mixed_precision": "fp8"}, "mixed_precision: expected one of no, fp16, bf16"),
        ({"preprocess_on": "gpu"}, "preprocess_on: expected one of cpu, device, got 'gpu'"),
        ({"decode_on": "cuda"}, "decode_on: expected one of cpu, device, got 'cuda'"),
    ],
)
def test_a_bad_value_is_named(keywords, message):
    with pytest.raises(ToolkitError, match=message):
        RunOptions(**keywords)


def test_keywords_change_given_options_and_an_unknown_one_is_named():
    options = RunOptions(batch_size=8, cpu=True)
    assert options.replaced(batch_size=16) == RunOptions(batch_size=16, cpu=True)
    with pytest.raises(ToolkitError, match="unknown run option.*batch_sise; expected"):
        imagenet_multilabel.evaluate_model(
            "org/model", "org/unused", options=options, batch_sise=16
        )
    with pytest.raises(ToolkitError, match="options: expected RunOptions or None, got dict"):
        imagenet_multilabel.evaluate_models(["org/model"], "org/unused", options={"cpu": True})


def test_hub_repo_id_names_one_model_and_is_refused_for_several():
    with pytest.raises(ToolkitError, match="hub_repo_id names one model's repository"):
        imagenet_multilabel.evaluate_models(
            ["org/a", "org/b"],
            "org/unused",
            push_to_hub=True,
            hub_repo_id="someone/model",
        )


def test_dir_lists_the_api_and_every_name_resolves():
    listed = dir(imagenet_multilabel)
    api = {
        "RunOptions",
        "LabelSource",
        "analyze_predictions",
        "write_leaderboard",
        "compare_models",
        "merge_patches",
        "evaluate_model",
        "evaluate_models",
        "score_predictions",
    }
    assert api <= set(listed) and set(imagenet_multilabel.__all__) <= set(listed)
    for name in imagenet_multilabel.__all__:
        assert getattr(imagenet_multilabel, name) is not None, name


def test_without_the_run_extra_the_api_names_it(tmp_path: Path):
    """torch hidden, as after `pip install imagenet-multilabel`: the names that evaluate models
    say which extra to install; RunOptions and the scoring API still load."""
    code = textwrap.dedent(
        """
        import sys


        class HideTorch:  # every import finder reports torch missing
            def __init__(self, finder):
                self.finder = finder

            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "torch":
                    return None
                return self.finder.find_spec(name, path, target)

            def __getattr__(self, attribute):
                return getattr(self.finder, attribute)


        sys.meta_path[:] = [HideTorch(finder) for finder in sys.meta_path]
        import imagenet_multilabel as iml
        from imagenet_multilabel.metric.errors import ToolkitError

        iml.RunOptions(batch_size=8)
        iml.score_predictions
        for name in ("evaluate_model", "evaluate_models", "ModelSpec"):
            try:
                getattr(iml, name)
            except ToolkitError as error:
                print(error)
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        f'imagenet_multilabel.{name} needs the [run] extra: pip install "imagenet-multilabel[run]" '
        "(not installed: torch)"
        for name in ("evaluate_model", "evaluate_models", "ModelSpec")
    ]


def test_decoding_on_the_device_implies_preprocessing_there_and_refuses_cpu(capsys):
    assert RunOptions().preprocess_place == "cpu"
    assert RunOptions(decode_on="device").preprocess_place == "device"
    assert RunOptions().replaced(decode_on="device").preprocess_place == "device"
    assert RunOptions(preprocess_on="device").preprocess_place == "device"
    with pytest.raises(ToolkitError, match="^decode_on device .* implies preprocess_on device"):
        RunOptions(decode_on="device", preprocess_on="cpu")
    assert main([*ARGS, "--decode-on", "device", "--preprocess-on", "cpu"]) == 2
    assert "error: --decode-on device decodes" in capsys.readouterr().err


def test_the_command_line_offers_the_choices_the_code_checks(tmp_path: Path):
    """`--model-kind`, `--mixed-precision`, `--preprocess-on`/`--decode-on`, `--split` and
    `--zero-shot-prompts` repeated the code's constants as literals (which lived beside torch);
    their one definition is eval_cli.choices, read without importing torch."""
    from imagenet_multilabel.eval_cli import choices
    from imagenet_multilabel.eval_cli.commands.arguments import build_parser
    from imagenet_multilabel.eval_cli.models import KINDS, ZERO_SHOT_PROMPTS

    run = build_parser()._subparsers._group_actions[0].choices["run"]
    offered = {action.dest: tuple(action.choices or ()) for action in run._actions}
    assert offered["kind"] == choices.MODEL_KINDS == KINDS
    assert offered["zero_shot_prompts"] == choices.ZERO_SHOT_PROMPTS == ZERO_SHOT_PROMPTS
    assert offered["mixed_precision"] == choices.MIXED_PRECISIONS
    assert offered["preprocess_on"] == offered["decode_on"] == choices.PLACES
    assert offered["split"] == choices.SPLIT_CHOICES
    code = (
        "import sys; from imagenet_multilabel.eval_cli.commands.arguments import build_parser; "
        "build_parser(); print('torch' in sys.modules)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert completed.stdout.strip() == "False", completed.stderr

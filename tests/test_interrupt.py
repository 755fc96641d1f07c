"""Ctrl-C: one line on stderr saying what is kept (and how to resume), exit status 130, no
traceback, in every command. `run`'s resume after Ctrl-C is tested in test_run_faults.py."""

from __future__ import annotations

import pytest
from imagenet_multilabel.eval_cli import dataset_folder as build_module
from imagenet_multilabel.eval_cli.commands.cli import INTERRUPTED_STATUS, main
from imagenet_multilabel.eval_cli.leaderboard import board as leaderboard_module
from imagenet_multilabel.eval_cli.scores import push_results as push_results_module
from imagenet_multilabel.eval_cli.scores import score as score_module
from imagenet_multilabel.eval_cli.sweeps import execute as sweep_module


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


COMMANDS = {
    "score": (
        score_module,
        "score_predictions",
        ["score", "--predictions", "p.jsonl", "--output", "results.json"],
        "interrupted; nothing was written",
    ),
    "build": (
        build_module,
        "build_dataset",
        ["build", "--output", "built", "--annotations", "a.json"],
        "interrupted; nothing was written",
    ),
    "leaderboard": (
        leaderboard_module,
        "write_leaderboard",
        ["leaderboard", "results.json", "--output-dir", "board"],
        "interrupted; each file in board is whole, but some may be missing or from an earlier "
        "run: run the same command again",
    ),
    "push-results": (
        push_results_module,
        "push_results",
        ["push-results", "eval_results", "--repo-id", "org/results"],
        "interrupted; the commits already made are kept, each whole: run the same command again "
        "to finish (files the repository holds unchanged are skipped)",
    ),
    "sweep run": (
        sweep_module,
        "sweep_shard",
        ["sweep", "run", "manifest.jsonl", "--images", "val.tar", "--output-dir", "tree"],
        "interrupted: each model's predictions so far are kept in its folder under tree; run the "
        "same command again to resume (models done are not run again)",
    ),
}


@pytest.mark.parametrize(("module", "function", "args", "message"), COMMANDS.values(), ids=COMMANDS)
def test_ctrl_c_is_one_line_and_status_130(monkeypatch, capsys, module, function, args, message):
    monkeypatch.setattr(module, function, _interrupt)
    if function == "build_dataset":
        monkeypatch.setattr(
            "imagenet_multilabel.dataset_script.annotations.published.load_annotations", _none
        )
    assert main(args) == INTERRUPTED_STATUS == 130
    assert capsys.readouterr().err == f"{message}\n"


def _none(*args, **kwargs) -> None:
    return None


def test_only_the_first_process_of_a_launch_says_it(monkeypatch, capsys):
    monkeypatch.setattr(score_module, "score_predictions", _interrupt)
    monkeypatch.setenv("RANK", "1")
    assert main(["score", "--predictions", "p.jsonl"]) == 130
    assert capsys.readouterr().err == ""

"""The command line's errors are one short `error:` line, never a traceback or a 20 kB echo
(issue 13 items 16 and 18): unusable paths given to any command, invalid Hub ids, long values."""

from __future__ import annotations

import errno

import pytest
from imagenet_multilabel.dataset_script.hub.access import PushError
from imagenet_multilabel.dataset_script.hub.push_dataset import push_dataset
from imagenet_multilabel.eval_cli.commands import cli
from imagenet_multilabel.eval_cli.scores.hub import check_target_repo

TOO_LONG = "y" * 300  # one name longer than the file system's 255 bytes


def _error_line(capsys, argv: list[str]) -> str:
    assert cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["leaderboard", TOO_LONG, "--output-dir", "o"], "RESULTS"),
        (["analyze", "--run-dir", TOO_LONG], "--run-dir"),
        (["analyze", f"--run-dir={TOO_LONG}"], "--run-dir"),
        (["push", TOO_LONG, "--repo-id", "a/b", "--dry-run"], "DIR"),
        (["compare", TOO_LONG, "other", "--output-dir", "c"], "RUN_DIR_OR_PREDICTIONS"),
    ],
)
def test_a_path_too_long_is_one_error_naming_it(capsys, tmp_path, monkeypatch, argv, option):
    """Each was an OSError [Errno 36] traceback."""
    monkeypatch.chdir(tmp_path)
    line = _error_line(capsys, argv)
    assert line.startswith(f"error: {option} 'yyy")
    assert "cannot be used: File name too long" in line
    assert len(line) < 400


def test_an_os_error_on_a_path_not_given_keeps_its_traceback(monkeypatch, tmp_path):
    """A file the toolkit chose itself failing is a bug or the machine: not hidden."""

    def fails(args):
        raise OSError(errno.ENAMETOOLONG, "File name too long", "/somewhere/else")

    monkeypatch.setitem(cli.COMMANDS, "leaderboard", cli.Command(fails, ()))
    with pytest.raises(OSError, match="somewhere"):
        cli.main(["leaderboard", str(tmp_path / "results.json")])
    monkeypatch.setitem(cli.COMMANDS, "leaderboard", cli.Command(lambda args: 1 / 0, ()))
    with pytest.raises(ZeroDivisionError):
        cli.main(["leaderboard", str(tmp_path)])


INVALID_HUB_IDS = ["a/b--c", "a/b..c", "a/.b", "a/b.git", "a/" + "x" * 97]


@pytest.mark.parametrize("repo_id", INVALID_HUB_IDS)
def test_an_invalid_labels_hub_id_is_a_clear_error(repo_id, capsys, tmp_path, monkeypatch):
    """Each was an HFValidationError traceback from snapshot_download; the frame refuses it
    (a path not on disk that reads as no Hub id) before any work."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.jsonl").write_text("")
    line = _error_line(capsys, ["score", "--predictions", "p.jsonl", "--labels", repo_id])
    assert line.startswith("error: --labels '") and "does not exist; expected a labels" in line
    assert len(line) < 400


@pytest.mark.parametrize("repo_id", INVALID_HUB_IDS)
def test_push_refuses_an_invalid_repo_id_even_in_a_dry_run(repo_id, tmp_path):
    with pytest.raises(PushError, match=r"^repo_id .* is not a Hub dataset id"):
        push_dataset(tmp_path, repo_id, dry_run=True)


def test_a_long_hub_repo_id_is_not_echoed_whole():
    with pytest.raises(PushError, match="is not a Hub model repository id") as raised:
        check_target_repo("org/model", "z" * 20_000)
    assert len(str(raised.value)) < 500


LONG = "x" * 20_000


@pytest.mark.parametrize(
    "argv",
    [
        ["score", "--predictions", "p.jsonl", "--split", LONG],
        ["score", "--predictions", "p.jsonl", "--limit", LONG],
        ["run", "--model", "m", "--images", "i", "--mixed-precision", LONG],
        ["run", "--model", "m", "--images", "i", "--batch-size", LONG],
        ["score", "--predictions", "p.jsonl", LONG],
    ],
)
def test_argparse_errors_quote_a_long_value_shortened(capsys, argv):
    """argparse echoed the whole 20 kB value."""
    with pytest.raises(SystemExit) as raised:
        cli.main(argv)
    assert raised.value.code == 2
    error = capsys.readouterr().err
    assert "xxxx" in error and "(20,000 characters)" in error
    assert len(error) < 2_000

"""The three push paths (dataset, metric Space, results pull request) share one error type, one
token check and one turn of Hub errors (`dataset_script.hub_access`)."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub
import pytest
from imagenet_multilabel.dataset_script.hub import access, push_dataset, push_metric
from imagenet_multilabel.dataset_script.hub.access import PushError, login_hint
from imagenet_multilabel.eval_cli.scores import hub
from test_hub import sample_document
from test_push import FakeHfApi, built

TOKEN = "hf_secret_token_never_shown"


@pytest.fixture
def no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built(tmp_path_factory.mktemp("hub_access"), with_images=False)


def test_every_push_path_without_a_token_says_how_to_log_in(
    no_token, dataset_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub, "metadata_update", lambda *a, **k: pytest.fail("Hub called"))
    pushes = {
        "dataset": lambda: push_dataset.push_dataset(dataset_dir, "me/data", api=FakeHfApi()),
        "results": lambda: hub.push_results(sample_document(), tmp_path),
        "metric": lambda: push_metric.push_space("me/metric"),
    }
    for name, push_it in pushes.items():
        with pytest.raises(PushError) as raised:
            push_it()
        assert str(raised.value) == f"no Hugging Face token found: {login_hint()}", name


def test_an_empty_token_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", "  ")
    with pytest.raises(PushError, match=r"--token-env MY_TOKEN: .*unset or empty.*hf auth login"):
        access.resolve_token("MY_TOKEN")


def test_a_named_token_variable_wins_over_the_login(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_from_login")
    monkeypatch.setenv("MY_TOKEN", TOKEN)
    assert access.resolve_token("MY_TOKEN") == TOKEN
    assert access.resolve_token() == "hf_from_login"


@pytest.mark.parametrize(
    "error", [OSError("connection reset"), huggingface_hub.errors.OfflineModeIsEnabled("offline")]
)
def test_a_hub_error_becomes_a_push_error_naming_what_failed(error: Exception) -> None:
    with pytest.raises(PushError) as raised, access.hub_call("could not do X", "try Y"):
        raise error
    assert str(raised.value) == f"could not do X: {type(error).__name__}: {error}; try Y"
    assert raised.value.__cause__ is error


def test_other_errors_pass_through_unchanged() -> None:
    with pytest.raises(KeyError), access.hub_call("could not do X"):
        raise KeyError("a bug keeps its traceback")


def test_a_failed_dataset_upload_names_folder_and_target_but_not_the_token(
    dataset_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: TOKEN)
    api = FakeHfApi()

    def refuse(**kwargs) -> None:
        raise OSError("connection reset by peer")

    api.upload_folder = refuse
    with pytest.raises(PushError) as raised:
        push_dataset.push_dataset(dataset_dir, "me/data", api=api, echo=lambda line: None)
    message = str(raised.value)
    assert message.startswith(f"could not push {str(dataset_dir)!r} to datasets/me/data: OSError")
    assert TOKEN not in message

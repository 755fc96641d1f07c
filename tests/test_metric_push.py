"""imagenet-multilabel push-metric: dry run, token handling, the upload against a fake HfApi, and
the staged Space folder loading with evaluate exactly as it would from the Hub."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path
from typing import Any

import evaluate
import huggingface_hub
import pytest
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import hf_raise_for_status
from imagenet_multilabel.dataset_script.hub import push_metric as push
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.metric.references import References
from imagenet_multilabel.metric.scoring import score

REPO_ID = "some-org/imagenet-multilabel-v3"
NAME = "imagenet-multilabel-v3"
SPACE_FILES = {
    f"{NAME}.py",
    "scoring.py",
    "references.py",
    "errors.py",
    "label_sets.py",
    "README.md",
    "app.py",
    "requirements.txt",
}
FAKE_TOKEN = "hf_fake_token_never_printed_0123456789"


class NoNetworkHfApi:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("HfApi must not be constructed here")


class FakeHfApi:
    """Records what a push asks of the Hub; reads the staged files while they exist."""

    instances: list[FakeHfApi] = []

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.created: list[dict[str, Any]] = []
        self.commits: list[dict[str, Any]] = []
        FakeHfApi.instances.append(self)

    def create_repo(self, repo_id: str, **kwargs: Any) -> huggingface_hub.RepoUrl:
        self.created.append({"repo_id": repo_id, **kwargs})
        return huggingface_hub.RepoUrl(f"https://huggingface.co/spaces/{repo_id}")

    def create_commit(self, repo_id: str, operations: list, **kwargs: Any) -> None:
        files = {op.path_in_repo: Path(op.path_or_fileobj).read_bytes() for op in operations}
        self.commits.append({"repo_id": repo_id, "files": files, **kwargs})


@pytest.fixture
def no_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No token anywhere: no variables, an empty HF_HOME and token file path."""
    for variable in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "token"))


def test_dry_run_lists_every_file_and_touches_no_network(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(push, "HfApi", NoNetworkHfApi)
    assert main(["push-metric", "--repo-id", REPO_ID, "--dry-run", "--private"]) == 0
    output = capsys.readouterr().out
    assert f"Space {REPO_ID}" in output and "private=True" in output
    staged = {file.path_in_repo: file.size for file in push.stage_space(REPO_ID, tmp_path)}
    assert staged.keys() == SPACE_FILES
    for path_in_repo, size in staged.items():
        assert re.search(rf"^  {re.escape(path_in_repo)} +{size} bytes", output, re.M), path_in_repo
    assert f'evaluate.load("{REPO_ID}")' in output


def test_push_without_a_token_says_how_to_log_in(no_login, monkeypatch, capsys):
    monkeypatch.setattr(push, "HfApi", NoNetworkHfApi)
    assert main(["push-metric", "--repo-id", REPO_ID]) == 2
    error = capsys.readouterr().err
    assert "hf auth login" in error and "HF_TOKEN" in error


def test_push_with_an_unset_token_variable_is_an_error(no_login, monkeypatch, capsys):
    monkeypatch.setattr(push, "HfApi", NoNetworkHfApi)
    assert main(["push-metric", "--repo-id", REPO_ID, "--token-env", "MY_UNSET_TOKEN"]) == 2
    assert "MY_UNSET_TOKEN" in capsys.readouterr().err


@pytest.mark.parametrize("token_env", [None, "MY_WRITE_TOKEN"])
def test_push_creates_the_space_and_uploads_one_commit(no_login, monkeypatch, capsys, token_env):
    monkeypatch.setenv(token_env or "HF_TOKEN", FAKE_TOKEN)
    monkeypatch.setattr(push, "HfApi", FakeHfApi)
    FakeHfApi.instances.clear()
    argv = ["push-metric", "--repo-id", REPO_ID, "--private"]
    assert main(argv + (["--token-env", token_env] if token_env else [])) == 0

    (api,) = FakeHfApi.instances
    assert api.token == FAKE_TOKEN
    assert api.created == [
        {
            "repo_id": REPO_ID,
            "repo_type": "space",
            "space_sdk": "gradio",
            "private": True,
            "exist_ok": True,
        }
    ]
    (commit,) = api.commits
    assert commit["repo_id"] == REPO_ID and commit["repo_type"] == "space"
    assert commit["files"].keys() == SPACE_FILES
    module_source = (push.METRIC_DIR / push.MODULE_FILE).read_text(encoding="utf-8")
    assert commit["files"][f"{NAME}.py"].decode() == push.LOCAL_IMPORT_LINE.sub(
        "", module_source.replace(push.LOCAL_LOAD_CALL, f'evaluate.load("{REPO_ID}"')
    )
    unchanged_files = ("scoring.py", "references.py", "errors.py", "label_sets.py")
    for unchanged in (*unchanged_files, "requirements.txt"):
        assert commit["files"][unchanged] == (push.METRIC_DIR / unchanged).read_bytes()
    output = capsys.readouterr()
    assert f"https://huggingface.co/spaces/{REPO_ID}" in output.out
    assert FAKE_TOKEN not in output.out + output.err


# huggingface_hub's HTTP client (httpx2 in huggingface_hub 2.x, httpx in 1.x), whose errors it
# lets through for a refused connection or a timeout.
HTTP_CLIENT = importlib.import_module(HfHubHTTPError.__bases__[0].__module__)


def forbidden(*args: Any, **kwargs: Any) -> None:
    """The Hub's answer to a token without write access, raised as huggingface_hub raises it."""
    request = HTTP_CLIENT.Request("POST", "https://huggingface.co/api/repos/create")
    hf_raise_for_status(
        HTTP_CLIENT.Response(403, request=request, headers={"X-Error-Message": "no write access"})
    )


def connection_refused(*args: Any, **kwargs: Any) -> None:
    raise HTTP_CLIENT.ConnectError("[Errno 111] Connection refused")


@pytest.mark.parametrize(
    ("method", "raise_error", "message"),
    [
        ("create_repo", forbidden, r"could not create Space .*HfHubHTTPError: 403 Forbidden"),
        (
            "create_commit",
            connection_refused,
            r"could not upload the files to Space .*ConnectError: \[Errno 111\] Connection refused",
        ),
    ],
)
def test_hub_errors_become_one_line_errors(
    no_login, monkeypatch, capsys, method, raise_error, message
):
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    monkeypatch.setattr(push, "HfApi", FakeHfApi)
    monkeypatch.setattr(FakeHfApi, method, raise_error)
    assert main(["push-metric", "--repo-id", REPO_ID]) == 2
    output = capsys.readouterr()
    assert re.fullmatch(rf"error: {message}.*", output.err, re.S), output.err
    assert REPO_ID in output.err and "Traceback" not in output.err
    assert output.out == "" and FAKE_TOKEN not in output.err


def test_push_offline_names_the_repo_and_hf_hub_offline(no_login, monkeypatch, capsys):
    """The real HfApi under HF_HUB_OFFLINE=1 (tests/conftest.py) refuses before any request."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    assert main(["push-metric", "--repo-id", REPO_ID]) == 2
    error = capsys.readouterr().err
    assert f"could not create Space {REPO_ID}" in error
    assert "OfflineModeIsEnabled" in error and "HF_HUB_OFFLINE" in error


@pytest.mark.parametrize(
    ("repo_id", "message"),
    [
        ("imagenet-multilabel", "expected ORG/NAME"),
        ("org/sub/name", "expected ORG/NAME"),
        ("org/imagenet.multilabel", "no dots"),
        ("org/-name", "expected ORG/NAME"),
        ("org/scoring", "collide with the Space's scoring.py"),
        ("org/app", "collide with the Space's app.py"),
    ],
)
def test_bad_repo_ids_are_refused(monkeypatch, capsys, repo_id, message):
    monkeypatch.setattr(push, "HfApi", NoNetworkHfApi)
    assert main(["push-metric", "--repo-id", repo_id, "--dry-run"]) == 2
    assert message in capsys.readouterr().err


def test_staging_refuses_a_file_that_lost_its_load_call(monkeypatch, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in (push.MODULE_FILE, *push.SUPPORT_FILES):
        text = (push.METRIC_DIR / name).read_text(encoding="utf-8")
        if name == "app.py":
            text = text.replace(push.LOCAL_LOAD_CALL, 'evaluate.load("elsewhere"')
        (source / name).write_text(text, encoding="utf-8")
    monkeypatch.setattr(push, "METRIC_DIR", source)
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(push.PushError, match=r"app\.py no longer contains"):
        push.stage_space(REPO_ID, staging)


def test_staged_space_loads_with_evaluate_and_its_card_runs(tmp_path, monkeypatch):
    """evaluate.load("ORG/NAME") fetches NAME.py and its relative imports from the Space; a
    local folder named NAME holding the staged files resolves the same way."""
    space_dir = tmp_path / NAME
    space_dir.mkdir()
    staged = push.stage_space(REPO_ID, space_dir)
    assert (
        {path.name for path in space_dir.iterdir()}
        == SPACE_FILES
        == {file.path_in_repo for file in staged}
    )
    for name in (f"{NAME}.py", "README.md", "app.py"):
        text = (space_dir / name).read_text(encoding="utf-8")
        assert push.LOCAL_LOAD_CALL not in text and f'evaluate.load("{REPO_ID}")' in text
        assert "import imagenet_multilabel" not in text  # the Space has no toolkit to import
    compile((space_dir / "app.py").read_text(encoding="utf-8"), "app.py", "exec")

    metric = evaluate.load(str(space_dir))
    assert type(metric).__name__ == "ImagenetMultilabel"

    # The Space's card, with its Hub id pointed at the staged folder, runs as written.
    card = (space_dir / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", card, re.S)
    source = "\n".join(blocks).replace(
        f'evaluate.load("{REPO_ID}"', f"evaluate.load({str(space_dir)!r}"
    )
    test = doctest.DocTestParser().get_doctest(source, {}, "space card", str(space_dir), 0)
    runner = doctest.DocTestRunner()
    runner.run(test)
    summary = runner.summarize(verbose=False)
    assert summary.failed == 0 and summary.attempted > 10

    rows = [
        {
            "file_name": f"ILSVRC2012_val_{i + 1:08d}.JPEG",
            "image_id": i + 1,
            "original_label": i % 3,
            "correct_multi_labels": [i % 3],
            "wrong_multi_labels": [4],
            "unclear_multi_labels": [],
            "is_problematic": False,
        }
        for i in range(6)
    ]
    predictions = [0, 1, 4, 0, 9, 2]
    assert metric.compute(predictions=predictions, references=rows, allow_partial=True) == score(
        predictions, References.from_rows(rows), allow_partial=True
    )

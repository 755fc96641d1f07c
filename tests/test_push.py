"""``push``: dry run, login error, the public-images refusal, and the calls made to the Hub."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
from annotation_fixtures import synthetic_annotations, write_annotation_file
from huggingface_hub import RepoUrl
from image_fixtures import make_val_tar
from imagenet_multilabel.dataset_script import build
from imagenet_multilabel.dataset_script.annotations.published import load_annotations
from imagenet_multilabel.dataset_script.hub import push_dataset
from imagenet_multilabel.eval_cli.commands.cli import main

TOKEN = "hf_secret_token_never_shown"
REPO = "someone/imagenet-multilabel"


class FakeHfApi:
    """Records the calls ``push_dataset`` makes; ``existing`` is None or the repo's privacy,
    ``remote_files`` what an existing repository holds."""

    def __init__(self, existing: bool | None = None, remote_files: tuple[str, ...] = ()) -> None:
        self.existing, self.remote_files = existing, list(remote_files)
        self.calls: list[tuple[str, dict]] = []

    def repo_exists(self, repo_id: str, **kwargs) -> bool:
        self.calls.append(("repo_exists", {"repo_id": repo_id, **kwargs}))
        return self.existing is not None

    def repo_info(self, repo_id: str, **kwargs) -> SimpleNamespace:
        self.calls.append(("repo_info", {"repo_id": repo_id, **kwargs}))
        return SimpleNamespace(private=self.existing)

    def list_repo_files(self, repo_id: str, **kwargs) -> list[str]:
        self.calls.append(("list_repo_files", {"repo_id": repo_id, **kwargs}))
        assert self.existing is not None, "listed the files of a repository that does not exist"
        return self.remote_files

    def create_repo(self, repo_id: str, **kwargs) -> RepoUrl:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return RepoUrl(f"https://huggingface.co/datasets/{repo_id}")

    def update_repo_settings(self, repo_id: str, **kwargs) -> None:
        self.calls.append(("update_repo_settings", {"repo_id": repo_id, **kwargs}))

    def upload_folder(self, **kwargs) -> None:
        self.calls.append(("upload_folder", kwargs))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


class NoNetworkApi:
    def __getattr__(self, name: str):
        raise AssertionError(f"dry run called HfApi.{name}")


@pytest.fixture(scope="module")
def labels_dir(tmp_path_factory) -> Path:
    return built(tmp_path_factory.mktemp("push_labels"), with_images=False)


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory) -> Path:
    return built(tmp_path_factory.mktemp("push_images"), with_images=True)


def built(directory: Path, with_images: bool) -> Path:
    """A small build: the ImageNet-M images plus a few others."""
    data = synthetic_annotations()
    names = sorted(name for name in data["initial_annots"] if name.startswith("ILSVRC"))
    keep = sorted(set(names[:5]) | set(data["imagenet_m"]))
    data["initial_annots"] = {name: data["initial_annots"][name] for name in keep}
    write_annotation_file(directory / "annotations.json", data)
    annotations = load_annotations(
        directory / "annotations.json", allow_unverified=True, cache_dir=directory / "cache"
    )
    images = None
    if with_images:
        image_ids = [int(image_id) for image_id in annotations.image_ids]
        images = str(make_val_tar(directory / "val.tar", image_ids))
    return build.build_dataset(directory / "dataset", annotations, images=images)


@pytest.fixture
def token(monkeypatch) -> str:
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: TOKEN)
    return TOKEN


def test_dry_run_lists_every_file_with_size_and_target_offline(images_dir, monkeypatch):
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: pytest.fail("token read"))
    lines: list[str] = []
    result = push_dataset.push_dataset(
        images_dir, REPO, dry_run=True, api=NoNetworkApi(), echo=lines.append
    )
    assert result is None
    files = sorted(p for p in images_dir.rglob("*") if p.is_file())
    assert len(files) > 5
    for path in files:
        relative = path.relative_to(images_dir).as_posix()
        line = next(line for line in lines if f"  {relative}  " in line)
        assert f"{path.stat().st_size:,d}" in line
        assert line.endswith(f"datasets/{REPO}/{relative}")
    assert (
        lines[0]
        == f"dry run: nothing is uploaded; a push would send these files to datasets/{REPO}:"
    )
    assert f"{len(files)} files -> datasets/{REPO}" in lines[len(files) + 1]
    assert (
        "under labels/, images/ that are not listed above will be deleted" in lines[len(files) + 2]
    )
    assert "refuse a public repository" in lines[-2]
    assert lines[-1].startswith("warning: the labels are UNVERIFIED")


def test_no_token_explains_how_to_log_in(labels_dir):
    # conftest removes HF_TOKEN and points HF_HOME at an empty directory.
    assert huggingface_hub.get_token() is None
    with pytest.raises(push_dataset.PushError, match="hf auth login.*HF_TOKEN"):
        push_dataset.push_dataset(labels_dir, REPO, api=FakeHfApi())


def test_labels_go_to_a_new_public_repo(labels_dir, token):
    api, lines = FakeHfApi(), []
    url = push_dataset.push_dataset(labels_dir, REPO, api=api, echo=lines.append)
    assert url == f"https://huggingface.co/datasets/{REPO}"
    assert api.names() == ["repo_exists", "create_repo", "upload_folder"]
    create, upload = api.calls[1][1], api.calls[2][1]
    assert create == {"repo_id": REPO, "repo_type": "dataset", "private": False, "exist_ok": True}
    assert upload["repo_id"] == REPO and upload["repo_type"] == "dataset"
    assert Path(upload["folder_path"]) == labels_dir
    assert upload["delete_patterns"] == ["labels/*"]
    assert url in lines[-1]
    assert token not in " ".join(lines) + repr(api.calls)


@pytest.mark.parametrize(
    ("existing", "private"),
    [(None, False), (False, False), (False, True)],
    ids=["new repo, no --private", "existing public", "existing public despite --private"],
)
def test_images_are_refused_for_a_public_repo(images_dir, token, existing, private):
    api = FakeHfApi(existing=existing)
    with pytest.raises(
        push_dataset.PushError, match="refusing to upload ImageNet images"
    ) as raised:
        push_dataset.push_dataset(images_dir, REPO, private=private, api=api)
    assert "allow_public_images=True" in str(raised.value)  # as Python spells it
    assert "--" not in str(raised.value)
    assert "create_repo" not in api.names() and "upload_folder" not in api.names()
    assert token not in str(raised.value)


@pytest.mark.parametrize(("existing", "private"), [(None, True), (True, False)])
def test_images_go_to_a_private_repo(images_dir, token, existing, private):
    api = FakeHfApi(existing=existing)
    push_dataset.push_dataset(images_dir, REPO, private=private, api=api, echo=lambda line: None)
    assert api.names()[-2:] == ["create_repo", "upload_folder"]
    assert "update_repo_settings" not in api.names()
    assert api.calls[-1][1]["delete_patterns"] == ["labels/*", "images/*"]


def test_allow_public_images_uploads_behind_a_gate(images_dir, token):
    api = FakeHfApi()
    push_dataset.push_dataset(
        images_dir, REPO, allow_public_images=True, api=api, echo=lambda _: None
    )
    assert api.names() == ["repo_exists", "create_repo", "update_repo_settings", "upload_folder"]
    assert api.calls[2][1] == {"repo_id": REPO, "repo_type": "dataset", "gated": "auto"}


IMAGES_REMOTE = ("README.md", "labels/validation-00000-of-00001.parquet")
IMAGES_REMOTE += tuple(f"images/validation-{i:05d}-of-00003.parquet" for i in range(3))


def test_labels_only_push_keeps_a_remote_images_config_unless_told(labels_dir, token):
    api = FakeHfApi(existing=True, remote_files=IMAGES_REMOTE)
    with pytest.raises(
        push_dataset.PushError, match="3 file.*under images/.*pass replace_remote_configs=True"
    ):
        push_dataset.push_dataset(labels_dir, REPO, api=api)
    assert api.names() == ["repo_exists", "repo_info", "list_repo_files"]
    assert api.calls[-1][1] == {"repo_id": REPO, "repo_type": "dataset"}


def test_replace_remote_configs_deletes_the_remote_images(labels_dir, token):
    api, lines = FakeHfApi(existing=True, remote_files=IMAGES_REMOTE), []
    push_dataset.push_dataset(
        labels_dir, REPO, replace_remote_configs=True, api=api, echo=lines.append
    )
    assert api.names()[-1] == "upload_folder"
    assert api.calls[-1][1]["delete_patterns"] == ["labels/*", "images/*"]
    assert any("deleting the remote files under images/" in line for line in lines)


def test_existing_labels_only_repo_takes_a_labels_push(labels_dir, token):
    api = FakeHfApi(existing=False, remote_files=IMAGES_REMOTE[:2])
    push_dataset.push_dataset(labels_dir, REPO, api=api, echo=lambda _: None)
    assert api.calls[-1][1]["delete_patterns"] == ["labels/*"]


def test_a_folder_that_was_not_built_is_refused(tmp_path, token):
    with pytest.raises(push_dataset.PushError, match="not a built dataset folder"):
        push_dataset.push_dataset(tmp_path, REPO, api=FakeHfApi())


def test_cli_push(labels_dir, capsys):
    assert main(["push", str(labels_dir), "--repo-id", REPO, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dry run: nothing is uploaded")
    sha256 = hashlib.sha256((labels_dir.parent / "annotations.json").read_bytes()).hexdigest()
    assert (
        f"warning: the labels are UNVERIFIED: built from the annotation file with sha256 {sha256}, "
        "not the published one"
    ) in out
    assert f"labels/validation-00000-of-00001.parquet  ->  datasets/{REPO}/" in out
    assert "holds files under images/, the push will stop" in out
    args = ["push", str(labels_dir), "--repo-id", REPO, "--dry-run", "--replace-remote-configs"]
    assert main(args) == 0
    assert "remote files under images/ will be deleted too" in capsys.readouterr().out
    assert main(["push", str(labels_dir), "--repo-id", REPO]) == 2
    assert "hf auth login" in capsys.readouterr().err

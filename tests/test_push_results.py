"""push-results: a tree of run folders as a results dataset, offline (dry run) and against a fake
HfApi (batched commits); the dataset read back by the leaderboard; what is never published."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import huggingface_hub
import pyarrow.parquet as pq
import pytest
from huggingface_hub import RepoUrl
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.annotations.published import PUBLISHED_SHA256
from imagenet_multilabel.dataset_script.hub import files as hub_files
from imagenet_multilabel.dataset_script.hub.access import PushError
from imagenet_multilabel.dataset_script.hub.push_dataset import image_paths
from imagenet_multilabel.dataset_script.labels.loading import load_labels
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.eval_cli.leaderboard import board as leaderboard
from imagenet_multilabel.eval_cli.leaderboard.html import page_data
from imagenet_multilabel.eval_cli.leaderboard.ranking import build_leaderboard
from imagenet_multilabel.eval_cli.scores.model_card import PUBLIC_BLOCKS
from imagenet_multilabel.eval_cli.scores.push_results import push_results
from imagenet_multilabel.eval_cli.scores.results_dataset import ResultsDatasetError
from imagenet_multilabel.eval_cli.scores.score import score_predictions

REPO = "someone/imagenet-multilabel-results"
TOKEN = "hf_secret_token_never_shown"
LOCAL_MODEL = "/home/someone/checkpoints/my-finetune"


class FakeHfApi:
    """Records what a push asks of the Hub; ``remote`` is what the repository holds (None: it
    does not exist); committed files are kept by path."""

    def __init__(self, remote: list[str] | None = None) -> None:
        self.remote = remote
        self.calls: list[str] = []
        self.commits: list[dict[str, Any]] = []

    def repo_exists(self, repo_id: str, **kwargs: Any) -> bool:
        self.calls.append("repo_exists")
        return self.remote is not None

    def list_repo_files(self, repo_id: str, **kwargs: Any) -> list[str]:
        self.calls.append("list_repo_files")
        return list(self.remote or [])

    def create_repo(self, repo_id: str, **kwargs: Any) -> RepoUrl:
        self.calls.append("create_repo")
        assert kwargs["repo_type"] == "dataset" and kwargs["exist_ok"] is True
        return RepoUrl(f"https://huggingface.co/datasets/{repo_id}")

    def create_commit(self, repo_id: str, operations: list, **kwargs: Any) -> None:
        self.calls.append("create_commit")
        assert repo_id == REPO and kwargs["repo_type"] == "dataset"
        files = {op.path_in_repo: op.path_or_fileobj for op in operations}
        assert all(isinstance(data, bytes) for data in files.values())
        self.commits.append({"message": kwargs["commit_message"], "files": files})

    def committed(self) -> dict[str, bytes]:
        return {path: data for commit in self.commits for path, data in commit["files"].items()}


class NoNetworkApi:
    def __getattr__(self, name: str):
        raise AssertionError(f"a dry run called HfApi.{name}")


def _predictions(path: Path, names: list[str], shift: int, *, extra: dict | None = None) -> None:
    """Top-5 for ``names``: the original label shifted by ``shift`` first, every third wrong."""
    original = classes.validation_labels()
    lines = []
    for index, name in enumerate(names):
        first = int(original[classes.image_id_from_file_name(name) - 1]) + shift
        top5 = [(first + k) % 1000 for k in range(5)]
        if index % 3 == 0:
            top5[0] = (top5[0] + 500) % 1000
        record = {
            "file_name": name,
            "prediction": top5[0],
            "top5": top5,
            "top5_probs": [0.5, 0.2, 0.1, 0.1, 0.05],
            **(extra or {}),
        }
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def tree(annotation_file, tmp_path_factory) -> Path:
    """Three run folders scored on the test's labels: one made to look official (the published
    labels, verified), one flagged, one of a local model with local paths recorded; plus an
    analysis folder holding a results.json without predictions."""
    root = tmp_path_factory.mktemp("results_tree") / "eval_results"
    labels = load_labels(annotations=annotation_file[0], allow_unverified=True)
    names = sorted(
        set(labels.split("validation").file_names.tolist())
        | set(labels.split("imagenet_m").file_names.tolist())
    )
    for folder, model, shift in (
        ("timm--resnet50.a1_in1k", "timm/resnet50.a1_in1k", 0),
        ("org--flagged-model", "org/flagged-model", 1),
        ("my-finetune", LOCAL_MODEL, 2),
    ):
        run = root / folder
        run.mkdir(parents=True)
        _predictions(run / "predictions.jsonl", names, shift)
        document = score_predictions(run / "predictions.jsonl", split="all", labels=labels)
        document["predictions"]["file"] = "predictions.jsonl"
        document["model"] = {"id": model, "revision": "main", "kind": "timm"}
        document["run"] = {"images_source": "val.tar", "label_patch_paths": []}
        document["environment"]["command"] = [
            "imagenet-multilabel",
            "run",
            "--model",
            model,
            "--images",
            f"{root}/../val.tar",
        ]
        if folder.startswith("timm"):
            document["labels"].update(verified=True, version="3.0.0", sha256=PUBLISHED_SHA256)
        if model == LOCAL_MODEL:
            document["model"]["local"] = True
        (run / "results.json").write_text(json.dumps(document))
        # What `run` records to resume: the model as resolved, a local one by its absolute path.
        identity = {"model": document["model"], "labels_sha256": document["labels"]["sha256"]}
        (run / "run_identity.json").write_text(json.dumps(identity))
    analysis = root / "timm--resnet50.a1_in1k" / "analysis"
    analysis.mkdir()
    shutil.copy(root / "org--flagged-model" / "results.json", analysis / "results.json")
    return root


@pytest.fixture
def token(monkeypatch) -> str:
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: TOKEN)
    return TOKEN


def _pushed(tree: Path, token: str, **options: Any) -> FakeHfApi:
    api = FakeHfApi(**options.pop("fake", {}))
    lines: list[str] = []
    url = push_results(tree, REPO, api=api, echo=lines.append, **options)
    assert url == f"https://huggingface.co/datasets/{REPO}"
    assert token not in " ".join(lines) + repr(api.commits)[:100_000]
    return api


def test_the_dry_run_lists_what_would_be_sent_offline(tree, monkeypatch):
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: pytest.fail("token read"))
    lines: list[str] = []
    assert push_results(tree, REPO, dry_run=True, api=NoNetworkApi(), echo=lines.append) is None
    text = "\n".join(lines)
    assert text.startswith(f"DRY RUN: nothing is sent. A real run creates datasets/{REPO}")
    assert "commits 7 file(s) in 1 commit(s)" in text
    assert "  official  official/timm/resnet50.a1_in1k/results_" in text
    assert "  flagged   flagged/org/flagged-model/results_" in text
    assert "  flagged   flagged/local/my-finetune/results_" in text
    assert "<- my-finetune  [unverified]" in text
    assert "1 official and 2 flagged result(s)" in text
    assert "note: left out timm--resnet50.a1_in1k/analysis: no predictions.jsonl" in text


def test_the_cli_dry_run_and_a_bad_repo_id(tree, capsys):
    assert main(["push-results", str(tree), "--repo-id", REPO, "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("DRY RUN")
    assert main(["push-results", str(tree), "--repo-id", "a/b/c", "--dry-run"]) == 2
    error = capsys.readouterr().err
    assert (
        error.startswith("error: --repo-id 'a/b/c' is not a Hub dataset id")
        and error.count("\n") == 1
    )


def test_a_push_commits_in_batches_the_card_last(tree, token):
    api = _pushed(tree, token, files_per_commit=2)
    assert api.calls[:3] == ["repo_exists", "create_repo", "create_commit"]
    assert [len(commit["files"]) for commit in api.commits] == [2, 2, 2, 1]
    assert [commit["message"] for commit in api.commits][-1] == (
        "Add 3 ImageNet multi-label result(s) (part 4 of 4)"
    )
    assert list(api.commits[-1]["files"]) == ["README.md"]
    files = api.committed()
    assert sorted(path.split("/", 1)[0] for path in files) == [
        "README.md",
        *["flagged"] * 4,
        *["official"] * 2,
    ]
    card = files["README.md"].decode()
    assert "config_name: official" in card and "config_name: flagged" in card
    assert f"imagenet-multilabel leaderboard hf://datasets/{REPO}" in card


def test_published_files_hold_no_local_path_and_no_image(tree, token):
    files = _pushed(tree, token).committed()
    assert not [path for path in files if Path(path).name == "run_identity.json"]
    for path, data in files.items():
        assert not image_paths([path])
        assert str(tree.parent).encode() not in data, path
        assert b"/home/someone" not in data, path
    (official,) = [p for p in files if p.startswith("official/") and p.endswith(".json")]
    document = json.loads(files[official])
    assert document["publication"] == {"status": "official", "problems": []}
    assert document["environment"]["command"][-1] == "val.tar"
    (local,) = [p for p in files if p.startswith("flagged/local/") and p.endswith(".json")]
    document = json.loads(files[local])
    assert document["model"]["id"] == "my-finetune" and document["model"]["local"] is True
    assert document["publication"]["status"] == "flagged"
    assert document["publication"]["problems"][0].startswith("UNVERIFIED labels")
    assert set(document) <= {*PUBLIC_BLOCKS, "publication"}


def test_the_predictions_parquet_is_the_predictions_by_file_name(tree, token):
    files = _pushed(tree, token).committed()
    (parquet,) = [p for p in files if p.startswith("official/") and p.endswith(".parquet")]
    table = pq.read_table(io.BytesIO(files[parquet]))
    assert table.column_names == ["model", "file_name", "prediction", "top5", "top5_probs"]
    rows = {row["file_name"]: row for row in table.to_pylist()}
    source = tree / "timm--resnet50.a1_in1k" / "predictions.jsonl"
    for line in source.read_text().splitlines():
        record = json.loads(line)
        row = rows.pop(record["file_name"])
        assert row["model"] == "timm/resnet50.a1_in1k"
        assert row["prediction"] == record["prediction"] and row["top5"] == record["top5"]
        assert row["top5_probs"] == pytest.approx(record["top5_probs"], abs=1e-7)
    assert rows == {}


def _local_copy(files: dict[str, bytes], folder: Path) -> Path:
    for path, data in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    return folder


def test_the_leaderboard_reads_a_local_copy_back(tree, token, tmp_path):
    copy = _local_copy(_pushed(tree, token).committed(), tmp_path / "dataset")
    board = leaderboard.write_leaderboard([copy], tmp_path / "board")
    by_model = {entry.model: entry for entry in board.entries}
    assert set(by_model) == {"timm/resnet50.a1_in1k", "org/flagged-model", "my-finetune"}
    assert by_model["timm/resnet50.a1_in1k"].official  # recomputed from what the file records
    assert by_model["org/flagged-model"].flags == ("unverified",)
    assert by_model["timm/resnet50.a1_in1k"].family == "ResNet"
    rows = page_data(board, tmp_path / "board")["rows"]
    first = rows[0]
    assert first["results"].startswith("../dataset/official/timm/resnet50.a1_in1k/results_")
    assert first["predictions"] == first["results"].replace("results_", "predictions_").replace(
        ".json", ".parquet"
    )


def test_the_leaderboard_reads_a_hub_dataset_through_the_cache(tree, token, tmp_path, monkeypatch):
    copy = _local_copy(_pushed(tree, token).committed(), tmp_path / "snapshot")
    asked = []

    def snapshot_download(repo_id, **kwargs):
        asked.append((repo_id, kwargs))
        return str(copy)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    board = build_leaderboard([f"hf://datasets/{REPO}"])
    assert asked[0][0] == REPO and asked[0][1]["repo_type"] == "dataset"
    assert all(pattern.endswith(".json") for pattern in asked[0][1]["allow_patterns"])
    urls = sorted(entry.file.url for entry in board.entries)
    prefix = f"https://huggingface.co/datasets/{REPO}/blob/main/"
    assert all(url.startswith(prefix) for url in urls)
    assert any(url.startswith(prefix + "official/timm/resnet50.a1_in1k/results_") for url in urls)


def test_an_unreachable_hub_dataset_is_one_error_line(tmp_path, capsys):
    # conftest sets HF_HUB_OFFLINE=1 and an empty cache: nothing to read
    args = ["leaderboard", f"hf://datasets/{REPO}", "--output-dir", str(tmp_path / "out")]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: cannot read the dataset repository '{REPO}'")
    assert error.count("\n") == 1


def test_an_existing_repository_keeps_its_configs_in_the_card(tree, token, tmp_path):
    official_only = tmp_path / "tree"
    shutil.copytree(tree / "timm--resnet50.a1_in1k", official_only / "one")
    remote = ["README.md", "flagged/org/x/results_2026-01-01T00-00-00.json"]
    api = _pushed(official_only, token, fake={"remote": remote})
    assert api.calls[:3] == ["repo_exists", "list_repo_files", "create_repo"]
    card = api.committed()["README.md"].decode()
    assert "config_name: official" in card and "config_name: flagged" in card


def test_a_tree_that_cannot_be_published_sends_nothing(tree, token, tmp_path):
    broken = tmp_path / "tree"
    shutil.copytree(tree, broken)
    with (broken / "org--flagged-model" / "predictions.jsonl").open("a") as handle:
        handle.write("\n")  # predicted further since it was scored
    api = FakeHfApi()
    with pytest.raises(ResultsDatasetError, match="org--flagged-model: predictions.jsonl is not"):
        push_results(broken, REPO, api=api, echo=lambda line: None)
    assert api.calls == []
    # the same model twice at one time: one path for two results
    shutil.copytree(tree / "org--flagged-model", broken / "copy")
    shutil.copy(tree / "org--flagged-model" / "predictions.jsonl", broken / "org--flagged-model")
    with pytest.raises(ResultsDatasetError, match="would both be published as flagged/org/"):
        push_results(broken, REPO, api=api, echo=lambda line: None)
    shutil.rmtree(broken / "copy")
    # a local path in a field the public copy does not know
    document = json.loads((broken / "my-finetune" / "results.json").read_text())
    document["run"]["feed_note"] = "../private/notes.txt"
    (broken / "my-finetune" / "results.json").write_text(json.dumps(document))
    with pytest.raises(ResultsDatasetError, match="run.feed_note holds a local path"):
        push_results(broken, REPO, api=api, echo=lambda line: None)
    assert api.calls == []
    with pytest.raises(ResultsDatasetError, match="nothing to publish"):
        push_results(tree / "timm--resnet50.a1_in1k" / "analysis", REPO, dry_run=True)


def test_images_beside_the_runs_or_inside_predictions_are_never_sent(tree, token, tmp_path):
    with_images = tmp_path / "tree"
    shutil.copytree(tree / "org--flagged-model", with_images / "run")
    thumbnails = with_images / "run" / "analysis" / "review" / "thumbnails"
    thumbnails.mkdir(parents=True)
    (thumbnails / "ILSVRC2012_val_00000001-1.jpg").write_bytes(b"\xff\xd8 a JPEG")
    run = with_images / "run"
    names = [
        json.loads(line)["file_name"]
        for line in (run / "predictions.jsonl").read_text().splitlines()
    ]
    _predictions(
        run / "predictions.jsonl", names, 1, extra={"image": "data:image/jpeg;base64,/9j/"}
    )
    document = json.loads((run / "results.json").read_text())
    document["predictions"].pop("sha256")  # read and checked instead
    document["thumbnail"] = "data:image/jpeg;base64,/9j/"  # not a block of a results document
    (run / "results.json").write_text(json.dumps(document))
    files = _pushed(with_images, token).committed()
    assert sorted(Path(path).suffix for path in files) == [".json", ".md", ".parquet"]
    assert all(b"base64" not in data for data in files.values())


def test_no_upload_sends_an_image_file():
    api = FakeHfApi()
    pending = [hub_files.PendingFile("official/x/thumbnail.JPG", lambda: b"")]
    with pytest.raises(PushError, match="refusing to upload 1 image file"):
        hub_files.commit_in_batches(api, REPO, pending, message="m")
    assert api.commits == []


def test_a_local_folder_named_in_another_encoding_is_published_readably(tree, token, tmp_path):
    odd = tmp_path / "tree"
    shutil.copytree(tree / "my-finetune", odd / "run")
    document = json.loads((odd / "run" / "results.json").read_text())
    document["model"]["id"] = "/home/someone/caf\udce9"  # a Latin-1 name read as UTF-8
    (odd / "run" / "results.json").write_text(json.dumps(document))
    files = _pushed(odd, token).committed()
    (parquet,) = [path for path in files if path.endswith(".parquet")]
    assert parquet.startswith("flagged/local/caf")
    assert set(pq.read_table(io.BytesIO(files[parquet])).column("model").to_pylist()) == {
        "caf\ufffd"
    }


def test_a_connection_lost_midway_keeps_the_whole_commits_and_says_how_to_resume(
    tree, token, monkeypatch, capsys
):
    api = FakeHfApi()
    commit = api.create_commit

    def second_fails(repo_id, operations, **kwargs):
        if len(api.commits) == 1:
            raise OSError("[Errno 111] Connection refused")  # what the HTTP client's error is
        commit(repo_id, operations, **kwargs)

    monkeypatch.setattr(api, "create_commit", second_fails)
    monkeypatch.setattr("imagenet_multilabel.eval_cli.scores.push_results.HfApi", lambda **_: api)
    args = ["push-results", str(tree), "--repo-id", REPO, "--files-per-commit", "2"]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: could not publish the results to datasets/{REPO}: OSError")
    assert "the commits already made are kept; run the same command again" in error
    assert len(api.commits) == 1 and "README.md" not in api.committed()

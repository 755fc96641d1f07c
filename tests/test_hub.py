"""Hub outputs: model-index, `.eval_results` files, the card section, and the one pull request."""

from __future__ import annotations

import copy
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from huggingface_hub import CommitInfo, ModelCard, parse_eval_result_entries
from imagenet_multilabel.dataset_script.annotations.published import PUBLISHED_URL
from imagenet_multilabel.dataset_script.hub.access import PushError
from imagenet_multilabel.dataset_script.hub.names import EVAL_TASKS
from imagenet_multilabel.eval_cli.scores import hub, model_card
from markdown_it import MarkdownIt

MODEL_ID = "timm/resnet50.a1_in1k"
SHA256 = "d5b2b6111fc9efea16aaebd21bc5a401d16ad18285d3fd99635d8b32ebdb6287"
CREATED_AT = "2025-01-15T10:30:00+00:00"
PR_URL = f"https://huggingface.co/{MODEL_ID}/discussions/7"
EXPECTED_MODEL_INDEX_VALUES = {
    ("validation", "multilabel_accuracy"): 84.57,
    ("validation", "multilabel_accuracy_strict"): 80.01,
    ("validation", "multilabel_accuracy_micro"): 85.0,
    ("validation", "top1_accuracy_original"): 79.04,
    ("imagenet_m", "imagenet_m_correct"): 23,
}


def sample_document() -> dict[str, Any]:
    """A complete `run` results document on the published labels."""
    return {
        "metrics": {
            "validation": {
                "multilabel_accuracy": 0.845678,
                "multilabel_accuracy_micro": 0.85,
                "multilabel_accuracy_strict": 0.800149,
                "top1_accuracy_original": 0.79041,
                "multilabel_accuracy_top5": 0.97,
                "top5_accuracy_original": 0.94,
                "num_classes_covered": 1000,
                "partial": False,
                "num_scored": 46837,
                "num_problematic_skipped": 3163,
                "num_mistakes": 1500,
                "num_outside_label_set": 420,
                "outside_label_set": [],
                "num_missing_predictions": 0,
            },
            "imagenet_m": {
                "multilabel_accuracy_micro": 23 / 68,
                "imagenet_m_correct": 23,
                "imagenet_m_total": 68,
                "num_scored": 68,
                "num_problematic_skipped": 0,
                "num_mistakes": 40,
                "num_outside_label_set": 5,
                "outside_label_set": [],
                "num_missing_predictions": 0,
            },
        },
        "complete": True,
        "labels": {
            "source": PUBLISHED_URL,
            "sha256": SHA256,
            "version": "3.0.0",
            "verified": True,
        },
        "model": {
            "id": MODEL_ID,
            "revision": "0123abcd",
            "kind": "timm",
            "label_mapping": None,
            "preprocessing": {"crop_pct": 0.95, "size": 224},
        },
        "environment": {
            "packages": {"imagenet-multilabel": "0.1.0", "torch": "2.4.1", "timm": None},
            "created_at": CREATED_AT,
            "command": [
                "imagenet-multilabel",
                "run",
                "--model",
                MODEL_ID,
                "--images",
                "/data/val set",
            ],
        },
    }


def partial_document() -> dict[str, Any]:
    document = sample_document()
    document["complete"] = False
    document["metrics"]["validation"].update(partial=True, num_classes_covered=990)
    return document


def missing_predictions_document() -> dict[str, Any]:
    document = sample_document()
    document["complete"] = False
    document["metrics"]["imagenet_m"]["num_missing_predictions"] = 3
    return document


def unverified_document() -> dict[str, Any]:
    document = sample_document()
    document["labels"].update(
        source="/home/alice/data/human_accuracy_v3.0.0.json",
        sha256="f" * 64,
        version="unverified",
        verified=False,
    )
    return document


def unmarked_document() -> dict[str, Any]:
    document = sample_document()
    del document["complete"]
    return document


NOT_PUBLISHABLE = [
    pytest.param(partial_document, r"PARTIAL \(validation\): .* 990 of 1000", id="partial"),
    pytest.param(
        missing_predictions_document, r"INCOMPLETE \(imagenet_m\): 3 images", id="missing"
    ),
    pytest.param(unverified_document, r"UNVERIFIED labels: .* f{64}", id="unverified"),
    pytest.param(unmarked_document, "not marked complete", id="unmarked"),
]


def rendered(markdown: str) -> str:
    """The HTML a CommonMark renderer with GFM tables makes of ``markdown``."""
    return MarkdownIt("commonmark").enable("table").render(markdown)


def visible_text(markdown: str) -> str:
    """What a reader sees of ``markdown``: its rendered HTML without tags, blanks collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", "", rendered(markdown))).split())


class FakeHub:
    """Stands in for `metadata_update` and `HfApi`, recording what would reach the Hub."""

    def __init__(self, fail_commit: bool = False) -> None:
        self.metadata_calls: list[tuple[tuple, dict]] = []
        self.commit_calls: list[tuple[tuple, dict]] = []
        self.api_tokens: list[str | None] = []
        self.fail_commit = fail_commit

    def metadata_update(self, *args: Any, **kwargs: Any) -> CommitInfo:
        self.metadata_calls.append((args, kwargs))
        return CommitInfo(
            commit_url=f"https://huggingface.co/{args[0]}/commit/abc",
            commit_message=kwargs["commit_message"],
            commit_description=kwargs["commit_description"],
            oid="abc",
            pr_url=PR_URL,
        )

    def hf_api(self, token: str | None = None) -> FakeHub:
        self.api_tokens.append(token)
        return self

    def create_commit(self, *args: Any, **kwargs: Any) -> None:
        if self.fail_commit:
            raise OSError("connection reset")
        self.commit_calls.append((args, kwargs))


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    fake = FakeHub()
    monkeypatch.setattr(hub, "metadata_update", fake.metadata_update)
    monkeypatch.setattr(hub, "HfApi", fake.hf_api)
    return fake


def test_model_index_round_trips_through_a_model_card() -> None:
    metadata = yaml.safe_dump({"model-index": hub.model_index(sample_document())})
    card = ModelCard(f"---\n{metadata}---\n\n# A model\n")
    results = card.data.eval_results
    assert card.data.model_name == MODEL_ID
    assert {(r.dataset_split, r.metric_type): r.metric_value for r in results} == (
        EXPECTED_MODEL_INDEX_VALUES
    )
    assert {(r.task_type, r.dataset_type, r.dataset_config) for r in results} == {
        ("image-classification", hub.DEFAULT_DATASET_ID, "labels")
    }
    names = {r.metric_type: r.metric_name for r in results}
    assert names["imagenet_m_correct"] == "ImageNet-M correct (of 68)"
    assert names["multilabel_accuracy"] == "Multi-label accuracy (official), %"


def test_labels_from_a_hub_dataset_name_it_and_its_commit() -> None:
    document = sample_document()
    document["labels"].update(source="some-org/imagenet-ml", revision="9" * 40)
    [entry] = hub.model_index(document)
    assert {
        (result["dataset"]["type"], result["dataset"]["revision"]) for result in entry["results"]
    } == {("some-org/imagenet-ml", "9" * 40)}
    [(path, text)] = hub.eval_results_files(document).items()
    assert path == ".eval_results/imagenet-ml.yaml"
    assert {
        (e.dataset_id, e.dataset_revision) for e in parse_eval_result_entries(yaml.safe_load(text))
    } == {("some-org/imagenet-ml", "9" * 40)}
    section = model_card.model_card_section(document)
    assert (
        "Labels: labels dataset [some-org/imagenet-ml](https://huggingface.co/datasets/"
        f"some-org/imagenet-ml) at revision {'9' * 40}, version 3.0.0," in section
    )


def test_a_single_split_gives_only_its_results() -> None:
    document = sample_document()
    del document["metrics"]["validation"]
    [entry] = hub.model_index(document)
    assert [result["dataset"]["split"] for result in entry["results"]] == ["imagenet_m"]
    [text] = hub.eval_results_files(document).values()
    assert [item["dataset"]["task_id"] for item in yaml.safe_load(text)] == ["imagenet_m"]


def test_eval_results_file_parses_back_with_the_benchmark_task_ids() -> None:
    files = hub.eval_results_files(sample_document())
    assert list(files) == [".eval_results/imagenet-multilabel.yaml"]
    entries = parse_eval_result_entries(
        yaml.safe_load(files[".eval_results/imagenet-multilabel.yaml"])
    )
    values = {task["metric_key"]: task["id"] for task in EVAL_TASKS}
    assert {(entry.task_id, entry.value) for entry in entries} == {
        (values["multilabel_accuracy"], 84.57),
        (values["imagenet_m_correct"], 23),
    }
    assert {(entry.dataset_id, entry.date) for entry in entries} == {
        (hub.DEFAULT_DATASET_ID, CREATED_AT)
    }


@pytest.mark.parametrize(("make_document", "reason"), NOT_PUBLISHABLE)
def test_results_that_are_not_the_benchmark_are_refused(make_document, reason: str) -> None:
    document = make_document()
    for build in (hub.model_index, hub.eval_results_files):
        with pytest.raises(PushError, match=f"refusing.*{reason}"):
            build(document)


@pytest.mark.parametrize(("make_document", "reason"), NOT_PUBLISHABLE)
def test_refused_results_are_not_pushed(
    make_document, reason: str, tmp_path: Path, fake_hub
) -> None:
    with pytest.raises(PushError, match=reason):
        hub.push_results(make_document(), tmp_path, token="hf_secret")
    assert fake_hub.metadata_calls == []
    assert fake_hub.commit_calls == []


def test_missing_metric_is_named() -> None:
    document = sample_document()
    del document["metrics"]["validation"]["multilabel_accuracy_strict"]
    with pytest.raises(PushError, match="'multilabel_accuracy_strict' of split 'validation'"):
        hub.model_index(document)


def test_unknown_split_is_named() -> None:
    document = sample_document()
    document["metrics"]["test"] = document["metrics"]["validation"]
    with pytest.raises(PushError, match=r"unknown split\(s\) \['test'\]"):
        hub.model_index(document)


def test_card_section_has_numbers_provenance_command_and_citations() -> None:
    section = model_card.model_card_section(sample_document())
    assert "| Metric | validation | imagenet\\_m |" in section
    assert "| Multi-label accuracy (official) | 84.57% | - |" in section
    assert "| ImageNet-M correct | - | 23 / 68 |" in section
    assert (
        f"- Labels: annotation file [human\\_accuracy\\_v3.0.0.json]({PUBLISHED_URL}), "
        f"version 3.0.0,\n  annotation file sha256 {SHA256}\n  (the published file)." in section
    )
    text = visible_text(section)
    assert f"Model: {MODEL_ID} at revision 0123abcd (timm)." in text
    assert "imagenet-multilabel run --model timm/resnet50.a1_in1k --images 'val set'" in text
    assert "imagenet-multilabel 0.1.0, torch 2.4.1." in section
    assert "Evaluating Machine Accuracy on {ImageNet}" in section
    assert "arXiv:2205.04596" in section
    assert "[!WARNING]" not in section


def test_card_section_of_a_document_without_model() -> None:
    document = sample_document()
    del document["model"]
    section = model_card.model_card_section(document)
    assert "- Model:" not in section
    assert "Top-1 predictions scored against" in section


@pytest.mark.parametrize(
    ("make_document", "reason"),
    [param for param in NOT_PUBLISHABLE if param.id != "unverified"],
)
def test_card_files_are_written_and_marked_when_not_publishable(
    make_document, reason: str, tmp_path: Path
) -> None:
    written = hub.write_card_files(make_document(), tmp_path)
    assert {path.relative_to(tmp_path).as_posix() for path in written} == {
        "model-index.yaml",
        ".eval_results/imagenet-multilabel.yaml",
        "model_card_results.md",
    }
    for path in written:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".yaml":
            assert text.startswith("# NOT FOR THE HUB: ")
            assert yaml.safe_load(text)  # the warning is a comment: the YAML still parses
        else:
            assert "> [!WARNING]" in text
            text = visible_text(text)
        assert re.search(reason, text, re.IGNORECASE)


def test_unverified_local_labels_are_named_and_give_no_hub_metadata(tmp_path: Path) -> None:
    written = hub.write_card_files(unverified_document(), tmp_path)
    assert {path.relative_to(tmp_path).as_posix() for path in written} == {
        "model-index.yaml",
        "model_card_results.md",
    }
    metadata = (tmp_path / "model-index.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(metadata) is None  # comments only: the reasons
    assert "UNVERIFIED labels" in metadata and "no Hub dataset holds these labels" in metadata
    section = (tmp_path / "model_card_results.md").read_text(encoding="utf-8")
    assert (
        "Labels: local annotation file human_accuracy_v3.0.0.json, version unverified, "
        f"annotation file sha256 {'f' * 64} (not the published file)." in visible_text(section)
    )
    assert hub.DEFAULT_DATASET_ID not in section and "/home/alice" not in section


LOCAL_FILE = "/home/alice/data/human_accuracy_v3.0.0.json"
LABEL_SOURCES = [
    pytest.param(
        {"source": PUBLISHED_URL},
        f"annotation file [human\\_accuracy\\_v3.0.0.json]({PUBLISHED_URL})",
        id="published file, downloaded",
    ),
    pytest.param(
        {"source": LOCAL_FILE},
        "local annotation file human\\_accuracy\\_v3.0.0.json",
        id="local annotation file",
    ),
    pytest.param(
        {"source": "/home/alice/built/imagenet-ml", "revision": None, "annotations_source": ""},
        "local labels folder imagenet-ml",
        id="local labels folder",
    ),
]


@pytest.mark.parametrize(("labels", "credit"), LABEL_SOURCES)
def test_the_card_credits_the_labels_actually_used(labels: dict, credit: str) -> None:
    document = sample_document()
    document["labels"].update(labels)
    section = model_card.model_card_section(document)
    assert f"- Labels: {credit}, version 3.0.0,\n  annotation file sha256 {SHA256}\n" in section
    assert hub.DEFAULT_DATASET_ID not in section and "/home/alice" not in section
    # The published labels (sha256 verified) are the benchmark's: the metadata names its dataset.
    [entry] = hub.model_index(document)
    assert {result["dataset"]["type"] for result in entry["results"]} == {hub.DEFAULT_DATASET_ID}


# Hostile names, and what each looks like where it would act: anywhere for HTML and a link, at a
# line start (after indentation or a quote marker) for a heading.
HOSTILE_NAMES = {
    "<img src=x onerror=alert(1)>": re.escape("<img src=x onerror=alert(1)>"),
    "# Heading": r"^[ \t>]*# Heading",
    "[x](javascript:alert(1))": re.escape("[x](javascript:alert(1))"),
}
HOSTILE_LABEL = "<script>alert(1)</script>|x"
RAW = [*HOSTILE_NAMES.values(), re.escape(HOSTILE_LABEL), r"(?<!\\)\|x", "/home/alice"]


def hostile_document(folder_name: str) -> dict[str, Any]:
    """Complete results of a local model whose folder name, label names, provenance and command
    line carry markup and absolute paths."""
    model_dir = f"/home/alice/models/{folder_name}"
    document = sample_document()
    document["labels"]["source"] = LOCAL_FILE
    document["model"].update(
        id=model_dir,
        preprocessing={"processor": f"{model_dir}/preprocessor_config.json", "size": 224},
        label_mapping={
            "method": "permutation",
            "source": f"{model_dir} config.id2label",
            "unmatched_labels": [HOSTILE_LABEL],
        },
    )
    document["environment"]["command"] = [
        "imagenet-multilabel",
        "run",
        "--model",
        model_dir,
        f"--images=/home/alice/data/{folder_name}",
        "--annotations",
        LOCAL_FILE,
        f"note\n{folder_name}",
    ]
    return document


@pytest.mark.parametrize("folder_name", HOSTILE_NAMES)
def test_markup_and_local_paths_never_reach_the_hub_files(
    folder_name: str, tmp_path: Path, fake_hub: FakeHub
) -> None:
    document = hostile_document(folder_name)
    written = hub.write_card_files(document, tmp_path / "files")
    assert hub.push_results(document, tmp_path, repo_id="me/my-model", token="hf_x") == PR_URL
    [(_, metadata_kwargs)] = fake_hub.metadata_calls
    [(_, commit_kwargs)] = fake_hub.commit_calls
    sent = [metadata_kwargs["commit_description"]]
    sent += [op.path_or_fileobj.decode() for op in commit_kwargs["operations"]]
    texts = {path.name: path.read_text(encoding="utf-8") for path in written}
    for text in [*texts.values(), *sent]:
        for raw in RAW:
            assert not re.search(raw, text, re.MULTILINE), raw
    assert yaml.safe_load(texts["model-index.yaml"])["model-index"][0]["name"]
    assert parse_eval_result_entries(yaml.safe_load(texts["imagenet-multilabel.yaml"]))

    section = texts["model_card_results.md"]
    html_text = rendered(section)
    assert "<img" not in html_text and "<script" not in html_text
    assert re.findall(r"<h\d>(.*?)</h\d>", html_text) == [
        f"Evaluation: {hub.PRETTY_NAME}",
        "How these numbers were produced",
        "Citation",
    ]
    assert re.findall(r'href="([^"]*)"', html_text) == []
    shown = visible_text(section)
    assert f"Model: {folder_name} at revision 0123abcd (timm)." in shown
    assert f'"source": "{folder_name} config.id2label"' in shown
    assert f'"unmatched_labels": ["{HOSTILE_LABEL}"]' in shown
    assert "Labels: local annotation file human_accuracy_v3.0.0.json," in shown
    assert (
        f"--model '{folder_name}' '--images={folder_name}' --annotations "
        "human_accuracy_v3.0.0.json" in shown
    )


def test_every_path_of_the_command_line_is_cut_and_hub_ids_are_kept() -> None:
    document = sample_document()
    document["labels"].update(source="org/labels", revision="c0ffee")
    document["run"] = {"images_source": "ILSVRC/imagenet-1k"}
    document["environment"]["command"] = [
        "imagenet-multilabel", "run", "--model", MODEL_ID, "--images", "ILSVRC/imagenet-1k",
        "--labels", "org/labels", "--models=../ws/models.txt", "--output-dir",
        "../alice_secret_project/out", "--zero-shot-prompts", "sub/prompts.txt",
        "--hub-repo-id", "me/my-model", "--revision=refs/pr/3",
    ]  # fmt: skip
    shown = visible_text(model_card.model_card_section(document))
    assert (
        f"run --model {MODEL_ID} --images ILSVRC/imagenet-1k --labels org/labels "
        "--models=models.txt --output-dir out --zero-shot-prompts prompts.txt "
        "--hub-repo-id me/my-model --revision=refs/pr/3" in shown
    )
    assert "alice" not in shown and "ws/" not in shown


def test_a_model_recorded_local_is_named_by_its_folder_even_once_gone() -> None:
    document = sample_document()
    document["model"].update(id="ws/resnet", local=True)
    document["environment"]["command"][3] = "ws/resnet"
    assert hub.model_index(document)[0]["name"] == "resnet"
    shown = visible_text(model_card.model_card_section(document))
    assert "Model: resnet at revision" in shown and "ws/resnet" not in shown
    with pytest.raises(PushError, match="local path.*pass hub_repo_id=ORG/NAME"):
        hub.push_results(document, Path("unused"), dry_run=True)


def test_card_files_of_complete_results_are_paste_ready(tmp_path: Path) -> None:
    document = sample_document()
    hub.write_card_files(document, tmp_path)
    metadata = (tmp_path / "model-index.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(metadata) == {"model-index": hub.model_index(document)}
    eval_results = (tmp_path / ".eval_results/imagenet-multilabel.yaml").read_text(encoding="utf-8")
    assert (
        eval_results == hub.eval_results_files(document)[".eval_results/imagenet-multilabel.yaml"]
    )
    section = (tmp_path / "model_card_results.md").read_text(encoding="utf-8")
    assert section == model_card.model_card_section(document)


def test_dry_run_prints_everything_and_sends_nothing(
    tmp_path: Path, fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    document = sample_document()
    assert hub.push_results(document, tmp_path, dry_run=True) is None
    printed = capsys.readouterr().out
    assert (
        fake_hub.metadata_calls == [] and fake_hub.commit_calls == [] and fake_hub.api_tokens == []
    )
    assert list(tmp_path.iterdir()) == []
    assert f"model repo {MODEL_ID!r}" in printed
    assert (
        "Pull request title: Add ImageNet Multi-Label (v3.0.0) and ImageNet-M evaluation results"
        in printed
    )
    assert model_card.model_card_section(document).strip() in printed
    metadata_yaml = yaml.safe_dump({"model-index": hub.model_index(document)}, sort_keys=False)
    assert metadata_yaml in printed
    [(path, content)] = hub.eval_results_files(document).items()
    assert f"File {path} (added to the same pull request):\n{content}" in printed


def test_push_opens_one_pull_request_with_metadata_and_eval_results(
    tmp_path: Path, fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    document = sample_document()
    snapshot = copy.deepcopy(document)
    assert hub.push_results(document, tmp_path, token="hf_secret") == PR_URL
    [(args, kwargs)] = fake_hub.metadata_calls
    assert args == (MODEL_ID, {"model-index": hub.model_index(document)})
    assert kwargs["create_pr"] is True and kwargs["overwrite"] is True
    assert kwargs["token"] == "hf_secret"
    assert "| Multi-label accuracy (official) | 84.57% | - |" in kwargs["commit_description"]
    [(args, kwargs)] = fake_hub.commit_calls
    assert args == (MODEL_ID,) and kwargs["revision"] == "refs/pr/7"
    assert fake_hub.api_tokens == ["hf_secret"]
    sent = {op.path_in_repo: op.path_or_fileobj for op in kwargs["operations"]}
    expected = hub.eval_results_files(document)
    assert sent == {path: text.encode("utf-8") for path, text in expected.items()}
    record = json.loads((tmp_path / hub.PUSH_RECORD_FILE).read_text(encoding="utf-8"))
    assert record == {
        "repo_id": MODEL_ID,
        "pull_request": PR_URL,
        "files": ["README.md", ".eval_results/imagenet-multilabel.yaml"],
    }
    assert "hf_secret" not in capsys.readouterr().out + json.dumps(record)
    assert document == snapshot


def test_push_uses_the_stored_token_when_none_is_given(
    tmp_path: Path, fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    hub.push_results(sample_document(), tmp_path)
    [(_, kwargs)] = fake_hub.metadata_calls
    assert kwargs["token"] == "hf_from_env"


def test_push_without_token_says_how_to_log_in(
    tmp_path: Path, fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(PushError, match="hf auth login.*HF_TOKEN"):
        hub.push_results(sample_document(), tmp_path)
    assert fake_hub.metadata_calls == []


def test_failed_eval_results_commit_names_the_open_pull_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeHub(fail_commit=True)
    monkeypatch.setattr(hub, "metadata_update", fake.metadata_update)
    monkeypatch.setattr(hub, "HfApi", fake.hf_api)
    with pytest.raises(PushError, match=f"opened {PR_URL} .*connection reset.*refs/pr/7"):
        hub.push_results(sample_document(), tmp_path, token="hf_secret")
    assert not (tmp_path / hub.PUSH_RECORD_FILE).exists()


def test_hub_refusal_before_the_pull_request_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(hub, "metadata_update", refuse)
    with pytest.raises(PushError, match="could not open a pull request.*offline"):
        hub.push_results(sample_document(), tmp_path, token="hf_secret")


def test_local_model_needs_a_repo_id(tmp_path: Path, fake_hub: FakeHub) -> None:
    document = sample_document()
    document["model"]["id"] = str(tmp_path / "checkpoint")
    (tmp_path / "checkpoint").mkdir()
    with pytest.raises(PushError, match="local path.*pass hub_repo_id=ORG/NAME"):
        hub.push_results(document, tmp_path, token="hf_secret")
    assert hub.model_index(document)[0]["name"] == "checkpoint"
    assert hub.push_results(document, tmp_path, repo_id="me/my-model", token="hf_secret") == PR_URL
    [(args, _)] = fake_hub.metadata_calls
    assert args[0] == "me/my-model" and args[1]["model-index"][0]["name"] == "me/my-model"


def test_relative_path_that_exists_is_local(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_hub: FakeHub
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints" / "run1").mkdir(parents=True)
    document = sample_document()
    document["model"]["id"] = "checkpoints/run1"
    with pytest.raises(PushError, match="local path"):
        hub.push_results(document, tmp_path, dry_run=True)


def test_invalid_repo_id_is_named(tmp_path: Path) -> None:
    with pytest.raises(PushError, match="'not a/valid/id' is not a Hub model"):
        hub.push_results(sample_document(), tmp_path, repo_id="not a/valid/id", dry_run=True)


def test_score_document_without_model_needs_a_repo_id(tmp_path: Path) -> None:
    document = sample_document()
    del document["model"]
    with pytest.raises(PushError, match="names no model"):
        hub.push_results(document, tmp_path, dry_run=True)

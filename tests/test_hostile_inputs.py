"""What a fresh hostile pass over main found (issue 19's "done when"), each kept as a test: a
dataset card that is not a card, a build's repo_id pasted into its card's code, JSON nested too
deeply in files that a command reads back or loads (a manifest, a sweep's failure record, the
review page's thumbnails record, the decoded cache's index, a model's preprocessor_config.json),
a ``labels=`` of the wrong type, an empty leaderboard, a push uploading what a link out of its
folder points to, and a push without a token whose advice named a command-line flag to a Python
caller. Each is one `ToolkitError` naming the input (one ``error:`` line, exit 2, from the
command line), never a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import huggingface_hub
import pytest
from annotation_fixtures import write_annotation_file
from imagenet_multilabel.dataset_script.hub import push_dataset
from imagenet_multilabel.dataset_script.hub.access import PushError
from imagenet_multilabel.dataset_script.labels.loading import LabelSource
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.eval_cli.feed import decoded_cache
from imagenet_multilabel.eval_cli.models.categorizer import NamedCategorizer
from imagenet_multilabel.eval_cli.models.errors import ModelLoadError
from imagenet_multilabel.eval_cli.models.kinds import load_model
from imagenet_multilabel.eval_cli.sweeps import plan, status
from imagenet_multilabel.eval_cli.sweeps.manifest import ManifestEntry, write_manifest
from imagenet_multilabel.metric.errors import ToolkitError
from model_fixtures import save_resnet
from test_push import FakeHfApi, built

import imagenet_multilabel as iml

NESTED = "[" * 100_000 + "]" * 100_000  # parses nowhere: Python's JSON reader recurses

# A built folder's README.md replaced by each: not text, YAML that does not parse, YAML nested
# too deeply, front matter that is no mapping, configs of the wrong shape, a split without files.
LABELS_CONFIG_WITH = "---\nconfigs:\n- config_name: labels\n  data_files: {}\n---\n"
CARDS = {
    "binary": bytes(range(256)) * 4,
    "broken-yaml": b"---\nconfigs: [\n---\n",
    "nested-yaml": f"---\nconfigs: {'[' * 5000}{']' * 5000}\n---\n".encode(),
    "scalar": b"---\n5\n---\n",
    "configs-int": b"---\nconfigs: 5\n---\n",
    "configs-of-ints": b"---\nconfigs: [5]\n---\n",
    "entry-without-path": LABELS_CONFIG_WITH.format("[{split: validation}]").encode(),
    "entry-a-string": LABELS_CONFIG_WITH.format("labels/*.parquet").encode(),
    "path-an-int": LABELS_CONFIG_WITH.format("[{split: validation, path: 5}]").encode(),
}


@pytest.fixture(scope="module")
def built_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built(tmp_path_factory.mktemp("hostile_card"), with_images=False)


def _with_card(built_folder: Path, tmp_path: Path, card: bytes) -> Path:
    folder = tmp_path / "dataset"
    folder.mkdir()
    for path in built_folder.rglob("*"):
        target = folder / path.relative_to(built_folder)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            target.write_bytes(path.read_bytes())
    (folder / "README.md").write_bytes(card)
    return folder


@pytest.mark.parametrize("card", CARDS.values(), ids=CARDS)
def test_a_labels_dataset_whose_card_is_not_a_card_is_one_error(built_folder, tmp_path, card):
    folder = _with_card(built_folder, tmp_path, card)
    with pytest.raises(ToolkitError, match=r"dataset|card"):
        LabelSource(dataset=folder).load()


@pytest.mark.parametrize("card", [CARDS[name] for name in ("binary", "nested-yaml", "configs-int")])
def test_a_push_of_a_folder_whose_card_is_not_a_card_is_one_error(built_folder, tmp_path, card):
    folder = _with_card(built_folder, tmp_path, card)
    with pytest.raises(PushError, match="its card"):
        push_dataset.push_dataset(folder, "me/data", dry_run=True, api=FakeHfApi())


@pytest.mark.parametrize("card", [b"", b"garbage text, no front matter\n", b"x" * 2_000_000])
def test_a_push_of_a_folder_whose_card_declares_no_labels_is_one_error(
    built_folder, tmp_path, card
):
    folder = _with_card(built_folder, tmp_path, card)
    with pytest.raises(PushError, match="declares no 'labels' config"):
        push_dataset.push_dataset(folder, "me/data", dry_run=True, api=FakeHfApi())


def test_a_manifest_nested_too_deeply_is_one_error(tmp_path, capsys):
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(NESTED + "\n")
    (tmp_path / "tree").mkdir()
    for argv in (
        ["sweep", "status", str(tmp_path / "tree"), "--manifest", str(manifest)],
        ["sweep", "slurm", str(manifest), "--images", "val.tar", "--array", "2"],
    ):
        assert main(argv) == 2, argv
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("error: ") and "nested too deeply" in line, line


def test_a_failure_record_nested_too_deeply_is_left_out_of_the_status(tmp_path, capsys):
    manifest = tmp_path / "manifest.jsonl"
    write_manifest(manifest, [ManifestEntry("org/model")])
    folder = status.model_folder_in(tmp_path / "tree", ManifestEntry("org/model"))
    folder.mkdir(parents=True)
    (folder / status.FAILURE_FILE).write_text(NESTED)
    assert main(["sweep", "status", str(tmp_path / "tree"), "--manifest", str(manifest)]) == 0
    assert "org/model" in capsys.readouterr().out


def test_a_thumbnails_record_nested_too_deeply_is_no_record(tmp_path, capsys):
    """An earlier run's thumbnails.json is read back to keep its pictures: one nested too deeply
    is none (as one that does not parse), and the page is written."""
    annotations = tmp_path / "a.json"
    write_annotation_file(annotations)
    names = sorted(n for n in json.loads(annotations.read_text())["initial_annots"] if "val" in n)
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(f'{{"file_name": "{n}", "prediction": 3}}\n' for n in names))
    (tmp_path / "out" / "review").mkdir(parents=True)
    (tmp_path / "out" / "review" / "thumbnails.json").write_text(NESTED)
    argv = ["analyze", "--predictions", str(predictions), "--output-dir", str(tmp_path / "out")]
    assert main([*argv, "--annotations", str(annotations), "--allow-unverified-annotations"]) == 0
    assert (tmp_path / "out" / "review" / "index.html").is_file()


def test_a_decoded_cache_index_nested_too_deeply_is_damaged(tmp_path):
    (tmp_path / decoded_cache.INDEX_FILE).write_text(NESTED)
    with pytest.raises(decoded_cache.DecodedCacheError, match="cannot be read"):
        decoded_cache._read_index(tmp_path)


def test_a_model_whose_json_is_nested_too_deeply(tmp_path):
    """Its config.json, planned (the sweep leaves its geometry unknown) or its
    preprocessor_config.json, loaded (one error naming the model)."""
    folder = save_resnet(tmp_path / "model")
    (folder / "preprocessor_config.json").write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    with pytest.raises(ModelLoadError, match="nested too deeply"):
        load_model(str(folder), device="cpu")
    (folder / "config.json").write_text(NESTED)
    models = tmp_path / "models.txt"
    models.write_text(f"{folder}\n")
    (entry,) = plan.plan_from_list(models)
    assert entry.geometry is None


@pytest.mark.parametrize(
    "call",
    [
        lambda: iml.score_predictions("p.jsonl", labels=3),
        lambda: iml.analyze_predictions("p.jsonl", output_dir="o", labels="a.json"),
    ],
)
def test_labels_of_the_wrong_type_name_the_parameter(call, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for prediction, name in enumerate(("p.jsonl", "q.jsonl")):
        row = {"file_name": "ILSVRC2012_val_00000001.JPEG", "prediction": prediction}
        (tmp_path / name).write_text(json.dumps(row) + "\n")
    with pytest.raises(ToolkitError, match=r"^labels: expected Labels, a LabelSource or None"):
        call()


def test_a_push_without_a_token_names_the_dry_run_as_python_spells_it(
    built_folder, monkeypatch, capsys
):
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(PushError) as raised:
        iml.push_dataset(built_folder, repo_id="me/data")
    assert "dry_run=True shows" in str(raised.value)
    assert "--" not in str(raised.value)
    assert main(["push", str(built_folder), "--repo-id", "me/data"]) == 2
    assert "--dry-run shows" in capsys.readouterr().err


def test_a_build_refuses_a_repo_id_that_is_no_hub_id(tmp_path, capsys):
    """The card pastes ``repo_id`` into its Python examples: one that is no Hub id would put
    code there (``a/b", "labels")`` and a line of its own)."""
    annotations = tmp_path / "a.json"
    write_annotation_file(annotations)
    hostile = 'a/b", "labels")\nimport os; os.system("id")  #'
    labels = LabelSource(annotations=annotations, allow_unverified=True)
    with pytest.raises(ToolkitError, match=r"^repo_id 'a/b.* is not a Hub dataset id"):
        iml.build_dataset(tmp_path / "built", labels=labels, repo_id=hostile)
    argv = ["build", "--output", str(tmp_path / "built"), "--repo-id", hostile]
    assert main([*argv, "--annotations", str(annotations), "--allow-unverified-annotations"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: --repo-id 'a/b") and "not a Hub dataset id" in line
    assert not (tmp_path / "built").exists()


def test_a_push_refuses_links_out_of_the_folder(built_folder, tmp_path):
    """upload_folder sends what a link points to: a link to a private file is refused, by name,
    before anything is listed or sent; a link inside the folder is one of its files."""
    folder = _with_card(built_folder, tmp_path, (built_folder / "README.md").read_bytes())
    secret = tmp_path / "secret.txt"
    secret.write_text("hf_private")
    (folder / "notes.md").symlink_to(folder / "eval.yaml")
    push_dataset.push_dataset(folder, "me/data", dry_run=True, echo=lambda line: None)
    (folder / "labels" / "extra.txt").symlink_to(secret)
    with pytest.raises(PushError, match=r"holds 1 link\(s\) to files outside it \(labels/extra"):
        push_dataset.push_dataset(folder, "me/data", dry_run=True, api=FakeHfApi())


def test_a_leaderboard_of_no_results_is_refused(tmp_path):
    """The command line needs one RESULTS or more; the API wrote an empty board."""
    with pytest.raises(ToolkitError, match=r"^paths: expected one or more"):
        iml.write_leaderboard([], output_dir=tmp_path / "board")
    assert not (tmp_path / "board").exists()


# The leftovers of that pass: errors that named the value but not the parameter, and model ids
# that no model can have.


def _name_and_run(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    row = {"file_name": "ILSVRC2012_val_00000001.JPEG", "prediction": 3}
    (tmp_path / "p.jsonl").write_text(json.dumps(row) + "\n")


API_NAMES_THE_PARAMETER = {
    "compare-one": (
        lambda: iml.compare_models(["p.jsonl"], output_dir="o"),
        r"^inputs: expected two or more run folders or predictions files, got 1 \('p.jsonl'\)",
    ),
    "merge-none": (
        lambda: iml.merge_patches([]),
        r"^paths: expected two or more label patch files, .*got none$",
    ),
    "evaluate-missing-images": (
        lambda: iml.evaluate_model("org/model", images="missing.tar", output_dir="o"),
        r"^images 'missing.tar' does not exist; expected ILSVRC2012_img_val.tar",
    ),
    "leaderboard-folder": (
        lambda: iml.write_leaderboard(["folder"], output_dir="board"),
        r"^paths 'folder': no results file",
    ),
    "leaderboard-missing": (
        lambda: iml.write_leaderboard(["missing"], output_dir="board"),
        r"^paths 'missing' does not exist",
    ),
    "evaluate-missing-model": (
        lambda: iml.evaluate_models(["./missing"], images="folder", output_dir="o"),
        r"^models './missing' does not exist; expected a local model folder",
    ),
    # A missing path that reads as no Hub id (a labels dataset's is ORG/NAME; a model's path is
    # written as one): refused by the frame before any work, as images and models were.
    "score-missing-labels": (
        lambda: iml.score_predictions("p.jsonl", labels=iml.LabelSource(dataset="nolabels")),
        r"^dataset 'nolabels' does not exist; expected a labels dataset folder or a Hub dataset",
    ),
    "evaluate-missing-categorizer": (
        lambda: iml.evaluate_model(
            "org/model", images="folder", categorizer_model="./no-clip", output_dir="o"
        ),
        r"^categorizer_model './no-clip' does not exist; expected a CLIP or SigLIP model",
    ),
    "analyze-missing-categorizer": (
        lambda: iml.analyze_predictions(
            "p.jsonl", images="folder", categorizer=NamedCategorizer("./no-clip"), output_dir="o"
        ),
        r"^categorizer './no-clip' does not exist; expected a CLIP or SigLIP model",
    ),
}


@pytest.mark.parametrize(
    ("call", "message"), API_NAMES_THE_PARAMETER.values(), ids=API_NAMES_THE_PARAMETER
)
def test_api_errors_name_the_parameter(call, message, tmp_path, monkeypatch):
    """Each named only the value ("compare needs two or more models", "tar file missing.tar does
    not exist or is not a file", "'folder': no results file")."""
    monkeypatch.chdir(tmp_path)
    _name_and_run(tmp_path)
    with pytest.raises(ToolkitError, match=message):
        call()
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "p.jsonl", "--output-dir", "o"], "RUN_DIR_OR_PREDICTIONS: expected two"),
        (["patches", "merge", "p.jsonl", "--output", "m.json"], "PATCH: expected two or more"),
        (["run", "--model", "org/m", "--images", "missing.tar"], "--images 'missing.tar' does not"),
        (["leaderboard", "folder"], "RESULTS 'folder': no results file"),
        (
            ["score", "--predictions", "p.jsonl", "--labels", "nolabels"],
            "--labels 'nolabels' does not exist",
        ),
        (
            ["run", "--model", "org/m", "--images", "folder", "--categorizer-model", "./no-clip"],
            "--categorizer-model './no-clip' does not exist",
        ),
        (
            [
                "analyze",
                "--predictions",
                "p.jsonl",
                "--images",
                "folder",
                "--categorizer-model",
                "./no-clip",
            ],
            "--categorizer-model './no-clip' does not exist",
        ),
        (
            ["patches", "merge", "ana.json", "ben.json", "--output", "m.json", "--min-agreement"],
            "--min-agreement 3 is not between 1 and the 2",
        ),
    ],
)
def test_the_command_line_names_its_options(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _name_and_run(tmp_path)
    for name in ("ana", "ben"):
        patch = {"format": "imagenet-multilabel-label-patch", "format_version": 1}
        patch |= {"base": "b" * 64, "reviewer": name, "created": "2026-01-01", "decisions": []}
        (tmp_path / f"{name}.json").write_text(json.dumps(patch))
    assert main([*argv, "3"] if argv[-1] == "--min-agreement" else argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {message}"), line
    assert not (tmp_path / "o").exists() and not (tmp_path / "analysis").exists()


@pytest.mark.parametrize("images", ["p.jsonl", "folder"], ids=["a-jsonl-file", "no-images"])
def test_images_of_the_wrong_kind_name_the_parameter(
    images, annotation_file, tmp_path, monkeypatch, capsys
):
    """An existing path that is no image source named only the value ("image source 'p.jsonl'
    is neither ...", "directory folder holds neither ...")."""
    monkeypatch.chdir(tmp_path)
    _name_and_run(tmp_path)  # p.jsonl, and an empty folder
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    annotations = str(annotation_file[0])
    labels = iml.LabelSource(annotations=annotations, allow_unverified=True)
    says = rf"'{images}' (is|holds) neither .*\.tar"
    with pytest.raises(ToolkitError, match=rf"^images {says}"):
        iml.evaluate_model("model", images=images, labels=labels, output_dir="o")
    argv = ["run", "--model", "model", "--images", images, "--annotations", annotations]
    assert main([*argv, "--allow-unverified-annotations", "--output-dir", "o"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.match(rf"error: --images {says}", line), line


LONG_IDS = {
    "name": "a" * 200_000,
    "org-name": "org/" + "a" * 200_000,
    "name-97": "org/" + "a" * 97,
    "path-part": "./" + "a" * 200_000,
    "nul": "./model\0x",
}


@pytest.mark.parametrize("model", LONG_IDS.values(), ids=LONG_IDS)
def test_a_model_id_no_model_can_have_is_refused_where_it_is_read(model, tmp_path, capsys):
    """`sweep plan --from list` wrote a 200,000-character line into the manifest as a skipped
    model; every reader of a model id now refuses it: a models file (plan and run), a
    `ModelSpec`, `evaluate_models`, `run --model`."""
    models = tmp_path / "models.txt"
    models.write_text(f"org/fine\n{model}\n")
    with pytest.raises(ToolkitError, match=r"line 2: model '.*(is neither|cannot be used)"):
        plan.plan_from_list(models)
    with pytest.raises(ModelLoadError, match=r"^model '"):
        iml.ModelSpec(model)
    with pytest.raises(ToolkitError, match=r"^models '"):
        iml.evaluate_models([model], images=tmp_path)
    argv = ["sweep", "plan", "--from", "list", "--models", str(models), "--output"]
    assert main([*argv, str(tmp_path / "manifest.jsonl")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: models file ") and len(line) < 1_000, line
    assert not (tmp_path / "manifest.jsonl").exists()
    assert main(["run", "--model", model, "--images", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: --model '") and len(line) < 1_000, line

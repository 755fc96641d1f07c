"""A labels dataset is official only when its rows are proven to be the published ones (issue 13):
metadata that claims ``verified`` proves nothing; the sha256-verified annotation file (from the
cache or ``annotations=``) is what the rows are compared with."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from annotation_fixtures import write_annotation_file
from imagenet_multilabel.dataset_script import build, dataset_rows
from imagenet_multilabel.dataset_script.annotations import cache
from imagenet_multilabel.dataset_script.annotations import published as ann
from imagenet_multilabel.dataset_script.labels.dataset import (
    LabelsDatasetError,
    label_content_digest,
)
from imagenet_multilabel.dataset_script.labels.loading import (
    LabelSource,
    load_labels,
    resolve_labels,
)
from imagenet_multilabel.eval_cli.commands.cli import build_parser, main, options_of
from imagenet_multilabel.eval_cli.engine.sweep import evaluate_model
from imagenet_multilabel.eval_cli.leaderboard.paper_references import reference_labels
from imagenet_multilabel.eval_cli.scores import results
from imagenet_multilabel.metric.errors import ToolkitError
from imagenet_multilabel.metric.references import References


@pytest.fixture(scope="module")
def unverified_build(annotation_file, tmp_path_factory) -> Path:
    """A build from the synthetic file taken as unverified: its metadata claims nothing."""
    path, _ = annotation_file
    cache = tmp_path_factory.mktemp("cache")
    annotations = ann.load_annotations(path, allow_unverified=True, cache_dir=cache)
    return build.build_dataset(tmp_path_factory.mktemp("builds") / "labels", annotations)


def edit_records(folder: Path, edit) -> None:
    """Rewrite the builder's provenance record of every parquet file with ``edit`` applied."""
    for path in (folder / "labels").glob("*.parquet"):
        table = pq.read_table(path)
        metadata = dict(table.schema.metadata)
        record = json.loads(metadata[dataset_rows.PROVENANCE_KEY.encode()])
        edit(record, path.name.split("-")[0], table)
        metadata[dataset_rows.PROVENANCE_KEY.encode()] = json.dumps(record).encode()
        pq.write_table(table.replace_schema_metadata(metadata), path)


def claim_verified(record: dict, _split: str, _table) -> None:
    record.update(verified=True, version=ann.PUBLISHED_VERSION)


@pytest.fixture
def claims_verified(unverified_build, tmp_path) -> Path:
    """The build with its metadata edited to claim the published labels."""
    copy = Path(shutil.copytree(unverified_build, tmp_path / "claims_verified"))
    edit_records(copy, claim_verified)
    return copy


@pytest.fixture
def published_at_hand(annotation_file, tmp_path, monkeypatch) -> Path:
    """The synthetic file plays the published one, and the cache holds its compact entry."""
    path, sha256 = annotation_file
    synthetic = ann.load_annotations(path, allow_unverified=True, cache_dir=tmp_path / "counts")
    monkeypatch.setattr(ann, "PUBLISHED_COUNTS", cache.counts_of(vars(synthetic)))
    monkeypatch.setattr(ann, "PUBLISHED_SHA256", sha256)
    monkeypatch.setattr(ann, "default_cache_dir", lambda: tmp_path / "published_cache")
    ann.load_annotations(path)  # verified, so its compact entry is written into that cache
    return path


def _predictions(folder: Path, tmp_path: Path) -> Path:
    labels = load_labels("validation", dataset=folder)
    names = labels.split("validation").file_names.tolist()
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text(
        "".join(json.dumps({"file_name": n, "prediction": 1}) + "\n" for n in names)
    )
    return predictions


def test_metadata_claiming_verified_is_unchecked_without_the_published_file(
    claims_verified, tmp_path, capsys
):
    labels = load_labels(dataset=claims_verified)
    assert labels.provenance["verified"] is False
    assert labels.provenance["verification"] == "unchecked"
    predictions = _predictions(claims_verified, tmp_path)
    output = tmp_path / "results.json"
    capsys.readouterr()
    args = ["score", "--predictions", str(predictions), "--labels", str(claims_verified)]
    assert main([*args, "--output", str(output), "--strict"]) == 3
    printed = capsys.readouterr()
    assert "UNCHECKED labels" in printed.out and "not official" in printed.err
    document = json.loads(output.read_text())
    assert document["labels"]["verified"] is False
    assert any("UNCHECKED" in problem for problem in results.publication_problems(document))


def test_push_is_refused_for_unchecked_labels(claims_verified, tmp_path, fresh_accelerator_state):
    labels = load_labels(dataset=claims_verified)
    model = tmp_path / "model"  # a model folder found offline; nothing loads it
    model.mkdir()
    (model / "config.json").write_text("{}")
    (tmp_path / "images").mkdir()  # never read: the refusal comes first
    with pytest.raises(ToolkitError, match="^push_to_hub needs the published labels"):
        evaluate_model(
            str(model),
            str(tmp_path / "images"),
            labels=labels,
            push_to_hub=True,
            hub_repo_id="someone/model",
            dry_run=True,
            cpu=True,
            output_dir=tmp_path / "out",
        )


@pytest.mark.parametrize("given", ["cache", "annotations"])
def test_rows_equal_to_the_published_file_are_verified(
    claims_verified, published_at_hand, tmp_path, monkeypatch, given
):
    if given == "annotations":  # an empty cache: the file given is what proves the rows
        monkeypatch.setattr(ann, "default_cache_dir", lambda: tmp_path / "empty_cache")
    labels = load_labels(
        dataset=claims_verified, annotations=published_at_hand if given == "annotations" else None
    )
    assert labels.provenance["verified"] is True
    assert labels.provenance["verification"] == "checked"


def test_the_command_line_takes_annotations_to_check_a_labels_dataset(
    claims_verified, published_at_hand, tmp_path, monkeypatch
):
    monkeypatch.setattr(ann, "default_cache_dir", lambda: tmp_path / "empty_cache")
    output = tmp_path / "results.json"
    predictions = _predictions(claims_verified, tmp_path)
    args = ["score", "--predictions", str(predictions), "--labels", str(claims_verified)]
    assert main([*args, "--annotations", str(published_at_hand), "--output", str(output)]) == 0
    labels = json.loads(output.read_text())["labels"]
    assert (labels["verified"], labels["verification"]) == (True, "checked")


def test_an_annotation_file_that_is_not_the_published_one_cannot_check(claims_verified, tmp_path):
    other = tmp_path / "other.json"
    write_annotation_file(other)
    other.write_bytes(other.read_bytes() + b" ")
    with pytest.raises(ToolkitError, match="other.json' given to check the labels dataset"):
        load_labels(dataset=claims_verified, annotations=other)


def _add_a_correct_label(path: Path) -> None:
    """Rewrite one parquet file with a class added to its first row, metadata kept."""
    table = pq.read_table(path)
    rows = table.column("correct_multi_labels").to_pylist()
    extra = next(index for index in range(1000) if index not in rows[0])
    column = table.schema.get_field_index("correct_multi_labels")
    edited = pa.array([rows[0] + [extra], *rows[1:]], table.schema.field(column).type)
    pq.write_table(table.set_column(column, table.schema.field(column), edited), path)


@pytest.mark.parametrize("digest", ["rewritten", "intact"])
def test_edited_rows_under_a_verified_claim_are_an_error(
    unverified_build, published_at_hand, tmp_path, digest
):
    """Rows changed and the recorded digest rewritten to match: only the published file shows
    it (an error: the dataset claims labels it does not hold). With the recorded digest intact,
    the rows no longer match it: an error with or without the published file."""
    copy = Path(shutil.copytree(unverified_build, tmp_path / "forged"))
    validation = copy / "labels" / "validation-00000-of-00001.parquet"
    _add_a_correct_label(validation)
    forged_digest = dataset_rows.label_digest(pq.read_table(validation).to_pydict())

    def forge(record: dict, split: str, table) -> None:
        claim_verified(record, split, table)
        if digest == "rewritten":
            record[dataset_rows.LABEL_DIGESTS_KEY]["validation"] = forged_digest

    edit_records(copy, forge)
    message = "differ from the 2,000 of the published" if digest == "rewritten" else "changed after"
    with pytest.raises(LabelsDatasetError, match=f"split 'validation'.*{message}"):
        load_labels(dataset=copy)
    assert load_labels("imagenet_m", dataset=copy).provenance["verified"] is True


def test_content_digest_ignores_row_and_class_order_and_is_fast(annotation_file, tmp_path):
    path, _ = annotation_file
    columns = ann.load_annotations(path, allow_unverified=True, cache_dir=tmp_path).split_columns(
        "validation"
    )
    references = References.from_columns(columns)
    shuffled = {name: values[::-1] for name, values in columns.items()}
    shuffled["correct_multi_labels"] = [row[::-1] for row in shuffled["correct_multi_labels"]]
    assert label_content_digest(References.from_columns(shuffled)) == label_content_digest(
        references
    )
    first_class = columns["correct_multi_labels"][0][0]
    changes = {
        "flag": {
            "is_problematic": [not columns["is_problematic"][0], *columns["is_problematic"][1:]]
        },
        "class to another row": {
            "correct_multi_labels": [
                columns["correct_multi_labels"][0][1:],
                [*columns["correct_multi_labels"][1], first_class],
                *columns["correct_multi_labels"][2:],
            ]
        },
        "class to another set": {
            "correct_multi_labels": [
                columns["correct_multi_labels"][0][1:],
                *columns["correct_multi_labels"][1:],
            ],
            "wrong_multi_labels": [
                [*columns["wrong_multi_labels"][0], first_class],
                *columns["wrong_multi_labels"][1:],
            ],
        },
    }
    for change, edited in changes.items():
        changed = References.from_columns({**columns, **edited})
        assert label_content_digest(changed) != label_content_digest(references), change
    twenty_thousand = References.from_columns(
        {name: values * 10 for name, values in columns.items()}
        | {"file_name": [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, 20_001)]}
    )
    start = time.perf_counter()
    label_content_digest(twenty_thousand)
    assert time.perf_counter() - start < 0.5


# The API's parameter types (issue 13, item 17): a string is never iterated character by character.


def _patch(path: Path, base: str, file_name: str) -> Path:
    document = {
        "format": "imagenet-multilabel-label-patch",
        "format_version": 1,
        "base": base,
        "created": "2026-01-31T12:00:00Z",
        "reviewer": "a reviewer",
        "decisions": [{"file_name": file_name, "class_id": 1, "verdict": "wrong"}],
    }
    path.write_text(json.dumps(document))
    return path


def test_one_split_or_one_patch_may_be_given_alone(annotation_file, tmp_path):
    path, sha256 = annotation_file
    source = {"annotations": path, "allow_unverified": True}
    labels = load_labels("imagenet_m", **source)
    assert list(labels.splits) == ["imagenet_m"]
    file_name = labels.split("imagenet_m").file_names[0]
    patch = _patch(tmp_path / "p.json", sha256, file_name)
    alone, listed = (load_labels("imagenet_m", patches=p, **source) for p in (patch, [str(patch)]))
    assert alone.provenance == listed.provenance and alone.provenance["patched"] is True
    assert alone.split("imagenet_m").wrong.classes.tolist() == (
        listed.split("imagenet_m").wrong.classes.tolist()
    )
    given = resolve_labels(LabelSource(patches=str(patch), **source))
    assert given.provenance["version"] == alone.provenance["version"]


def _deeply_nested(depth: int) -> list:
    nested: list = []
    for _ in range(depth):
        nested = [nested]
    return nested


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"splits": 5}, r"^splits: expected a split name or a list of them"),
        ({"splits": ["validation", None]}, r"^splits"),
        ({"splits": b"validation"}, r"^splits: .* got bytes"),
        ({"patches": [5]}, r"^patches: expected a label patch path"),
        ({"patches": {"p.json": 1}}, r"^patches"),
        ({"dataset": 5}, r"^dataset: expected a path, got int"),
        ({"annotations": ["a.json"]}, r"^annotations: expected a path"),
        ({"splits": ["x" * 10_000]}, r"unknown split\(s\) \['xxx.*characters\)"),
        ({"splits": _deeply_nested(100_000)}, r"got list a list nested too deeply to print"),
    ],
)
def test_wrong_types_are_refused_naming_the_parameter(arguments, message):
    with pytest.raises(ToolkitError, match=message) as raised:
        load_labels(**arguments)
    assert len(str(raised.value)) < 400


def test_leaderboard_references_use_the_label_patches_given(annotation_file, tmp_path):
    path, sha256 = annotation_file
    loaded = load_labels("imagenet_m", annotations=path, allow_unverified=True)
    patch = _patch(tmp_path / "p.json", sha256, loaded.split("imagenet_m").file_names[0])
    args = ["leaderboard", "r.json", "--annotations", str(path), "--label-patch", str(patch)]
    parsed = build_parser().parse_args([*args, "--allow-unverified-annotations"])
    labels, why_not = reference_labels(options_of(LabelSource, parsed))
    assert why_not is None and labels.provenance["patched"] is True

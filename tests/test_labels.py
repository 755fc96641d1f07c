"""``--labels``: reading the labels config back from a built folder or a Hub snapshot."""

from __future__ import annotations

import json
import shutil
from fnmatch import fnmatch
from pathlib import Path

import datasets
import huggingface_hub
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from annotation_fixtures import (
    reference_columns,
    split_columns_without_image_id,
    synthetic_annotations,
    write_annotation_file,
)
from huggingface_hub import DatasetCard, DatasetCardData
from image_fixtures import make_val_tar
from imagenet_multilabel.dataset_script import build, dataset_rows
from imagenet_multilabel.dataset_script.annotations.published import (
    SPLITS,
    Annotations,
    load_annotations,
)
from imagenet_multilabel.dataset_script.labels.dataset import (
    LabelsDatasetError,
    load_labels_dataset,
)
from imagenet_multilabel.eval_cli.frame import UnusablePathError, load_labels

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def annotations(annotation_file, tmp_path_factory) -> Annotations:
    path, _ = annotation_file
    cache = tmp_path_factory.mktemp("cache")
    return load_annotations(path, allow_unverified=True, cache_dir=cache)


@pytest.fixture(scope="module")
def built(annotations, tmp_path_factory) -> Path:
    return build.build_dataset(tmp_path_factory.mktemp("labels") / "dataset", annotations)


def test_round_trip_from_a_folder(built, annotations, annotation_file):
    _, sha256 = annotation_file
    columns, provenance = load_labels_dataset(str(built), SPLITS)
    assert list(columns) == list(SPLITS)
    for split in SPLITS:
        assert reference_columns(columns[split]) == split_columns_without_image_id(
            annotations, split
        )
    assert provenance == {
        "source": str(built.resolve()),
        "revision": None,
        "sha256": sha256,
        "version": "unverified",
        "verified": False,
        "verification": "not claimed",
        "num_annotated_images": 2000,
        "annotations_source": "local file human_accuracy_v3.0.0.json",
    }


@pytest.fixture(scope="module")
def small_annotations(tmp_path_factory) -> Annotations:
    """The ImageNet-M images plus a few others, small enough to build the images config."""
    directory = tmp_path_factory.mktemp("small")
    data = synthetic_annotations()
    names = sorted(name for name in data["initial_annots"] if name.startswith("ILSVRC"))
    keep = sorted(set(names[:5]) | set(data["imagenet_m"]))
    data["initial_annots"] = {name: data["initial_annots"][name] for name in keep}
    write_annotation_file(directory / "small.json", data)
    return load_annotations(
        directory / "small.json", allow_unverified=True, cache_dir=directory / "cache"
    )


def test_hub_id_is_fetched_as_a_labels_only_snapshot(small_annotations, tmp_path, monkeypatch):
    image_ids = [int(image_id) for image_id in small_annotations.image_ids]
    tar = make_val_tar(tmp_path / "val.tar", image_ids)
    repo = build.build_dataset(tmp_path / "repo", small_annotations, images=str(tar))
    calls = []

    def fake_snapshot_download(repo_id, *, repo_type, allow_patterns):
        """Like the real one: only the allowed files of the repository reach the snapshot."""
        calls.append((repo_id, repo_type, allow_patterns))
        snapshot = tmp_path / "snapshots" / COMMIT
        for path in repo.rglob("*"):
            relative = path.relative_to(repo).as_posix()
            if path.is_file() and any(fnmatch(relative, p) for p in allow_patterns):
                (snapshot / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, snapshot / relative)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    columns, provenance = load_labels_dataset("someone/imagenet-multilabel", ["imagenet_m"])
    assert calls == [("someone/imagenet-multilabel", "dataset", ["README.md", "labels/*"])]
    assert not (tmp_path / "snapshots" / COMMIT / "images").exists()
    assert list(columns) == ["imagenet_m"]
    assert reference_columns(columns["imagenet_m"]) == split_columns_without_image_id(
        small_annotations, "imagenet_m"
    )
    assert provenance["source"] == "someone/imagenet-multilabel"
    assert provenance["revision"] == COMMIT
    assert provenance["sha256"] == small_annotations.sha256


def test_unreachable_hub_id_says_how_to_proceed():
    # conftest sets HF_HUB_OFFLINE=1 and an empty cache: the real snapshot_download must fail.
    with pytest.raises(LabelsDatasetError, match="hf auth login") as raised:
        load_labels_dataset("nobody/not-cached", SPLITS)
    assert "nobody/not-cached" in str(raised.value)


def test_missing_split_lists_the_available_ones(built):
    with pytest.raises(LabelsDatasetError, match="'train'.*validation, imagenet_m"):
        load_labels_dataset(str(built), ["validation", "train"])


def test_neither_folder_nor_hub_id(tmp_path):
    """Refused before any work by the frame (the labels dataset is a folder or a Hub id),
    naming the parameter; the loader itself no longer checks."""
    expected = "expected a labels dataset folder or a Hub dataset id ORG/NAME"
    with pytest.raises(UnusablePathError, match=rf"^dataset '.*/a/b' does not exist; {expected}"):
        load_labels(SPLITS, dataset=str(tmp_path / "a" / "b"))
    (tmp_path / "labels.json").write_text("{}")
    with pytest.raises(UnusablePathError, match=rf"is a regular file; {expected}"):
        load_labels(SPLITS, dataset=str(tmp_path / "labels.json"))
    with pytest.raises(UnusablePathError, match="^dataset 'x") as raised:
        load_labels(SPLITS, dataset="x" * 100_000)
    assert len(str(raised.value)) < 400


def test_folder_without_card_or_labels_config_is_refused(tmp_path):
    with pytest.raises(LabelsDatasetError, match="no README.md"):
        load_labels_dataset(str(tmp_path), SPLITS)
    card_data = DatasetCardData(configs=[{"config_name": "default", "data_files": "data/*"}])
    DatasetCard(f"---\n{card_data.to_yaml()}\n---\n").save(tmp_path / "README.md")
    with pytest.raises(LabelsDatasetError, match="declares no 'labels' config.*default"):
        load_labels_dataset(str(tmp_path), SPLITS)


def hand_made_labels_folder(folder: Path, columns: dict[str, list]) -> Path:
    """A ``labels`` config written with plain ``datasets``, without the builder's metadata."""
    card_data = DatasetCardData(
        configs=[
            {
                "config_name": "labels",
                "data_files": [{"split": "imagenet_m", "path": "labels/imagenet_m-*"}],
            }
        ]
    )
    DatasetCard(f"---\n{card_data.to_yaml()}\n---\n").save(folder / "README.md")
    (folder / "labels").mkdir()
    dataset = datasets.Dataset.from_dict(columns)
    dataset.to_parquet(str(folder / "labels" / "imagenet_m-00000-of-00001.parquet"))
    return folder


def test_missing_columns_are_named(annotations, tmp_path):
    columns = annotations.split_columns("imagenet_m")
    del columns["is_problematic"], columns["unclear_multi_labels"]
    folder = hand_made_labels_folder(tmp_path, columns)
    with pytest.raises(LabelsDatasetError, match="lacks the column.*unclear_multi_labels"):
        load_labels_dataset(str(folder), ["imagenet_m"])


def test_files_without_the_builders_provenance_are_refused(annotations, tmp_path):
    folder = hand_made_labels_folder(tmp_path, annotations.split_columns("imagenet_m"))
    with pytest.raises(LabelsDatasetError, match="no 'imagenet_multilabel' schema metadata"):
        load_labels_dataset(str(folder), ["imagenet_m"])


def rewrite_column(path: Path, name: str, edit) -> None:
    """Rewrite one parquet file with ``edit`` applied to a column's values, keeping the schema
    and its metadata (the builder's provenance record) as they were."""
    table = pq.read_table(path)
    index = table.schema.get_field_index(name)
    values = edit(table.column(name).to_pylist())
    edited = table.set_column(index, table.schema.field(index), pa.array(values, table[name].type))
    pq.write_table(edited, path)


@pytest.mark.parametrize("split", SPLITS)
def test_labels_edited_after_the_build_are_refused(built, annotation_file, tmp_path, split):
    _, sha256 = annotation_file
    copy = Path(shutil.copytree(built, tmp_path / "copy"))
    path = copy / "labels" / f"{split}-00000-of-00001.parquet"

    def add_a_correct_label(rows: list[list[int]]) -> list[list[int]]:
        extra = next(index for index in range(1000) if index not in rows[0])
        return [rows[0] + [extra], *rows[1:]]

    rewrite_column(path, "correct_multi_labels", add_a_correct_label)
    assert pq.read_schema(path).metadata == pq.read_schema(built / path.relative_to(copy)).metadata
    with pytest.raises(LabelsDatasetError, match=f"split '{split}'") as raised:
        load_labels_dataset(str(copy), SPLITS)
    assert f"changed after they were built from the annotation file with sha256 {sha256}" in str(
        raised.value
    )
    (other,) = set(SPLITS) - {split}
    columns, _ = load_labels_dataset(str(copy), [other])  # the untouched split is still fine
    assert reference_columns(columns[other]) == reference_columns(
        load_labels_dataset(str(built), [other])[0][other]
    )


def test_files_without_label_digests_are_refused(built, tmp_path):
    copy = Path(shutil.copytree(built, tmp_path / "copy"))
    for path in (copy / "labels").glob("*.parquet"):
        table = pq.read_table(path)
        metadata = dict(table.schema.metadata)
        record = json.loads(metadata[dataset_rows.PROVENANCE_KEY.encode()])
        del record[dataset_rows.LABEL_DIGESTS_KEY]
        metadata[dataset_rows.PROVENANCE_KEY.encode()] = json.dumps(record).encode()
        pq.write_table(table.replace_schema_metadata(metadata), path)
    with pytest.raises(LabelsDatasetError, match="metadata lacks label_sha256"):
        load_labels_dataset(str(copy), SPLITS)

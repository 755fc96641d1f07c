"""The 1,000 class names are the bulk of a labels build with few rows: pinned here, so that a
build of a handful of rows stays small while ClassLabel features still load back."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from imagenet_multilabel.dataset_script import classes, dataset_rows
from imagenet_multilabel.dataset_script.hub import names as hub_names
from test_push import built

LAST_CLASS = classes.CLASS_NAMES[-1]
CLASS_LABEL_COLUMNS = ("original_label", "correct_multi_labels", "wrong_multi_labels")
CLASS_LABEL_COLUMNS += ("unclear_multi_labels",)


@pytest.fixture(scope="module")
def labels_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built(tmp_path_factory.mktemp("sizes"), with_images=False)


def test_each_parquet_file_stores_the_features_once(labels_dir: Path) -> None:
    for path in sorted((labels_dir / hub_names.LABELS_CONFIG).glob("*.parquet")):
        metadata = pq.ParquetFile(path).metadata.metadata
        assert set(metadata) == {
            b"huggingface",
            dataset_rows.PROVENANCE_KEY.encode(),
        }  # no ARROW:schema
        features = len(metadata[b"huggingface"])
        # A handful of rows: the features (the names once per ClassLabel column) are nearly all
        # of the file. With pyarrow's serialised schema beside them the file was 2.3x this.
        assert features < path.stat().st_size < features + 10_000, path.name
        assert path.read_bytes().count(LAST_CLASS.encode()) == len(CLASS_LABEL_COLUMNS)


def test_class_labels_load_back_from_the_folder_and_from_parquet_alone(labels_dir: Path) -> None:
    files = str(labels_dir / hub_names.LABELS_CONFIG / "validation-*.parquet")
    for dataset in (
        datasets.load_dataset(str(labels_dir), split="validation"),
        datasets.load_dataset("parquet", data_files=files, split="train"),
    ):
        assert dataset.features == dataset_rows.label_features()
        assert dataset.features["original_label"].names[-1] == LAST_CLASS
    provenance = pq.read_schema(sorted(Path(labels_dir).glob("labels/*.parquet"))[0]).metadata
    assert json.loads(provenance[dataset_rows.PROVENANCE_KEY.encode()])["verified"] is False


def test_the_card_lists_the_names_once_per_class_label_column(labels_dir: Path) -> None:
    card = (labels_dir / "README.md").read_text(encoding="utf-8")
    assert card.count(LAST_CLASS) == len(CLASS_LABEL_COLUMNS)
    names_yaml = sum(len(f"        '{i}': {name}\n") for i, name in enumerate(classes.CLASS_NAMES))
    assert len(card.encode()) < len(CLASS_LABEL_COLUMNS) * names_yaml + 20_000

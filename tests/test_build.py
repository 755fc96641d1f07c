"""The Hub dataset builder: parquet layout, types, card, eval.yaml, determinism, images config."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tracemalloc
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from annotation_fixtures import synthetic_annotations, write_annotation_file
from huggingface_hub import DatasetCard, DatasetCardData
from image_fixtures import (
    image_bytes,
    make_hf_parquet_dataset,
    make_val_folder,
    make_val_tar,
    make_webdataset,
)
from imagenet_multilabel.dataset_script import build, classes, dataset_card, dataset_rows
from imagenet_multilabel.dataset_script.annotations.published import (
    PUBLISHED_URL,
    SPLITS,
    Annotations,
    load_annotations,
)
from imagenet_multilabel.dataset_script.images.decode import decode_image
from imagenet_multilabel.dataset_script.images.errors import MissingImagesError
from imagenet_multilabel.eval_cli.commands.cli import main
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def annotations(annotation_file, tmp_path_factory) -> Annotations:
    path, sha256 = annotation_file
    cache = tmp_path_factory.mktemp("cache")
    return load_annotations(path, expected_sha256=sha256, cache_dir=cache)


@pytest.fixture(scope="module")
def labels_dir(annotations, tmp_path_factory) -> Path:
    return build.build_dataset(tmp_path_factory.mktemp("builds") / "labels", annotations)


def subset_annotations(directory: Path, num_validation: int) -> Annotations:
    """Unverified annotations of the first ``num_validation`` images plus ImageNet-M."""
    data = synthetic_annotations()
    names = sorted(name for name in data["initial_annots"] if name.startswith("ILSVRC"))
    keep = set(names[:num_validation]) | set(data["imagenet_m"])
    data["initial_annots"] = {name: data["initial_annots"][name] for name in sorted(keep)}
    path = directory / f"subset_{num_validation}.json"
    write_annotation_file(path, data)
    return load_annotations(path, allow_unverified=True, cache_dir=directory / "cache")


def relative_files(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def front_matter(readme: Path) -> dict:
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_labels_layout_and_offline_load(labels_dir, annotations):
    assert set(relative_files(labels_dir)) == {
        "README.md",
        "eval.yaml",
        "labels/validation-00000-of-00001.parquet",
        "labels/imagenet_m-00000-of-00001.parquet",
    }
    loaded = datasets.load_dataset(str(labels_dir))  # default config: labels
    assert set(loaded) == set(SPLITS)
    for split in SPLITS:
        expected = annotations.split_columns(split)
        data = loaded[split].to_dict()
        assert list(data) == list(dataset_rows.LABEL_COLUMNS)
        assert data == expected
    assert loaded["validation"].num_rows == 2000 and loaded["imagenet_m"].num_rows == 68
    features = loaded["validation"].features
    assert features == dataset_rows.label_features()
    assert features["original_label"].names == list(classes.CLASS_NAMES)
    assert isinstance(features["correct_multi_labels"], datasets.List)
    assert features["image_id"] == datasets.Value("int32")
    only_m = datasets.load_dataset(str(labels_dir), split="imagenet_m")
    assert only_m["file_name"][:] == annotations.split_columns("imagenet_m")["file_name"]


def test_parquet_schema_round_trips_features_and_carries_provenance(
    labels_dir, annotations, annotation_file
):
    _, sha256 = annotation_file
    for split in SPLITS:
        schema = pq.read_schema(labels_dir / f"labels/{split}-00000-of-00001.parquet")
        assert datasets.Features.from_arrow_schema(schema) == dataset_rows.label_features()
        provenance = json.loads(schema.metadata[dataset_rows.PROVENANCE_KEY.encode()])
        assert provenance == {
            "source": PUBLISHED_URL,  # a verified file is the published one, whatever its path
            "sha256": sha256,
            "version": "3.0.0",
            "verified": True,
            "num_annotated_images": 2000,
            "label_sha256": {split: documented_digest(annotations, split) for split in SPLITS},
        }


def documented_digest(annotations: Annotations, split: str) -> str:
    """The label digest as ``dataset_rows.label_digest`` documents it, computed independently."""
    columns = annotations.split_columns(split)
    document = {name: columns[name] for name in dataset_rows.LABEL_COLUMNS}
    return hashlib.sha256(json.dumps(document, separators=(",", ":")).encode()).hexdigest()


def test_unverified_provenance_names_the_file_not_its_directory(annotation_file, tmp_path):
    path, sha256 = annotation_file
    unverified = load_annotations(path, allow_unverified=True, cache_dir=tmp_path)
    provenance = dataset_card.public_provenance(unverified)
    assert provenance["source"] == f"local file {path.name}"
    assert provenance["verified"] is False and provenance["version"] == "unverified"
    assert provenance["sha256"] == sha256


def test_card_yaml_parses_and_describes_the_build(labels_dir, annotation_file):
    _, sha256 = annotation_file
    card = DatasetCard.load(labels_dir / "README.md")
    assert isinstance(card.data, DatasetCardData)
    metadata = front_matter(labels_dir / "README.md")
    assert metadata == card.data.to_dict()
    assert metadata["license"] == "cc-by-4.0"
    assert metadata["task_categories"] == ["image-classification"]
    assert metadata["size_categories"] == ["1K<n<10K"]
    assert not any(key.startswith("extra_gated") for key in metadata)
    assert metadata["configs"] == [
        {
            "config_name": "labels",
            "data_files": [
                {"split": "validation", "path": "labels/validation-*"},
                {"split": "imagenet_m", "path": "labels/imagenet_m-*"},
            ],
            "default": True,
        }
    ]
    info = metadata["dataset_info"]
    assert info["config_name"] == "labels"
    assert {s["name"]: s["num_examples"] for s in info["splits"]} == {
        "validation": 2000,
        "imagenet_m": 68,
    }
    assert [f["name"] for f in info["features"]] == list(dataset_rows.LABEL_COLUMNS)
    body = card.text
    assert "differs from the published" not in body
    for needed in (
        sha256,
        "Evaluating Machine Accuracy on {ImageNet}",
        "arXiv:2205.04596",
        "evaluate.load(imagenet_multilabel.metric.PATH)",
        "imagenet_m=False",
        "2,000 of the 50,000",
        "class-balanced",
    ):
        assert needed in body, needed


def test_eval_yaml_tasks_point_at_declared_splits(labels_dir):
    document = yaml.safe_load((labels_dir / "eval.yaml").read_text(encoding="utf-8"))
    assert set(document) == {"name", "description", "tasks"}
    assert document["tasks"] == [
        {"id": "multilabel_accuracy", "config": "labels", "split": "validation"},
        {"id": "imagenet_m", "config": "labels", "split": "imagenet_m"},
    ]
    configs = front_matter(labels_dir / "README.md")["configs"]
    declared = {(c["config_name"], f["split"]) for c in configs for f in c["data_files"]}
    assert {(task["config"], task["split"]) for task in document["tasks"]} <= declared


def cli_build(output: Path, annotation_path: Path, hf_home: Path) -> None:
    """``imagenet-multilabel build`` in a fresh process with its own Hugging Face cache."""
    command = [sys.executable, "-m", "imagenet_multilabel", "build", "--output", str(output)]
    command += ["--annotations", str(annotation_path), "--allow-unverified-annotations"]
    environment = {**os.environ, "HF_HOME": str(hf_home)}
    done = subprocess.run(command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_builds_in_fresh_processes_are_byte_identical(annotation_file, tmp_path):
    path, sha256 = annotation_file
    for name in ("first", "second", "cached"):
        home = tmp_path / ("home_first" if name == "cached" else f"home_{name}")
        cli_build(tmp_path / name, path, home)
        assert (home / "imagenet_multilabel" / "compact" / f"{sha256}.npz").is_file()
    first = relative_files(tmp_path / "first")
    assert len(first) == 4
    assert relative_files(tmp_path / "second") == first  # parsed anew in another process
    assert relative_files(tmp_path / "cached") == first  # read from the compact cache


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_output_has_the_umask_modes_even_in_a_world_writable_parent(annotations, tmp_path, umask):
    shared = tmp_path / "shared"  # like /tmp
    shared.mkdir()
    shared.chmod(0o1777)
    previous = os.umask(umask)
    try:
        output = build.build_dataset(shared / "out", annotations)
    finally:
        os.umask(previous)
    directories = [output, *(path for path in output.rglob("*") if path.is_dir())]
    files = [path for path in output.rglob("*") if path.is_file()]
    assert len(directories) == 2 and len(files) == 4
    for directory in directories:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o777 & ~umask, directory
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o666 & ~umask, file


def test_output_must_be_new_or_empty(annotations, tmp_path):
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "old.parquet").write_bytes(b"x")
    with pytest.raises(dataset_rows.BuildError, match="not an empty directory"):
        build.build_dataset(occupied, annotations)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (build.build_dataset(empty, annotations) / "README.md").is_file()


def test_cli_build_and_its_errors(annotation_file, tmp_path, capsys):
    path, _ = annotation_file
    output = tmp_path / "cli"
    args = ["build", "--output", str(output), "--annotations", str(path)]
    assert main(args) == 2  # the synthetic file is not the published one
    assert "--allow-unverified-annotations" in capsys.readouterr().err
    assert not output.exists()
    assert main([*args, "--allow-unverified-annotations", "--repo-id", "me/labels"]) == 0
    assert 'load_dataset("me/labels", "labels"' in (output / "README.md").read_text()
    assert main([*args, "--allow-unverified-annotations"]) == 2
    assert "not an empty directory" in capsys.readouterr().err


# --- the images config ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_annotations(tmp_path_factory) -> Annotations:
    return subset_annotations(tmp_path_factory.mktemp("small"), num_validation=12)


def all_image_ids(annotations: Annotations) -> list[int]:
    return [int(image_id) for image_id in annotations.image_ids]


def make_source(kind: str, directory: Path, image_ids: list[int]) -> str:
    if kind == "tar":
        return str(make_val_tar(directory / "ILSVRC2012_img_val.tar", image_ids))
    if kind == "folder":
        return str(make_val_folder(directory / "val", image_ids, class_subfolders=True))
    if kind == "hf_parquet":
        return str(make_hf_parquet_dataset(directory / "hf", image_ids))
    return str(make_webdataset(directory / "wds", image_ids))


@pytest.mark.parametrize("kind", ["tar", "folder", "hf_parquet", "webdataset"])
def test_images_config_holds_the_source_bytes_and_pixels(kind, small_annotations, tmp_path):
    image_ids = all_image_ids(small_annotations)
    source = make_source(kind, tmp_path, image_ids)
    output = build.build_dataset(
        tmp_path / "out", small_annotations, images=source, max_shard_bytes=20_000
    )
    expected_bytes = image_bytes(image_ids)
    for split in SPLITS:
        loaded = datasets.load_dataset(str(output), "images", split=split)
        labels = small_annotations.split_columns(split)
        assert loaded.select_columns(list(dataset_rows.LABEL_COLUMNS)).to_dict() == labels
        raw = loaded.cast_column("image", datasets.Image(decode=False))
        for file_name, image in zip(labels["file_name"], raw["image"], strict=True):
            data = expected_bytes[classes.image_id_from_file_name(file_name)]
            assert image["bytes"] == data  # stored as-is, never re-encoded
        for row in (0, len(loaded) - 1):
            decoded = np.asarray(loaded[row]["image"].convert("RGB"))
            source_bytes = expected_bytes[labels["image_id"][row]]
            assert np.array_equal(decoded, np.asarray(decode_image(source_bytes, "source")))


def test_image_shards_rotate_and_are_named_with_their_count(small_annotations, tmp_path):
    image_ids = all_image_ids(small_annotations)
    source = make_val_tar(tmp_path / "val.tar", image_ids)
    limit = 3 * max(len(data) for data in image_bytes(image_ids).values())
    output = build.build_dataset(
        tmp_path / "out", small_annotations, images=str(source), max_shard_bytes=limit
    )
    for split in SPLITS:
        shards = sorted((output / "images").glob(f"{split}-*.parquet"))
        assert len(shards) > 1
        count = len(shards)
        assert [s.name for s in shards] == [
            f"{split}-{i:05d}-of-{count:05d}.parquet" for i in range(count)
        ]
        rows = 0
        for shard in shards:
            table = pq.read_table(shard)
            sizes = [len(image["bytes"]) for image in table.column("image").to_pylist()]
            assert sum(sizes) <= limit
            rows += table.num_rows
        assert rows == len(small_annotations.split_columns(split)["file_name"])
    assert not list(output.rglob("*.partial"))


@pytest.fixture(scope="module")
def tar_build(small_annotations, tmp_path_factory) -> tuple[str, Path]:
    """One images build from a tar, built once for the tests that only read it."""
    directory = tmp_path_factory.mktemp("tar_build")
    source = make_source("tar", directory, all_image_ids(small_annotations))
    return source, build.build_dataset(
        directory / "out", small_annotations, images=source, max_shard_bytes=3000
    )


def test_images_card_carries_imagenet_terms_and_gate(tar_build):
    _, output = tar_build
    card = DatasetCard.load(output / "README.md")
    metadata = front_matter(output / "README.md")
    assert metadata == card.data.to_dict()
    assert metadata["license"] == "other"
    assert metadata["license_link"] == dataset_card.IMAGENET_TERMS_URL
    assert metadata["license_name"]
    assert dataset_card.IMAGENET_TERMS_URL in metadata["extra_gated_prompt"]
    assert "checkbox" in metadata["extra_gated_fields"].values()
    names = [config["config_name"] for config in metadata["configs"]]
    assert sorted(names) == ["images", "labels"]
    default = [c["config_name"] for c in metadata["configs"] if c.get("default")]
    assert default == ["labels"]
    infos = {info["config_name"]: info for info in metadata["dataset_info"]}
    assert [f["name"] for f in infos["images"]["features"]][-1] == "image"
    assert "ImageNet terms of access" in card.text and "russakovsky2015imagenet" in card.text
    assert "differs from the published version 3.0.0" in card.text  # unverified annotations
    assert datasets.load_dataset(str(output), split="imagenet_m").column_names == list(
        dataset_rows.LABEL_COLUMNS
    )


def test_missing_images_are_listed_before_anything_is_written(small_annotations, tmp_path):
    image_ids = all_image_ids(small_annotations)
    lacking = image_ids[3], image_ids[-1]
    source = make_val_tar(tmp_path / "val.tar", [i for i in image_ids if i not in lacking])
    builds = tmp_path / "builds"
    with pytest.raises(MissingImagesError) as raised:
        build.build_dataset(builds / "out", small_annotations, images=str(source))
    assert set(raised.value.missing) == {classes.file_name_from_image_id(i) for i in lacking}
    assert not builds.exists() or not any(builds.iterdir())


def test_images_builds_are_byte_identical(small_annotations, tar_build, tmp_path):
    source, first = tar_build
    second = build.build_dataset(
        tmp_path / "b", small_annotations, images=source, max_shard_bytes=3000
    )
    assert relative_files(first) == relative_files(second)


def noise_jpeg(rng: np.random.Generator) -> bytes:
    """About 30 KB: random noise barely compresses."""
    buffer = io.BytesIO()
    pixels = rng.integers(0, 256, size=(160, 160, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def test_memory_stays_flat_while_streaming_images(tmp_path, monkeypatch):
    annotations = subset_annotations(tmp_path, num_validation=232)
    image_ids = all_image_ids(annotations)
    assert len(image_ids) >= 280
    rng = np.random.default_rng(0)
    tar = make_val_tar(tmp_path / "val.tar", image_ids, {i: noise_jpeg(rng) for i in image_ids})
    tar_size = tar.stat().st_size
    assert tar_size > 8_000_000

    arrow_in_use: list[int] = []
    write_batch = pq.ParquetWriter.write_batch

    def recording_write_batch(self, batch, *args, **kwargs):
        arrow_in_use.append(pa.total_allocated_bytes())
        return write_batch(self, batch, *args, **kwargs)

    python_peak: list[int] = []
    write_images = dataset_rows.write_images

    def measured_write_images(*args, **kwargs):
        tracemalloc.start()
        try:
            return write_images(*args, **kwargs)
        finally:
            python_peak.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()

    monkeypatch.setattr(pq.ParquetWriter, "write_batch", recording_write_batch)
    monkeypatch.setattr(dataset_rows, "write_images", measured_write_images)
    output = build.build_dataset(
        tmp_path / "out",
        annotations,
        images=str(tar),
        max_shard_bytes=256_000,
        rows_per_row_group=4,
    )
    assert len(list((output / "images").glob("validation-*.parquet"))) > 10
    assert python_peak[0] < tar_size / 4
    assert max(arrow_in_use) - min(arrow_in_use) < tar_size / 4

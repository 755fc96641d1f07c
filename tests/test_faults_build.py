"""`build --images` checks each image as it writes it: a dataset never stores an image that
`load_dataset` cannot decode (issue 8)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from annotation_fixtures import synthetic_annotations, write_annotation_file
from image_fixtures import make_val_folder
from imagenet_multilabel.dataset_script import build
from imagenet_multilabel.dataset_script.annotations.published import load_annotations
from imagenet_multilabel.dataset_script.classes import (
    file_name_from_image_id,
    image_id_from_file_name,
)
from imagenet_multilabel.dataset_script.images.errors import CorruptImageError
from imagenet_multilabel.eval_cli.commands.cli import main
from PIL import Image


@pytest.fixture(scope="module")
def small_annotation_file(tmp_path_factory) -> Path:
    """Ten validation images plus ImageNet-M: 78 images to build."""
    data = synthetic_annotations()
    names = sorted(name for name in data["initial_annots"] if name.startswith("ILSVRC"))
    keep = set(names[:10]) | set(data["imagenet_m"])
    data["initial_annots"] = {name: data["initial_annots"][name] for name in sorted(keep)}
    path = tmp_path_factory.mktemp("small") / "subset.json"
    write_annotation_file(path, data)
    return path


def _image_ids(annotation_file: Path) -> list[int]:
    annotations = load_annotations(annotation_file, allow_unverified=True)
    return [int(image_id) for image_id in annotations.image_ids]


def _build_args(annotation_file: Path, images: Path, output: Path) -> list[str]:
    return [
        "build",
        "--output",
        str(output),
        "--annotations",
        str(annotation_file),
        "--allow-unverified-annotations",
        "--images",
        str(images),
    ]


def test_undecodable_images_stop_the_build_listing_them(small_annotation_file, tmp_path, capsys):
    """Zero-byte images used to be packed, and failed only later in load_dataset."""
    image_ids = _image_ids(small_annotation_file)
    empty = image_ids[:7]
    source = make_val_folder(
        tmp_path / "val", image_ids, class_subfolders=False, images=dict.fromkeys(empty, b"")
    )
    output = tmp_path / "out"
    assert main(_build_args(small_annotation_file, source, output)) == 2
    err = capsys.readouterr().err
    assert f"\nerror: 7 of {len(image_ids)} images do not decode: " in err  # after tqdm's bars
    shown = [file_name_from_image_id(image_id) for image_id in empty[:5]]
    assert ", ".join(f"{name} (UnidentifiedImageError" for name in shown[:1]) in err
    assert all(name in err for name in shown) and file_name_from_image_id(empty[5]) not in err
    assert err.rstrip().endswith(", ...")
    assert not output.exists() and not list(tmp_path.glob(".out.*"))  # nothing left behind


def test_full_image_check_decodes_every_image(small_annotation_file, tmp_path):
    """A JPEG cut short after its header passes the header check; --full-image-check finds it."""
    image_ids = _image_ids(small_annotation_file)
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="JPEG")  # mostly entropy-coded data
    truncated = buffer.getvalue()[: buffer.tell() // 2]
    source = make_val_folder(
        tmp_path / "val", image_ids, class_subfolders=False, images={image_ids[2]: truncated}
    )
    annotations = load_annotations(small_annotation_file, allow_unverified=True)
    with pytest.raises(CorruptImageError) as raised:
        build.build_dataset(
            tmp_path / "full", annotations, images=str(source), full_image_check=True
        )
    assert [image_id_from_file_name(name) for name in raised.value.file_names] == [image_ids[2]]
    assert not (tmp_path / "full").exists()
    build.build_dataset(tmp_path / "header", annotations, images=str(source))  # header only


def test_full_image_check_needs_images(small_annotation_file, tmp_path, capsys):
    args = ["build", "--output", str(tmp_path / "out"), "--annotations", str(small_annotation_file)]
    assert main([*args, "--allow-unverified-annotations", "--full-image-check"]) == 2
    assert "--full-image-check needs --images SOURCE" in capsys.readouterr().err

"""Synthetic ImageNet validation images in every layout ``dataset_script.images`` reads.

Each image is a solid colour chosen from its image id, so decoded pixels identify the image.
Every maker takes ``images``: encoded bytes to use for some image ids instead of ``make_jpeg``
(a grayscale, CMYK, PNG or corrupt image).
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import datasets
from imagenet_multilabel.dataset_script import classes
from PIL import Image


def image_colour(image_id: int) -> tuple[int, int, int]:
    """The RGB colour of image ``image_id``; neighbouring ids differ by at least 67 per channel."""
    return (image_id * 67 + 31) % 256, (image_id * 131 + 97) % 256, (image_id * 199 + 7) % 256


def make_jpeg(
    image_id: int, size: int = 16, mode: str = "RGB", image_format: str = "JPEG"
) -> bytes:
    """Encoded solid-colour image; ``mode`` "L" or "CMYK" converts the colour like PIL does."""
    image = Image.new("RGB", (size, size), image_colour(image_id)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, quality=95)
    return buffer.getvalue()


def wnid_of(image_id: int) -> str:
    """The original class wnid of a validation image (its ImageFolder sub-folder)."""
    return classes.WNIDS[int(classes.validation_labels()[image_id - 1])]


def image_bytes(
    image_ids: Iterable[int], images: Mapping[int, bytes] | None = None
) -> dict[int, bytes]:
    """Encoded bytes per image id: ``images`` where given, else ``make_jpeg``."""
    overrides = images or {}
    return {
        image_id: overrides[image_id] if image_id in overrides else make_jpeg(image_id)
        for image_id in image_ids
    }


def add_tar_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def make_val_tar(
    path: Path, image_ids: Iterable[int], images: Mapping[int, bytes] | None = None
) -> Path:
    """Like ``ILSVRC2012_img_val.tar``: top-level ``ILSVRC2012_val_%08d.JPEG``, in given order."""
    with tarfile.open(path, "w") as tar:
        for image_id, data in image_bytes(image_ids, images).items():
            add_tar_member(tar, classes.file_name_from_image_id(image_id), data)
    return path


def make_val_folder(
    directory: Path,
    image_ids: Iterable[int],
    class_subfolders: bool,
    images: Mapping[int, bytes] | None = None,
) -> Path:
    """Validation JPEGs, flat or in ``WNID/`` sub-folders (torchvision ImageFolder layout)."""
    for image_id, data in image_bytes(image_ids, images).items():
        folder = directory / wnid_of(image_id) if class_subfolders else directory
        folder.mkdir(parents=True, exist_ok=True)
        (folder / classes.file_name_from_image_id(image_id)).write_bytes(data)
    return directory


def make_hf_parquet_dataset(
    directory: Path,
    image_ids: Iterable[int],
    images: Mapping[int, bytes] | None = None,
    split: str = "validation",
) -> Path:
    """Parquet like ``ILSVRC/imagenet-1k``: ``image`` paths ``ILSVRC2012_val_%08d_WNID.JPEG``."""
    encoded = image_bytes(image_ids, images)
    rows = {
        "image": [
            {"bytes": data, "path": f"ILSVRC2012_val_{image_id:08d}_{wnid_of(image_id)}.JPEG"}
            for image_id, data in encoded.items()
        ],
        "label": [int(classes.validation_labels()[image_id - 1]) for image_id in encoded],
    }
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=list(classes.WNIDS))}
    )
    (directory / "data").mkdir(parents=True, exist_ok=True)
    parquet = directory / "data" / f"{split}-00000-of-00001.parquet"
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(parquet))
    return directory


def make_webdataset(
    directory: Path,
    image_ids: Iterable[int],
    images: Mapping[int, bytes] | None = None,
    shard_size: int = 4,
    split: str = "validation",
) -> Path:
    """Webdataset shards like ``timm/imagenet-1k-wds``: ``__key__`` ``ILSVRC2012_val_%08d``."""
    directory.mkdir(parents=True, exist_ok=True)
    encoded = list(image_bytes(image_ids, images).items())
    for shard, start in enumerate(range(0, len(encoded), shard_size)):
        with tarfile.open(directory / f"imagenet1k-{split}-{shard:04d}.tar", "w") as tar:
            for image_id, data in encoded[start : start + shard_size]:
                key = f"ILSVRC2012_val_{image_id:08d}"
                label = str(int(classes.validation_labels()[image_id - 1])).encode()
                add_tar_member(tar, f"{key}.jpg", data)
                add_tar_member(tar, f"{key}.cls", label)
    return directory

import io
import os
import pickle
import tarfile
from collections.abc import Callable
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from annotation_fixtures import synthetic_annotations, write_annotation_file
from image_fixtures import (
    add_tar_member,
    image_bytes,
    image_colour,
    make_hf_parquet_dataset,
    make_jpeg,
    make_val_folder,
    make_val_tar,
    make_webdataset,
    wnid_of,
)
from imagenet_multilabel.dataset_script import build, classes
from imagenet_multilabel.dataset_script.annotations.published import (
    SPLITS,
    Annotations,
    load_annotations,
)
from imagenet_multilabel.dataset_script.classes import file_name_from_image_id
from imagenet_multilabel.dataset_script.images import choose, files, hf_datasets
from imagenet_multilabel.dataset_script.images.decode import check_images, decode_image
from imagenet_multilabel.dataset_script.images.errors import (
    CorruptImageError,
    DuplicateImagesError,
    ImageSourceError,
    MissingImagesError,
)
from imagenet_multilabel.dataset_script.images.files import FolderImageSource
from imagenet_multilabel.dataset_script.images.hf_datasets import DatasetImageSource
from imagenet_multilabel.dataset_script.images.source import LocatedImages
from PIL import Image

SOURCE_IDS = [1, 2, 3, 5, 8, 13, 21, 34]
GRAY_ID, CMYK_ID = 5, 8
WANTED_IDS = [21, 2, 8, 5]  # not sorted: located images keep the caller's order
WANTED = [file_name_from_image_id(image_id) for image_id in WANTED_IDS]
SOURCE_IMAGES = image_bytes(
    SOURCE_IDS, {GRAY_ID: make_jpeg(GRAY_ID, mode="L"), CMYK_ID: make_jpeg(CMYK_ID, mode="CMYK")}
)
README_IMAGEFOLDER = """---
configs:
- config_name: default
  data_files:
  - split: validation
    path: "*/*.JPEG"
---
"""


def build_source(kind: str, root: Path) -> str:
    """A source of ``kind`` holding ``SOURCE_IMAGES``; returns the SOURCE string."""
    if kind == "tar":
        return str(make_val_tar(root / "ILSVRC2012_img_val.tar", SOURCE_IDS, SOURCE_IMAGES))
    if kind in ("flat_folder", "class_folders"):
        return str(make_val_folder(root, SOURCE_IDS, kind == "class_folders", SOURCE_IMAGES))
    if kind == "parquet":
        return str(make_hf_parquet_dataset(root, SOURCE_IDS, SOURCE_IMAGES))
    if kind == "webdataset":
        return str(make_webdataset(root, SOURCE_IDS, SOURCE_IMAGES, shard_size=3))
    if kind == "imagefolder_readme":  # rows hold absolute paths and no bytes
        make_val_folder(root, SOURCE_IDS, True, SOURCE_IMAGES)
        (root / "README.md").write_text(README_IMAGEFOLDER)
        return str(root)
    if kind == "saved_to_disk":
        parquet = make_hf_parquet_dataset(root / "parquet", SOURCE_IDS, SOURCE_IMAGES)
        datasets.load_dataset(str(parquet)).save_to_disk(str(root / "saved"))
        return str(root / "saved")
    raise AssertionError(kind)


KINDS = [
    "tar",
    "flat_folder",
    "class_folders",
    "parquet",
    "webdataset",
    "imagefolder_readme",
    "saved_to_disk",
]


@pytest.fixture(scope="module", params=KINDS)
def source(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    return choose.open_image_source(build_source(request.param, tmp_path_factory.mktemp("src")))


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def expected_colour(image_id: int, mode: str = "RGB") -> np.ndarray:
    """What ``make_jpeg(image_id, mode=mode)`` decodes to, up to JPEG loss."""
    colour = Image.new("RGB", (1, 1), image_colour(image_id)).convert(mode).convert("RGB")
    return np.asarray(colour)[0, 0].astype(int)


def assert_shows(image: Image.Image, image_id: int, mode: str = "RGB") -> None:
    assert image.mode == "RGB"
    difference = np.abs(np.asarray(image).astype(int) - expected_colour(image_id, mode))
    assert difference.max() <= 4, (image_id, difference.max())


def test_decode_image_gives_rgb_for_grayscale_cmyk_and_png_named_jpeg():
    for image_id, mode, image_format in [(1, "RGB", "JPEG"), (2, "L", "JPEG"), (3, "CMYK", "JPEG")]:
        image = decode_image(make_jpeg(image_id, mode=mode, image_format=image_format), "x")
        assert_shows(image, image_id, mode)
    png = decode_image(make_jpeg(4, image_format="PNG"), file_name_from_image_id(4))
    assert png.mode == "RGB" and (np.asarray(png) == image_colour(4)).all()


def test_decode_image_names_the_corrupt_file():
    truncated = make_jpeg(1, size=32)[:200]
    for data in (truncated, b"not an image"):
        with pytest.raises(CorruptImageError, match="ILSVRC2012_val_00000007.JPEG") as error:
            decode_image(data, "ILSVRC2012_val_00000007.JPEG")
        assert error.value.file_names == ("ILSVRC2012_val_00000007.JPEG",)


def test_locate_returns_wanted_images_in_order_with_the_source_pixels(source):
    located = source.locate(WANTED)
    assert located.file_names == tuple(WANTED) and len(located) == len(WANTED)
    for index, image_id in enumerate(WANTED_IDS):
        file_name, data = located[index]
        assert file_name == file_name_from_image_id(image_id)
        decoded = decode_image(data, file_name)
        assert (np.asarray(decoded) == pixels(SOURCE_IMAGES[image_id])).all()
        mode = {GRAY_ID: "L", CMYK_ID: "CMYK"}.get(image_id, "RGB")
        assert_shows(decoded, image_id, mode)


def test_missing_images_are_counted_and_named(source):
    absent = [file_name_from_image_id(image_id) for image_id in (40, 41, 42, 43, 44, 45, 46)]
    with pytest.raises(MissingImagesError, match="7 of 9 wanted images") as error:
        source.locate([WANTED[0], *absent, WANTED[1]])
    assert error.value.missing == tuple(absent)
    assert "ILSVRC2012_val_00000040.JPEG, ILSVRC2012_val_00000041.JPEG" in str(error.value)
    assert source.description in str(error.value)


def test_located_images_pickle_without_open_files(tmp_path):
    tar = make_val_tar(tmp_path / "val.tar", SOURCE_IDS, SOURCE_IMAGES)
    located = choose.open_image_source(str(tar)).locate(WANTED)
    first = located[0]  # opens the file in this process
    copy = pickle.loads(pickle.dumps(located))
    assert copy[0] == first and [copy[i] for i in range(len(copy))] == list(located)


class DecodedImages(torch.utils.data.Dataset):
    """How ``imagenet-multilabel run`` wraps located images (a stand-in with no transforms)."""

    def __init__(self, located: LocatedImages) -> None:
        self.located = located

    def __len__(self) -> int:
        return len(self.located)

    def __getitem__(self, index: int) -> tuple[str, torch.Tensor]:
        file_name, data = self.located[index]
        return file_name, torch.from_numpy(np.array(decode_image(data, file_name)))


@pytest.mark.parametrize("kind", ["tar", "parquet"])
def test_located_images_feed_a_dataloader_with_two_workers(kind, tmp_path):
    located = choose.open_image_source(build_source(kind, tmp_path)).locate(WANTED)
    located[0]  # a handle opened before the workers start must not be shared unsafely
    loader = torch.utils.data.DataLoader(DecodedImages(located), batch_size=1, num_workers=2)
    batches = list(loader)
    assert [names[0] for names, _ in batches] == WANTED
    for (_, tensor), image_id in zip(batches, WANTED_IDS, strict=True):
        assert (tensor[0].numpy() == pixels(SOURCE_IMAGES[image_id])).all()


def test_tar_reads_only_the_wanted_members(tmp_path, monkeypatch):
    tar_path = make_val_tar(tmp_path / "ILSVRC2012_img_val.tar", range(1, 41))
    with tarfile.open(tar_path) as tar:
        spans = {member.name: (member.offset_data, member.size) for member in tar}
    located = choose.open_image_source(str(tar_path)).locate(WANTED)
    reads: list[tuple[int, int]] = []
    real_pread = os.pread

    def recording_pread(fd: int, size: int, offset: int) -> bytes:
        reads.append((offset, size))
        return real_pread(fd, size, offset)

    monkeypatch.setattr(files.os, "pread", recording_pread)
    for index in range(len(located)):
        located[index]
    assert reads == [spans[name] for name in WANTED]


def test_tar_members_that_name_no_validation_image_are_skipped(tmp_path):
    tar_path = tmp_path / "val.tar"
    with tarfile.open(tar_path, "w") as tar:
        add_tar_member(tar, "README.txt", b"not an image")
        add_tar_member(tar, file_name_from_image_id(3), make_jpeg(3))
    located = choose.open_image_source(str(tar_path)).locate([file_name_from_image_id(3)])
    assert located.file_names == (file_name_from_image_id(3),) and located[0][1] == make_jpeg(3)


def test_check_images_reports_every_corrupt_image(tmp_path):
    broken = {2: make_jpeg(2, size=32)[:150], 13: b"garbage"}
    tar = make_val_tar(tmp_path / "val.tar", SOURCE_IDS, {**SOURCE_IMAGES, **broken})
    source = choose.open_image_source(str(tar))
    check_images(source.locate([file_name_from_image_id(i) for i in (1, 5, 8)]))
    everything = source.locate([file_name_from_image_id(i) for i in SOURCE_IDS])
    with pytest.raises(CorruptImageError, match="2 of 8 images do not decode") as error:
        check_images(everything, num_workers=2)
    assert error.value.file_names == (file_name_from_image_id(2), file_name_from_image_id(13))


def test_a_file_name_in_two_class_folders_is_an_error(tmp_path):
    make_val_folder(tmp_path, [1, 2], class_subfolders=True)
    other_class = tmp_path / "n00000000"
    other_class.mkdir()
    (other_class / file_name_from_image_id(2)).write_bytes(make_jpeg(2))
    with pytest.raises(DuplicateImagesError, match="1 file names occur more than once"):
        choose.open_image_source(str(tmp_path)).locate([file_name_from_image_id(1)])


def test_a_file_name_twice_in_a_tar_is_an_error(tmp_path):
    tar_path = tmp_path / "val.tar"
    with tarfile.open(tar_path, "w") as tar:
        add_tar_member(tar, file_name_from_image_id(4), make_jpeg(4))
        add_tar_member(tar, f"val/{file_name_from_image_id(4)}", make_jpeg(4))
    with pytest.raises(DuplicateImagesError, match="ILSVRC2012_val_00000004.JPEG: "):
        choose.open_image_source(str(tar_path)).locate([file_name_from_image_id(4)])


@pytest.mark.parametrize(
    ("source_string", "split", "repo_id", "loaded_split"),
    [
        ("hf://timm/imagenet-1k-wds", None, "timm/imagenet-1k-wds", "validation"),
        ("hf://datasets/ILSVRC/imagenet-1k", None, "ILSVRC/imagenet-1k", "validation"),
        ("ILSVRC/imagenet-1k", "test", "ILSVRC/imagenet-1k", "test"),
    ],
)
def test_hub_ids_go_through_the_hub_loader(
    source_string, split, repo_id, loaded_split, tmp_path, monkeypatch
):
    local = make_webdataset(tmp_path / "wds", SOURCE_IDS, SOURCE_IMAGES, split=loaded_split)
    calls = []

    def load_local_instead(requested_id: str, requested_split: str) -> datasets.Dataset:
        calls.append((requested_id, requested_split))
        return datasets.load_dataset(str(local), split=requested_split)

    monkeypatch.setattr(hf_datasets, "_load_hub_dataset", load_local_instead)
    monkeypatch.chdir(tmp_path)  # no local path named like the id
    source = choose.open_image_source(source_string, split=split)
    assert calls == [(repo_id, loaded_split)]
    assert repo_id in source.description
    located = source.locate(WANTED)
    assert list(located) == [(file_name_from_image_id(i), SOURCE_IMAGES[i]) for i in WANTED_IDS]


def write_parquet(directory: Path, columns: dict[str, list], features: datasets.Features) -> str:
    (directory / "data").mkdir(parents=True)
    dataset = datasets.Dataset.from_dict(columns, features=features)
    dataset.to_parquet(str(directory / "data" / "validation-00000-of-00001.parquet"))
    return str(directory)


def test_a_file_name_column_names_rows_whose_image_has_no_path(tmp_path):
    features = datasets.Features({"file_name": datasets.Value("string"), "image": datasets.Image()})
    columns = {
        "file_name": [file_name_from_image_id(i) for i in (7, 9)],
        "image": [{"bytes": make_jpeg(i), "path": None} for i in (7, 9)],
    }
    source = choose.open_image_source(write_parquet(tmp_path, columns, features))
    located = source.locate([file_name_from_image_id(9)])
    assert located[0] == (file_name_from_image_id(9), make_jpeg(9))


def test_rows_without_any_file_name_are_an_error_listing_the_columns(tmp_path):
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")})
    columns = {
        "image": [{"bytes": make_jpeg(i), "path": f"img_{i}.jpg"} for i in (1, 2)],
        "label": [0, 1],
    }
    source = choose.open_image_source(write_parquet(tmp_path, columns, features))
    with pytest.raises(ImageSourceError, match=r"columns: image, label\)") as error:
        source.locate([file_name_from_image_id(1)])
    assert "image.path" in str(error.value) and "__key__" in str(error.value)


def test_a_local_dataset_without_the_split_is_an_error(tmp_path):
    make_hf_parquet_dataset(tmp_path, [1, 2])
    with pytest.raises(ImageSourceError, match="'train'"):
        choose.open_image_source(str(tmp_path), split="train")


def test_wanted_names_must_be_canonical_and_unique(tmp_path):
    source = choose.open_image_source(str(make_val_folder(tmp_path, [1, 2], False)))
    with pytest.raises(ImageSourceError, match="1 of 2 wanted names .* 'val_1.jpg'"):
        source.locate([file_name_from_image_id(1), "val_1.jpg"])
    with pytest.raises(ImageSourceError, match="occur more than once"):
        source.locate([file_name_from_image_id(1), file_name_from_image_id(1)])


def test_folder_classes_come_from_the_validation_labels(tmp_path):
    make_val_folder(tmp_path, [1, 2], class_subfolders=True)
    assert (tmp_path / wnid_of(1) / file_name_from_image_id(1)).is_file()
    assert isinstance(choose.open_image_source(str(tmp_path)), FolderImageSource)


def test_source_strings_that_name_nothing_usable_are_errors(tmp_path):
    mixed = make_val_folder(tmp_path / "mixed", [1], False)
    make_val_tar(mixed / "ILSVRC2012_img_val.tar", [1])
    (tmp_path / "empty").mkdir()
    (tmp_path / "not_a_tar.tar").write_bytes(b"plain text")
    cases = {
        str(mixed): "both dataset files .* and image files",
        str(tmp_path / "empty"): "neither image files",
        str(tmp_path / "absent" / "ILSVRC2012_img_val.tar"): "does not exist",
        "not a source": "neither an existing .tar file",
        "hf://no-org": "neither an existing .tar file",
    }
    for source_string, message in cases.items():
        with pytest.raises(ImageSourceError, match=message):
            choose.open_image_source(source_string)
    with pytest.raises(ImageSourceError, match="not a readable uncompressed tar"):
        choose.open_image_source(str(tmp_path / "not_a_tar.tar")).locate(WANTED)
    with pytest.raises(ImageSourceError, match="validation images only"):
        choose.open_image_source(str(mixed / "ILSVRC2012_img_val.tar"), split="train")


# --- Hugging Face datasets: only the wanted split, the config with images ------------------------


def make_hub_like_repo(root: Path, layout: str) -> Path:
    """A repo laid out like ``ILSVRC/imagenet-1k`` (parquet) or ``timm/imagenet-1k-wds``.

    Its README declares a ``train`` and a ``validation`` split; the train files are not readable
    data, so loading them fails.
    """
    if layout == "parquet":
        make_hf_parquet_dataset(root, SOURCE_IDS, SOURCE_IMAGES)
        train = [root / "data" / f"train-0000{i}-of-00002.parquet" for i in range(2)]
        patterns = {"train": "data/train-*", "validation": "data/validation-*"}
    else:
        make_webdataset(root, SOURCE_IDS, SOURCE_IMAGES, shard_size=3)
        train = [root / f"imagenet1k-train-000{i}.tar" for i in range(2)]
        patterns = {"train": "imagenet1k-train-*.tar", "validation": "imagenet1k-validation-*.tar"}
    for path in train:
        path.write_bytes(b"train files must not be read")
    data_files = "".join(
        f"  - split: {split}\n    path: {pattern}\n" for split, pattern in patterns.items()
    )
    (root / "README.md").write_text(
        f"---\nconfigs:\n- config_name: default\n  data_files:\n{data_files}---\n"
    )
    return root


@pytest.mark.parametrize("layout", ["parquet", "webdataset"])
def test_only_the_wanted_split_of_a_dataset_repo_is_read(layout, tmp_path):
    repo = make_hub_like_repo(tmp_path / "repo", layout)
    with pytest.raises((ValueError, datasets.exceptions.DatasetGenerationError)):
        datasets.load_dataset(str(repo), split="validation")  # what a plain load does: every split
    assert hf_datasets._load_hub_dataset(str(repo), "validation").num_rows == len(SOURCE_IDS)
    located = choose.open_image_source(str(repo)).locate(WANTED)
    assert list(located) == [(file_name_from_image_id(i), SOURCE_IMAGES[i]) for i in WANTED_IDS]


def built_dataset(root: Path, with_images: bool) -> tuple[Path, Annotations]:
    """A ``dataset_script.build`` folder for 12 validation images plus ImageNet-M."""
    data = synthetic_annotations()
    validation = sorted(name for name in data["initial_annots"] if name.startswith("ILSVRC"))
    kept = set(validation[:12]) | set(data["imagenet_m"])
    data["initial_annots"] = {name: data["initial_annots"][name] for name in sorted(kept)}
    write_annotation_file(root / "annotations.json", data)
    annotations = load_annotations(
        root / "annotations.json", allow_unverified=True, cache_dir=root / "cache"
    )
    image_ids = [int(image_id) for image_id in annotations.image_ids]
    tar = str(make_val_tar(root / "val.tar", image_ids)) if with_images else None
    return build.build_dataset(root / "built", annotations, images=tar), annotations


@pytest.fixture(scope="module")
def built_with_images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Annotations]:
    """Built once for both splits' tests: the build is the slow part, and neither writes to it."""
    return built_dataset(tmp_path_factory.mktemp("built_with_images"), with_images=True)


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.slow
def test_the_images_config_of_a_built_dataset_is_an_image_source(split, built_with_images):
    output, annotations = built_with_images
    wanted = annotations.split_columns(split)["file_name"]
    for source in (
        choose.open_image_source(str(output), split=split),
        DatasetImageSource(hf_datasets._load_hub_dataset(str(output), split), "hub loader"),
    ):
        located = source.locate(wanted)
        for file_name, data in located:
            expected = make_jpeg(classes.image_id_from_file_name(file_name))
            assert data == expected  # the source's bytes, hence its pixels
            assert (pixels(data) == pixels(expected)).all()


def test_a_dataset_without_an_image_config_is_an_error_naming_its_configs(tmp_path):
    output, _ = built_dataset(tmp_path, with_images=False)
    with pytest.raises(ImageSourceError, match="no config .* has an Image column") as error:
        choose.open_image_source(str(output))
    assert "'labels' (file_name, image_id," in str(error.value)


# --- errors cross process boundaries -----------------------------------------------------------


def test_a_corrupt_image_in_a_dataloader_worker_raises_corrupt_image_error(tmp_path):
    corrupt_id = WANTED_IDS[2]
    tar = make_val_tar(tmp_path / "val.tar", SOURCE_IDS, {**SOURCE_IMAGES, corrupt_id: b"junk"})
    located = choose.open_image_source(str(tar)).locate(WANTED)
    loader = torch.utils.data.DataLoader(DecodedImages(located), batch_size=1, num_workers=2)
    with pytest.raises(CorruptImageError, match=file_name_from_image_id(corrupt_id)):
        list(loader)


def raised_by(action: Callable[[], object]) -> ImageSourceError:
    with pytest.raises(ImageSourceError) as error:
        action()
    return error.value


def test_every_error_rebuilds_from_its_message_and_pickles_with_its_data(tmp_path):
    folder = make_val_folder(tmp_path / "twice", [1], class_subfolders=True)
    (folder / "n00000000").mkdir()
    (folder / "n00000000" / file_name_from_image_id(1)).write_bytes(make_jpeg(1))
    source = choose.open_image_source(str(make_val_folder(tmp_path / "one", [1], False)))
    errors = [
        raised_by(lambda: source.locate([file_name_from_image_id(2)])),
        raised_by(lambda: choose.open_image_source(str(folder)).locate(WANTED)),
        raised_by(lambda: decode_image(b"junk", file_name_from_image_id(3))),
        raised_by(lambda: choose.open_image_source("not a source")),
    ]
    kinds = [type(error) for error in errors]
    assert kinds == [
        MissingImagesError,
        DuplicateImagesError,
        CorruptImageError,
        ImageSourceError,
    ]
    for error in errors:
        assert str(type(error)(str(error))) == str(error)  # how torch re-raises a worker's error
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and vars(copy) == vars(error)
        assert str(copy) == str(error)
    assert errors[0].missing == (file_name_from_image_id(2),)
    assert errors[2].file_names == (file_name_from_image_id(3),)


@pytest.mark.slow
def test_tar_indexing_and_the_up_front_check_show_progress(tmp_path, capsys):
    """Both can take minutes on the real 6.4 GB tar and 50,000 images: each shows a bar."""
    tar = choose.open_image_source(str(make_val_tar(tmp_path / "val.tar", range(1, 9))))
    located = tar.locate([file_name_from_image_id(i) for i in range(1, 9)])
    check_images(located)
    shown = capsys.readouterr().err
    assert "Indexing val.tar" in shown
    assert "Decoding images before the run" in shown and "/8 [" in shown

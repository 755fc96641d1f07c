"""Where ImageNet validation images come from: the official tar, a folder or a Hugging Face dataset.

``open_image_source(SOURCE, split=...)`` picks the kind of source from one user string:

1. ``hf://ORG/NAME`` (or ``hf://datasets/ORG/NAME``): a Hugging Face Hub dataset, always.
2. An existing file ending in ``.tar``: the official ``ILSVRC2012_img_val.tar``.
3. An existing directory:

   - ``save_to_disk`` output (``dataset_dict.json``, or ``state.json`` + ``dataset_info.json``):
     a Hugging Face dataset read with ``datasets.load_from_disk``;
   - a ``README.md`` whose YAML front matter declares ``configs:``: a Hugging Face dataset folder;
   - dataset files (``*.parquet``, ``*.arrow``, webdataset shards ``*.tar``) anywhere below it and
     no image files: a Hugging Face dataset folder;
   - image files (``*.JPEG``/``*.jpg``/``*.png``, any case) anywhere below it and no dataset
     files: a folder of validation images, flat or in class sub-folders (ImageFolder layout);
   - both dataset files and image files: an error (pass the tar file, or a directory holding one
     kind), because guessing would evaluate the wrong copy.
4. Anything else of the form ``ORG/NAME`` that is not an existing path: a Hub dataset id.

``split`` (default ``validation``) only means something for Hugging Face datasets; the tar and
folder hold the validation images only, so they accept no other split.

A Hugging Face dataset folder or Hub repo is read one split at a time: ``datasets.load_dataset(
PATH, split=...)`` downloads and prepares every split first (for ``ILSVRC/imagenet-1k`` that
includes well over 100 GB of train images), so the split's data files are resolved with
``datasets.load_dataset_builder`` and only they are loaded, with the config's own builder
(``parquet``, ``webdataset``, ``imagefolder``, ...). Of several configs the one with an ``Image``
column is used, preferring one named ``images``: this toolkit's own build has a default ``labels``
config without images and an ``images`` config.

Images are joined to labels by file name, never by position. Every source maps an image to the
canonical ``ILSVRC2012_val_%08d.JPEG`` with ``classes.file_name_from_any`` applied to the base
name of: the tar member name; the file name in a folder; for a Hugging Face row, the first of
the ``file_name`` column, the ``__key__`` column (webdataset) and the image's ``path`` that names
a validation image in at least one row. Entries that name no validation image are ignored, like
validation images nobody asked for; a name that occurs twice is an error.

The core operation is ``source.locate(wanted)``: it resolves every wanted file name before any
model runs and returns a picklable ``LocatedImages`` (``images[i] -> (file_name, bytes)``) that a
torch ``Dataset`` can wrap; files are opened lazily in whichever process reads them.

The tar is never extracted. Its index is one walk over the member headers
(``tarfile.open(path, "r:")`` reads a 512-byte header and seeks past the data of each member),
after which a member is one ``os.pread`` at its data offset. A 68-image subset therefore reads 68
members, and the builder's full pass (``locate`` of the labels' file names, sorted by image id like
the official tar's members) reads front to back without a separate streaming (``"r|"``) reader.
``os.pread`` needs no shared file position, so threads and forked DataLoader workers can share
one descriptor safely.

Every error class can be rebuilt from its message alone (the structured data are optional keyword
arguments, filled by the ``from_...`` factories): a torch DataLoader worker re-raises an error in
the main process as ``type(error)(message)``, and falls back to a bare ``RuntimeError`` when that
fails.
"""

from __future__ import annotations

import io
import os
import re
import struct
import tarfile
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, Generic, TypeVar

import datasets
import numpy as np
import pyarrow.compute as pc
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.metric.errors import SHOWN, ToolkitError, first_few, not_a_regular_file
from PIL import Image
from tqdm.auto import tqdm

DEFAULT_SPLIT = "validation"
IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png"})
DATASET_FILE_SUFFIXES = frozenset({".parquet", ".arrow", ".tar"})
IMAGES_CONFIG = "images"  # the config of images that ``dataset_script.build`` writes
# Columns that reveal a Hugging Face row's file name, in order of preference; then the image path.
ROW_NAME_COLUMNS = ("file_name", "__key__")
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_INDEX_BATCH_ROWS = 10_000
_EXPECTED_NAME = "ILSVRC2012_val_NNNNNNNN.JPEG"


class ImageSourceError(ToolkitError):
    """An image source cannot provide what was asked for."""


class MissingImagesError(ImageSourceError):
    """Wanted images that the source does not hold."""

    def __init__(self, message: str, *, missing: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.missing = tuple(missing)

    @classmethod
    def from_missing(
        cls,
        missing: Sequence[str],
        num_wanted: int,
        source: str,
        expected: str,
        found_instead: dict[str, str] | None = None,
    ) -> MissingImagesError:
        """``found_instead``: what the source holds under some missing names (not an image)."""
        instead = found_instead or {}
        shown = (f"{name} ({instead[name]})" if name in instead else name for name in missing)
        return cls(
            f"{len(missing)} of {num_wanted} wanted images are missing from {source} "
            f"(first: {first_few(shown)}); {expected}",
            missing=missing,
        )


class DuplicateImagesError(ImageSourceError):
    """A source holds the same validation image twice, so which one to use is ambiguous."""

    @classmethod
    def from_places(cls, places: dict[str, list[str]], source: str) -> DuplicateImagesError:
        shown = "; ".join(f"{name}: {first_few(where)}" for name, where in list(places.items())[:3])
        return cls(
            f"{len(places)} file names occur more than once in {source} (first: {shown}); "
            "expected each validation image once"
        )


class CorruptImageError(ImageSourceError):
    """Image bytes that do not decode."""

    def __init__(self, message: str, *, problems: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)  # (file name, reason)

    @classmethod
    def from_problems(
        cls, problems: Sequence[tuple[str, str]], num_checked: int = 1
    ) -> CorruptImageError:
        shown = first_few(f"{name} ({reason})" for name, reason in problems)
        count = "image does" if len(problems) == 1 else "images do"
        of = f" of {num_checked}" if num_checked > 1 else ""
        return cls(f"{len(problems)}{of} {count} not decode: {shown}", problems=problems)

    @property
    def file_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.problems)


# What decoding hostile bytes raises (Pillow's plugins use all of these); each means the image
# is unusable, never a bug, so it is reported as such with the image's name.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    Image.DecompressionBombError,
)
# Pixel modes and how they become RGB. The 8-bit modes convert as every ImageNet pipeline does;
# 16-bit grayscale is scaled (65535 is white: a plain convert clips it to mostly 255); alpha is
# composited over white, as transformers' convert_to_rgb does, instead of showing whatever colour
# the transparent pixels hold. 32-bit integer and float pixels have no defined white: refused.
_EIGHT_BIT_MODES = frozenset({"1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_SUPPORTED_MODES = _EIGHT_BIT_MODES | _ALPHA_MODES | _SIXTEEN_BIT_MODES
_WHITE = (255, 255, 255, 255)


@contextmanager
def _problem_of(file_name: str) -> Iterator[None]:
    """Turn what decoding raises into a ``CorruptImageError`` naming the image."""
    try:
        yield
    except _DECODE_ERRORS as exc:
        raise CorruptImageError.from_problems(
            [(file_name, f"{type(exc).__name__}: {exc}")]
        ) from exc


def check_image_header(data: bytes, file_name: str) -> None:
    """Read what the header says (format, size, pixel mode) without decoding the pixels: an
    empty or foreign file, a decompression bomb or an unsupported mode fails here; bytes cut
    short after the header only fail a full ``decode_image``."""
    with _problem_of(file_name), Image.open(io.BytesIO(data)) as image:
        _check_mode(image)


def decode_image(data: bytes, file_name: str) -> Image.Image:
    """Decode to RGB whatever the bytes hold: ImageNet has CMYK, grayscale and a PNG named
    .JPEG; other files may hold 16-bit, palette or transparent images (see ``_to_rgb``)."""
    with _problem_of(file_name), Image.open(io.BytesIO(data)) as image:
        _check_mode(image)
        image.load()
        return _to_rgb(image)  # a copy, so it outlives the closed file


def _check_mode(image: Image.Image) -> None:
    if image.mode not in _SUPPORTED_MODES:
        raise ValueError(
            f"pixel mode {image.mode!r} has no defined conversion to RGB (32-bit integer and "
            "float pixels have no defined white); expected an 8- or 16-bit grayscale, RGB, "
            "CMYK or palette image"
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    """An RGB copy of a decoded image of a supported mode (the table above says how)."""
    if image.mode in _SIXTEEN_BIT_MODES:
        levels = np.asarray(image, dtype=np.float64) / 257  # 0..65535 onto 0..255
        return Image.fromarray(np.rint(levels).astype(np.uint8)).convert("RGB")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", image.size, _WHITE), rgba).convert("RGB")
    return image.convert("RGB")


class LocatedImages(ABC):
    """Wanted images resolved against a source: ``images[i] -> (file_name, encoded bytes)``.

    Picklable and cheap to pickle (names and locations only), so DataLoader workers get a copy
    and open their own files on first read.
    """

    def __init__(self, file_names: Sequence[str], source: str) -> None:
        self.file_names = tuple(file_names)
        self.source = source

    def __len__(self) -> int:
        return len(self.file_names)

    def __getitem__(self, index: int) -> tuple[str, bytes]:
        return self.file_names[index], self._read(index)

    @abstractmethod
    def _read(self, index: int) -> bytes: ...


class _TarImages(LocatedImages):
    def __init__(
        self,
        file_names: Sequence[str],
        source: str,
        path: str,
        spans: Sequence[tuple[int, int]],
    ) -> None:
        super().__init__(file_names, source)
        self._path = path
        self._spans = tuple(spans)
        self._file: io.FileIO | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None}  # each process opens its own handle

    def _read(self, index: int) -> bytes:
        file = self._file  # a local reference keeps it open while this thread reads
        if file is None:
            # Kept open across reads; closed when this object goes.
            file = self._file = open(self._path, "rb", buffering=0)  # noqa: SIM115
        offset, size = self._spans[index]
        data = os.pread(file.fileno(), size, offset)
        if len(data) != size:
            raise ImageSourceError(
                f"{self.source} ended early: {self.file_names[index]} needs {size} bytes at offset "
                f"{offset}, got {len(data)}; the file changed since it was indexed"
            )
        return data


class _FolderImages(LocatedImages):
    def __init__(self, file_names: Sequence[str], source: str, paths: Sequence[str]) -> None:
        super().__init__(file_names, source)
        self._paths = tuple(paths)

    def _read(self, index: int) -> bytes:
        return _read_file(self._paths[index], self.file_names[index])


class _DatasetImages(LocatedImages):
    def __init__(
        self,
        file_names: Sequence[str],
        source: str,
        dataset: datasets.Dataset,
        image_column: str,
        rows: Sequence[int],
    ) -> None:
        super().__init__(file_names, source)
        self._dataset = dataset  # image column only, decode=False; pickles as file references
        self._image_column = image_column
        self._rows = tuple(rows)

    def _read(self, index: int) -> bytes:
        image = self._dataset[self._rows[index]][self._image_column]
        if image["bytes"] is not None:
            return image["bytes"]
        if image["path"]:  # e.g. a local imagefolder keeps paths, not bytes
            return _read_file(image["path"], self.file_names[index])
        raise ImageSourceError(
            f"{self.source}: row {self._rows[index]} ({self.file_names[index]}) has neither image "
            "bytes nor a path"
        )


def _read_file(path: str, file_name: str) -> bytes:
    """The bytes of an image file; one that cannot be read (no permission, removed since it was
    indexed) is a problem of that image, listed like one that does not decode."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise CorruptImageError.from_problems(
            [(file_name, f"cannot be read: {type(exc).__name__}: {exc}")]
        ) from exc


Location = TypeVar("Location")


class ImageSource(ABC, Generic[Location]):
    """A place holding ImageNet validation images, indexed once by canonical file name."""

    description: str  # names the source in messages, e.g. "tar file /data/ILSVRC2012_img_val.tar"
    expected: str  # what the source should contain, for messages about missing images

    def locate(self, wanted: Sequence[str]) -> LocatedImages:
        """Resolve every wanted file name, in the given order; raise if any is missing."""
        names = _checked_wanted(wanted, self.description)
        index = self._index
        missing = [name for name in names if name not in index]
        if missing:
            raise MissingImagesError.from_missing(
                missing, len(names), self.description, self.expected, self._not_images()
            )
        return self._located(names, [index[name] for name in names])

    def _not_images(self) -> dict[str, str]:
        """File name -> what the source holds under it instead of an image, for messages."""
        return {}

    @cached_property
    def _index(self) -> dict[str, Location]:
        """Canonical file name -> where its bytes are."""
        return self._build_index()

    @abstractmethod
    def _build_index(self) -> dict[str, Location]: ...

    @abstractmethod
    def _located(self, names: list[str], locations: list[Location]) -> LocatedImages: ...


def _checked_wanted(wanted: Sequence[str], source: str) -> list[str]:
    names = list(wanted)
    invalid = []
    for name in names:
        try:
            classes.image_id_from_file_name(name)
        except ValueError:
            invalid.append(repr(name))
    if invalid:
        raise ImageSourceError(
            f"{len(invalid)} of {len(names)} wanted names for {source} are not validation file "
            f"names (first: {first_few(invalid)}); expected {_EXPECTED_NAME}"
        )
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise ImageSourceError(
            f"{len(repeated)} wanted names for {source} occur more than once "
            f"(first: {first_few(repeated)}); expected each file name once"
        )
    return names


def _index_or_raise(named: Sequence[tuple[str, Location, str]], source: str) -> dict[str, Location]:
    """Index ``(file_name, location, where)`` triples; a name found twice is an error."""
    locations: dict[str, Location] = {}
    places: dict[str, list[str]] = {}
    for name, location, where in named:
        places.setdefault(name, []).append(where)
        locations[name] = location
    duplicates = {name: where for name, where in places.items() if len(where) > 1}
    if duplicates:
        raise DuplicateImagesError.from_places(duplicates, source)
    return locations


class TarImageSource(ImageSource[tuple[int, int]]):
    """The official ``ILSVRC2012_img_val.tar``, read in place by member offsets."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.description = f"tar file {self.path}"
        self.expected = f"expected members named {_EXPECTED_NAME}"
        if not self.path.is_file():
            raise ImageSourceError(f"{self.description} does not exist or is not a file")

    def _build_index(self) -> dict[str, tuple[int, int]]:
        named = []
        try:
            with (
                tarfile.open(self.path, "r:") as tar,
                tqdm(
                    total=self.path.stat().st_size,
                    unit="B",
                    unit_scale=True,
                    desc=f"Indexing {self.path.name}",
                    leave=False,
                ) as progress,
            ):
                for member in tar:
                    progress.update(tar.offset - progress.n)
                    if not member.isfile():
                        continue
                    name = classes.file_name_from_any(member.name.rsplit("/", 1)[-1])
                    if name is not None:
                        named.append((name, (member.offset_data, member.size), member.name))
        except tarfile.TarError as exc:
            raise ImageSourceError(
                f"{self.description} is not a readable uncompressed tar archive: {exc}"
            ) from exc
        return _index_or_raise(named, self.description)

    def _located(self, names: list[str], locations: list[tuple[int, int]]) -> LocatedImages:
        return _TarImages(names, self.description, str(self.path), locations)


class FolderImageSource(ImageSource[str]):
    """Validation images in a folder, flat or in class sub-folders (torchvision ImageFolder)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.description = f"image folder {self.path}"
        self.expected = (
            f"expected files named {_EXPECTED_NAME}, directly in the folder or in class sub-folders"
        )
        if not self.path.is_dir():
            raise ImageSourceError(f"{self.description} does not exist or is not a directory")

    def _build_index(self) -> dict[str, str]:
        """Regular files only: reading a FIFO named .JPEG would block forever, a broken link
        fails; such entries are kept aside and reported like missing images."""
        image_files = sorted(
            path for path in _walk_files(self.path) if path.suffix.lower() in IMAGE_SUFFIXES
        )
        named = []
        self._non_images: dict[str, str] = {}
        for path in image_files:
            name = classes.file_name_from_any(path.name)
            if name is None:
                continue
            where = str(path.relative_to(self.path))
            what = not_a_regular_file(path)
            if what is None:
                named.append((name, str(path), where))
            else:
                self._non_images[name] = f"{where} {what}"
        return _index_or_raise(named, self.description)

    def _not_images(self) -> dict[str, str]:
        return self._non_images

    def _located(self, names: list[str], locations: list[str]) -> LocatedImages:
        return _FolderImages(names, self.description, locations)


def _walk_files(root: Path) -> Iterator[Path]:
    """Every file below ``root``, following symlinked class folders."""
    for directory, _, file_names in os.walk(root, followlinks=True):
        for file_name in file_names:
            yield Path(directory, file_name)


class DatasetImageSource(ImageSource[int]):
    """Rows of a Hugging Face ``datasets.Dataset`` with an image column, indexed by file name."""

    def __init__(self, dataset: datasets.Dataset, description: str) -> None:
        self.description = description
        self.image_column = _image_column(dataset, description)
        self.dataset = dataset
        self.expected = (
            f"expected rows whose {' or '.join(ROW_NAME_COLUMNS)} column or image path "
            f"names {_EXPECTED_NAME}"
        )

    def _build_index(self) -> dict[str, int]:
        candidates = [c for c in ROW_NAME_COLUMNS if c in self.dataset.column_names]
        for column in [*candidates, self.image_column]:
            names = self._row_names(column)
            if any(name is not None for name in names):
                named = [
                    (name, row, f"row {row}") for row, name in enumerate(names) if name is not None
                ]
                return _index_or_raise(named, self.description)
        looked_at = [*candidates, f"{self.image_column}.path"]
        raise ImageSourceError(
            f"no row of {self.description} reveals a validation file name: looked at "
            f"{', '.join(looked_at)} (columns: {first_few(self.dataset.column_names, shown=20)}); "
            "expected "
            f"a 'file_name' column, a webdataset '__key__' or an image path containing "
            f"ILSVRC2012_val_NNNNNNNN"
        )

    def _row_names(self, column: str) -> list[str | None]:
        """Canonical file name per row from ``column`` (the image column: its ``path``)."""
        arrow = self.dataset.select_columns([column]).with_format("arrow")
        names: list[str | None] = []
        for batch in arrow.iter(batch_size=_INDEX_BATCH_ROWS):
            values = batch.column(column)
            if column == self.image_column:
                values = pc.struct_field(values, "path")  # leaves the image bytes untouched
            for value in values.to_pylist():
                base_name = str(value).replace("\\", "/").rsplit("/", 1)[-1] if value else ""
                names.append(classes.file_name_from_any(base_name))
        return names

    def _located(self, names: list[str], locations: list[int]) -> LocatedImages:
        images_only = self.dataset.select_columns([self.image_column]).cast_column(
            self.image_column, datasets.Image(decode=False)
        )
        return _DatasetImages(names, self.description, images_only, self.image_column, locations)


def _image_column(dataset: datasets.Dataset, description: str) -> str:
    """The one ``Image`` column; ``image`` wins when there are several."""
    image_columns = [
        name for name, feature in dataset.features.items() if isinstance(feature, datasets.Image)
    ]
    if len(image_columns) == 1:
        return image_columns[0]
    if "image" in image_columns:
        return "image"
    found = first_few(
        (f"{name} ({type(feature).__name__})" for name, feature in dataset.features.items()),
        shown=20,
    )
    raise ImageSourceError(
        f"{description} has {len(image_columns)} Image columns ({first_few(image_columns)}); "
        f"columns found: {found}; expected exactly one Image column, or one named 'image'"
    )


def _has_image(features: datasets.Features | None) -> bool:
    return features is not None and any(
        isinstance(feature, datasets.Image) for feature in features.values()
    )


def _image_builder(path: str) -> datasets.DatasetBuilder:
    """The builder of the config that holds the images, of a Hub repo or a local folder.

    The default config need not be it (this toolkit's own default is ``labels``). Configs whose
    features are known and lack an ``Image`` are passed over; of the rest, one with a known
    ``Image`` first, then the one named ``images``, then the default, then the declared order.
    """
    names = datasets.get_dataset_config_names(path)
    builders = [datasets.load_dataset_builder(path, name) for name in names]
    default = builders[0].DEFAULT_CONFIG_NAME
    candidates = [
        builder
        for builder in builders
        if builder.info.features is None or _has_image(builder.info.features)
    ]
    if not candidates:
        found = "; ".join(
            f"{builder.config.name!r} ({first_few(builder.info.features, shown=20)})"
            for builder in builders[:SHOWN]
        ) + ("; ..." if len(builders) > SHOWN else "")
        raise ImageSourceError(
            f"no config of {path} has an Image column: {found}; expected a dataset of images, "
            f"such as the {IMAGES_CONFIG!r} config that dataset_script builds with --images"
        )
    return min(
        candidates,
        key=lambda builder: (
            not _has_image(builder.info.features),
            builder.config.name != IMAGES_CONFIG,
            builder.config.name != default,
        ),
    )


def _load_split(path: str, split: str) -> datasets.Dataset:
    """One split of a Hub repo or local dataset folder, reading only that split's data files.

    ``datasets.load_dataset(path, split=split)`` prepares every split first, so the split's files
    are resolved from the image config and loaded alone with the same builder and features.
    """
    builder = _image_builder(path)
    data_files = {
        str(name): list(files) for name, files in (builder.config.data_files or {}).items()
    }
    if split not in data_files:
        raise ImageSourceError(
            f"config {builder.config.name!r} of {path} has no split {split!r}; splits: "
            f"{', '.join(data_files) or 'none'}"
        )
    return datasets.load_dataset(
        builder.name,
        data_files={split: data_files[split]},
        split=split,
        features=builder.info.features,
    )


def _load_hub_dataset(repo_id: str, split: str) -> datasets.Dataset:
    """The only call that reaches the Hugging Face Hub (tests replace it)."""
    return _load_split(repo_id, split)


def _is_saved_to_disk(directory: Path) -> bool:
    return (directory / "dataset_dict.json").is_file() or (
        (directory / "state.json").is_file() and (directory / "dataset_info.json").is_file()
    )


def _load_local_dataset(directory: Path, split: str) -> datasets.Dataset:
    if not _is_saved_to_disk(directory):
        return _load_split(str(directory), split)
    saved = datasets.load_from_disk(str(directory))
    if isinstance(saved, datasets.Dataset):
        return saved  # a single saved split, whatever its name
    if split not in saved:
        raise ImageSourceError(
            f"saved dataset {directory} has no split {split!r}; splits: {', '.join(saved)}"
        )
    return saved[split]


Where = TypeVar("Where")


def _load_or_raise(
    load: Callable[[Where, str], datasets.Dataset], where: Where, split: str
) -> datasets.Dataset:
    """Run a loader, naming the source and split in any error it raises."""
    try:
        return load(where, split)
    except ImageSourceError:
        raise
    except (OSError, ValueError) as exc:
        raise ImageSourceError(f"cannot load split {split!r} of {where}: {exc}") from exc


def _hub_id(source: str) -> str | None:
    """The Hub id named by ``hf://[datasets/]ORG/NAME`` or ``ORG/NAME``, else None."""
    repo_id = source.removeprefix("hf://")
    if repo_id != source:
        repo_id = repo_id.removeprefix("datasets/")
    return repo_id if _HUB_ID.fullmatch(repo_id) else None


def _readme_declares_configs(readme: Path) -> bool:
    """Whether the README's YAML front matter (between ``---`` lines) has a ``configs:`` key."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].strip() != "---":
        return False
    for line in lines[1:]:
        if line.strip() == "---":
            return False
        if line.startswith("configs:"):
            return True
    return False


def _directory_is_dataset(directory: Path) -> bool:
    """Hugging Face dataset (True) or folder of images (False), by the module docstring's rules."""
    if _is_saved_to_disk(directory):
        return True
    readme = directory / "README.md"
    if readme.is_file() and _readme_declares_configs(readme):
        return True
    suffixes = {path.suffix.lower() for path in _walk_files(directory)}
    has_dataset_files = bool(suffixes & DATASET_FILE_SUFFIXES)
    has_images = bool(suffixes & IMAGE_SUFFIXES)
    if has_dataset_files and has_images:
        raise ImageSourceError(
            f"directory {directory} holds both dataset files (parquet/arrow/tar) and image files; "
            "expected one kind: pass the .tar file itself, or a directory with only images or "
            "only dataset files"
        )
    if not has_dataset_files and not has_images:
        raise ImageSourceError(
            f"directory {directory} holds neither image files ({', '.join(sorted(IMAGE_SUFFIXES))})"
            " nor dataset files (parquet, arrow, webdataset .tar shards, README.md with configs)"
        )
    return has_dataset_files


def open_image_source(source: str, *, split: str | None = None) -> ImageSource[Any]:
    """The image source named by ``source`` (rules in the module docstring)."""
    path = Path(source)
    hub_id = _hub_id(source)
    is_local = not source.startswith("hf://") and (path.exists() or path.suffix.lower() == ".tar")
    if not is_local and hub_id is not None:
        split = split or DEFAULT_SPLIT
        dataset = _load_or_raise(_load_hub_dataset, hub_id, split)
        return DatasetImageSource(dataset, f"Hugging Face dataset {hub_id!r} split {split!r}")
    if path.is_dir() and _directory_is_dataset(path):
        split = split or DEFAULT_SPLIT
        dataset = _load_or_raise(_load_local_dataset, path, split)
        return DatasetImageSource(dataset, f"local Hugging Face dataset {path} split {split!r}")
    if is_local and split not in (None, DEFAULT_SPLIT):
        raise ImageSourceError(
            f"split {split!r} was given for {source!r}, which holds validation images only; "
            "splits apply to Hugging Face datasets"
        )
    if path.is_dir():
        return FolderImageSource(path)
    if is_local and path.suffix.lower() == ".tar":
        return TarImageSource(path)
    raise ImageSourceError(
        f"image source {source!r} is neither an existing .tar file, a directory of images or of "
        "dataset files, nor a Hugging Face dataset id ORG/NAME (or hf://ORG/NAME)"
    )


def check_images(
    images: LocatedImages, *, full_decode: bool = True, num_threads: int | None = None
) -> None:
    """Fully decode every image; raise one ``CorruptImageError`` listing every failure.

    A full decode, not ``Image.verify()``: for JPEG, Pillow's verify checks almost nothing
    (a truncated file passes), and only decoding with ``decode_image`` proves that the evaluation
    will decode the image. Pillow releases the GIL while decoding, so threads parallelise it.
    ``full_decode=False`` reads every image but checks only its header (``check_image_header``),
    for a caller that decodes each image later anyway and collects the failures itself.
    """
    check = decode_image if full_decode else check_image_header

    def problem(index: int) -> tuple[str, str] | None:
        try:
            file_name, data = images[index]
            check(data, file_name)
        except CorruptImageError as exc:
            return exc.problems[0]
        return None

    workers = num_threads or min(8, os.cpu_count() or 1)
    what = "Decoding" if full_decode else "Checking"
    with ThreadPoolExecutor(max_workers=workers) as pool:
        checked = tqdm(
            pool.map(problem, range(len(images))),
            total=len(images),
            unit="img",
            desc=f"{what} images before the run",
            leave=False,
        )
        problems = [found for found in checked if found]
    if problems:
        raise CorruptImageError.from_problems(problems, num_checked=len(images))

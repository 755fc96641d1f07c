"""Images from a Hugging Face dataset: a Hub repo, a local dataset folder, ``save_to_disk`` output.

A Hugging Face dataset folder or Hub repo is read one split at a time: ``datasets.load_dataset(
PATH, split=...)`` downloads and prepares every split first (for ``ILSVRC/imagenet-1k`` that
includes well over 100 GB of train images), so the split's data files are resolved with
``datasets.load_dataset_builder`` and only they are loaded, with the config's own builder
(``parquet``, ``webdataset``, ``imagefolder``, ...). Of several configs the one with an ``Image``
column is used, preferring one named ``images``: this toolkit's own build has a default ``labels``
config without images and an ``images`` config.

A row's file name is the first of the ``file_name`` column, the ``__key__`` column (webdataset)
and the image's ``path`` that names a validation image in at least one row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import datasets
import pyarrow.compute as pc

from ...metric.errors import SHOWN, first_few
from .. import classes
from .choose import is_saved_to_disk
from .errors import ImageSourceError
from .source import EXPECTED_NAME, ImageSource, LocatedImages, index_or_raise, read_file

IMAGES_CONFIG = "images"  # the config of images that ``dataset_script.build`` writes
# Columns that reveal a Hugging Face row's file name, in order of preference; then the image path.
ROW_NAME_COLUMNS = ("file_name", "__key__")
_INDEX_BATCH_ROWS = 10_000


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
            return read_file(image["path"], self.file_names[index])
        raise ImageSourceError(
            f"{self.source}: row {self._rows[index]} ({self.file_names[index]}) has neither image "
            "bytes nor a path"
        )


class DatasetImageSource(ImageSource[int]):
    """Rows of a Hugging Face ``datasets.Dataset`` with an image column, indexed by file name."""

    def __init__(self, dataset: datasets.Dataset, description: str) -> None:
        self.description = description
        self.image_column = _image_column(dataset, description)
        self.dataset = dataset
        self.expected = (
            f"expected rows whose {' or '.join(ROW_NAME_COLUMNS)} column or image path "
            f"names {EXPECTED_NAME}"
        )

    def _build_index(self) -> dict[str, int]:
        candidates = [c for c in ROW_NAME_COLUMNS if c in self.dataset.column_names]
        for column in [*candidates, self.image_column]:
            names = self._row_names(column)
            if any(name is not None for name in names):
                named = [
                    (name, row, f"row {row}") for row, name in enumerate(names) if name is not None
                ]
                return index_or_raise(named, self.description)
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


def _load_local_dataset(directory: Path, split: str) -> datasets.Dataset:
    if not is_saved_to_disk(directory):
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


def hub_dataset_source(repo_id: str, split: str) -> DatasetImageSource:
    """One split of the Hub dataset ``repo_id``."""
    dataset = _load_or_raise(_load_hub_dataset, repo_id, split)
    return DatasetImageSource(dataset, f"Hugging Face dataset {repo_id!r} split {split!r}")


def local_dataset_source(directory: Path, split: str) -> DatasetImageSource:
    """One split of a local dataset folder or ``save_to_disk`` output."""
    dataset = _load_or_raise(_load_local_dataset, directory, split)
    return DatasetImageSource(dataset, f"local Hugging Face dataset {directory} split {split!r}")

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

Images are joined to labels by file name, never by position. Every source maps an image to the
canonical ``ILSVRC2012_val_%08d.JPEG`` with ``classes.file_name_from_any`` applied to the base
name of: the tar member name; the file name in a folder; for a Hugging Face row, the first of
the ``file_name`` column, the ``__key__`` column (webdataset) and the image's ``path`` that names
a validation image in at least one row. Entries that name no validation image are ignored, like
validation images nobody asked for; a name that occurs twice is an error.

Each kind of source has its module: ``image_files`` (tar, folder), ``image_datasets`` (Hugging
Face), all built on ``image_source`` (``locate`` and ``LocatedImages``); decoding and the
up-front check are ``image_decode``'s, the errors ``image_errors``'.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...metric.errors import ToolkitError, brief_repr, named
from .errors import ImageSourceError
from .files import IMAGE_SUFFIXES, FolderImageSource, TarImageSource, walk_files
from .source import ImageSource

DEFAULT_SPLIT = "validation"
# What an image source argument may be, for messages.
IMAGE_SOURCES = "ILSVRC2012_img_val.tar, a folder of images or a Hugging Face dataset"
DATASET_FILE_SUFFIXES = frozenset({".parquet", ".arrow", ".tar"})
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def is_saved_to_disk(directory: Path) -> bool:
    """Whether ``directory`` is ``datasets``' ``save_to_disk`` output (a dict of splits, or one)."""
    return (directory / "dataset_dict.json").is_file() or (
        (directory / "state.json").is_file() and (directory / "dataset_info.json").is_file()
    )


def _hub_id(source: str) -> str | None:
    """The Hub id named by ``hf://[datasets/]ORG/NAME`` or ``ORG/NAME``, else None."""
    repo_id = source.removeprefix("hf://")
    if repo_id != source:
        repo_id = repo_id.removeprefix("datasets/")
    return repo_id if _HUB_ID.fullmatch(repo_id) else None


def hub_dataset_id(source: str) -> str | None:
    """The Hub dataset ``source`` is read as, or None (a path): ``hf://`` always names one;
    ``ORG/NAME`` does when nothing is on disk there and it is no .tar file's name."""
    if not source.startswith("hf://") and _on_disk(source):
        return None
    return _hub_id(source)


def _on_disk(source: str) -> bool:
    """A local path: something is there, or it names a .tar file (missing: an error)."""
    return Path(source).exists() or Path(source).suffix.lower() == ".tar"


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
    if is_saved_to_disk(directory):
        return True
    readme = directory / "README.md"
    if readme.is_file() and _readme_declares_configs(readme):
        return True
    suffixes = {path.suffix.lower() for path in walk_files(directory)}
    has_dataset_files = bool(suffixes & DATASET_FILE_SUFFIXES)
    has_images = bool(suffixes & IMAGE_SUFFIXES)
    if has_dataset_files and has_images:
        raise ImageSourceError(
            f"{named('images')} {brief_repr(str(directory))} holds both dataset files "
            "(parquet/arrow/tar) and image files; expected one kind: pass the .tar file itself, or "
            "a directory with only images or only dataset files"
        )
    if not has_dataset_files and not has_images:
        raise ImageSourceError(
            f"{named('images')} {brief_repr(str(directory))} holds neither image files "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}) nor dataset files (parquet, arrow, webdataset "
            ".tar shards, README.md with configs); expected {IMAGE_SOURCES}"
        )
    return has_dataset_files


def open_image_source(source: str, *, split: str | None = None) -> ImageSource[Any]:
    """The image source named by ``source`` (rules in the module docstring). Every command
    passes its ``images`` (and ``images_split``) here, so the errors name them as its caller
    wrote them (``--images`` on the command line)."""
    path = Path(source)
    hub_id = hub_dataset_id(source)
    is_local = not source.startswith("hf://") and _on_disk(source)
    if hub_id is not None:
        from .hf_datasets import hub_dataset_source

        split = split or DEFAULT_SPLIT
        return hub_dataset_source(hub_id, split)
    if path.is_dir() and _directory_is_dataset(path):
        # `datasets` (half a second to import) only for the sources that need it
        from .hf_datasets import local_dataset_source

        split = split or DEFAULT_SPLIT
        return local_dataset_source(path, split)
    if is_local and split not in (None, DEFAULT_SPLIT):
        raise ImageSourceError(
            f"{named('images_split', split)} was given for {named('images')} {brief_repr(source)}, "
            "which holds validation images only; splits apply to Hugging Face datasets"
        )
    if path.is_dir():
        return FolderImageSource(path)
    if is_local and path.suffix.lower() == ".tar":
        return TarImageSource(path)
    raise ImageSourceError(
        f"{named('images')} {brief_repr(source)} is neither an existing .tar file, a directory of "
        "images or of dataset files, nor a Hugging Face dataset id ORG/NAME (or hf://ORG/NAME)"
    )


@dataclass(frozen=True)
class ImageOptions:
    """The image options of a command that may show or store images (`analyze`, `compare`,
    `build`), and the rule between them: ``images_split`` and ``full_image_check`` apply to
    ``images`` only, and given without it would be silently ignored."""

    images: str | os.PathLike | None = None
    images_split: str | None = None
    full_image_check: bool = False

    def __post_init__(self) -> None:
        if self.images is None:
            for name in ("images_split", "full_image_check"):
                if getattr(self, name) not in (None, False):
                    raise ToolkitError(f"{named(name)} needs {named('images', 'SOURCE')}")

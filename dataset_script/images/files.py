"""Image sources on the local disk: the official tar, read in place, and a folder of images.

The tar is never extracted. Its index is one walk over the member headers
(``tarfile.open(path, "r:")`` reads a 512-byte header and seeks past the data of each member),
after which a member is one ``os.pread`` at its data offset. A 68-image subset therefore reads 68
members, and the builder's full pass (``locate`` of the labels' file names, sorted by image id like
the official tar's members) reads front to back without a separate streaming (``"r|"``) reader.
``os.pread`` needs no shared file position, so threads and forked DataLoader workers can share
one descriptor safely.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ...metric.errors import not_a_regular_file
from .. import classes
from .errors import ImageSourceError
from .source import EXPECTED_NAME, ImageSource, LocatedImages, index_or_raise, read_file

IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png"})


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
        return read_file(self._paths[index], self.file_names[index])


class TarImageSource(ImageSource[tuple[int, int]]):
    """The official ``ILSVRC2012_img_val.tar``, read in place by member offsets."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.description = f"tar file {self.path}"
        self.expected = f"expected members named {EXPECTED_NAME}"
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
        return index_or_raise(named, self.description)

    def _located(self, names: list[str], locations: list[tuple[int, int]]) -> LocatedImages:
        return _TarImages(names, self.description, str(self.path), locations)


class FolderImageSource(ImageSource[str]):
    """Validation images in a folder, flat or in class sub-folders (torchvision ImageFolder)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.description = f"image folder {self.path}"
        self.expected = (
            f"expected files named {EXPECTED_NAME}, directly in the folder or in class sub-folders"
        )
        if not self.path.is_dir():
            raise ImageSourceError(f"{self.description} does not exist or is not a directory")

    def _build_index(self) -> dict[str, str]:
        """Regular files only: reading a FIFO named .JPEG would block forever, a broken link
        fails; such entries are kept aside and reported like missing images."""
        image_files = sorted(
            path for path in walk_files(self.path) if path.suffix.lower() in IMAGE_SUFFIXES
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
        return index_or_raise(named, self.description)

    def _not_images(self) -> dict[str, str]:
        return self._non_images

    def _located(self, names: list[str], locations: list[str]) -> LocatedImages:
        return _FolderImages(names, self.description, locations)


def walk_files(root: Path) -> Iterator[Path]:
    """Every file below ``root``, following symlinked class folders."""
    for directory, _, file_names in os.walk(root, followlinks=True):
        for file_name in file_names:
            yield Path(directory, file_name)

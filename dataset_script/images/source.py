"""What every image source is: ``ImageSource.locate(wanted)`` -> ``LocatedImages``.

``locate`` resolves every wanted file name before any model runs and returns a picklable
``LocatedImages`` (``images[i] -> (file_name, bytes)``) that a torch ``Dataset`` can wrap; files
are opened lazily in whichever process reads them. A source indexes itself once, by canonical
file name; a name found twice is an error, because which copy to evaluate would be a guess.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from functools import cached_property
from typing import Generic, TypeVar

from ...metric.errors import first_few
from .. import classes
from .errors import CorruptImageError, DuplicateImagesError, ImageSourceError, MissingImagesError

EXPECTED_NAME = "ILSVRC2012_val_NNNNNNNN.JPEG"


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


def read_file(path: str, file_name: str) -> bytes:
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
            f"names (first: {first_few(invalid)}); expected {EXPECTED_NAME}"
        )
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise ImageSourceError(
            f"{len(repeated)} wanted names for {source} occur more than once "
            f"(first: {first_few(repeated)}); expected each file name once"
        )
    return names


def index_or_raise(named: Sequence[tuple[str, Location, str]], source: str) -> dict[str, Location]:
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

"""The errors of the image sources, so that a caller can tell missing, duplicate and corrupt
images apart and list every image concerned.

Every error class can be rebuilt from its message alone (the structured data are optional keyword
arguments, filled by the ``from_...`` factories): a torch DataLoader worker re-raises an error in
the main process as ``type(error)(message)``, and falls back to a bare ``RuntimeError`` when that
fails.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...metric.errors import ToolkitError, first_few


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

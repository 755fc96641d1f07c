"""Images decoded once per machine (``--decoded-cache DIR``), read by every model and every sweep
process there.

Decoding the 50,000 JPEGs costs more CPU than a small model's forward pass, and a sweep would
pay it once per geometry group and per shard. The cache holds each wanted image's RGB pixels as
the run's own decoder gives them (`decode_image`: PIL, libjpeg-turbo, every pixel mode converted
as the run converts it), uint8 height x width x 3, packed into memory-mapped shard files of at
most ``SHARD_BYTES``, and ``index.json``: per image its shard, offset, size, the fingerprint of
the bytes it was decoded from, whether those bytes held RGB pixels (the device path finishes
other modes on the CPU, as without the cache) and its decode problem.

It is keyed by the decoder (Pillow and libjpeg-turbo versions) and the image source's
fingerprint (every wanted image's byte fingerprint): each launch fingerprints the images it
wants (reading them, never decoding) and uses the cache only if it holds exactly those bytes,
decoded by this decoder; anything else (other images, another decoder, a truncated shard, an
unreadable index) is one error saying what to remove. Builders take ``.build.lock`` (a second
one waits, then reads what the first built) and build it with `decoded_cache_build`, which says
the size before writing, refuses when the disk lacks it, reserves the space up front, and leaves
no shard behind when it fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os
import socket
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...dataset_script.images.errors import CorruptImageError
from ...dataset_script.images.source import LocatedImages
from ...dataset_script.json_input import read_json
from ...metric.errors import first_few, shorten
from .. import outputs
from .decoded_cache_build import (
    FORMAT,
    INDEX_COLUMNS,
    INDEX_FILE,
    DecodedCacheError,
    build_cache,
    decoder_label,
    each_image,
)
from .fingerprint import ImageFingerprint

BUILD_LOCK = ".build.lock"


def source_fingerprint(file_names: Sequence[str], fingerprints: Sequence[ImageFingerprint]) -> str:
    """One sha256 over every image's name and byte fingerprint: the images the cache holds."""
    digest = hashlib.sha256()
    for name, fingerprint in zip(file_names, fingerprints, strict=True):
        digest.update(f"{name} {fingerprint.num_bytes} {fingerprint.blake2b}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class DecodedCache:
    """An opened cache: its folder and index (file name -> row of ``INDEX_COLUMNS``)."""

    directory: Path
    rows: dict[str, tuple]
    shard_files: tuple[str, ...]

    def for_images(self, images: LocatedImages) -> DecodedImages:
        """The cached pixels of ``images`` (all of them cached), position by position."""
        return DecodedImages(
            self.directory, self.shard_files, [self.rows[name] for name in images.file_names]
        )

    def check_headers(self, file_names: Sequence[str]) -> None:
        """What `check_images` (headers only) says of these images, from the build's own check
        of every header: the same refusal before a model runs as without the cache."""
        problems = [(name, self.rows[name][7]) for name in file_names if self.rows[name][8]]
        if problems:
            raise CorruptImageError.from_problems(problems, num_checked=len(file_names))


class DecodedImages:
    """``read(i)`` -> the i-th image's pixels (a read-only HxWx3 uint8 view of the shard, or
    None when it failed to decode), its fingerprint as two ints, whether its bytes held RGB
    pixels, and its problem. Picklable: each DataLoader worker maps the shards itself."""

    def __init__(self, directory: Path, shard_files: Sequence[str], rows: Sequence[tuple]):
        self.directory, self.shard_files, self.rows = directory, tuple(shard_files), list(rows)
        self._maps: dict[int, mmap.mmap] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_maps": {}}

    def read(self, index: int) -> tuple[np.ndarray | None, tuple[int, int], bool, str]:
        shard, offset, height, width, num_bytes, blake2b, rgb, problem, _ = self.rows[index]
        fingerprint = ImageFingerprint(num_bytes, blake2b).as_ints() if not problem else (0, 0)
        if problem:
            return None, fingerprint, rgb, problem
        view = np.frombuffer(
            self._map(shard), dtype=np.uint8, count=height * width * 3, offset=offset
        )
        return view.reshape(height, width, 3), fingerprint, rgb, ""

    def _map(self, shard: int) -> mmap.mmap:
        if shard not in self._maps:
            with open(self.directory / self.shard_files[shard], "rb") as handle:
                self._maps[shard] = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return self._maps[shard]


def open_decoded_cache(
    directory: str | os.PathLike, images: LocatedImages, *, threads: int
) -> DecodedCache:
    """The cache in ``directory`` for ``images``, built first if the folder holds none; refused
    (`DecodedCacheError`) when it holds other images, another decoder's pixels, or is damaged."""
    directory = Path(directory)
    fingerprints = _fingerprints(images, threads)
    key = source_fingerprint(images.file_names, fingerprints)
    with _build_lock(directory):
        index = _read_index(directory)
        if index is None:
            index = build_cache(directory, images, fingerprints, key, threads)
    _check_decoder(directory, index)
    rows = _check_images(directory, index, images, fingerprints, key)
    shard_files = tuple(shard["file"] for shard in index["shards"])
    _check_shards(directory, index["shards"])
    return DecodedCache(directory, rows, shard_files)


def _fingerprints(images: LocatedImages, threads: int) -> list[ImageFingerprint]:
    """Every image read once and fingerprinted (hashing releases the GIL); an unreadable
    image gets an empty fingerprint, so the cache is keyed all the same and the run names it."""

    def one(index: int) -> ImageFingerprint:
        try:
            return ImageFingerprint.of(images[index][1])
        except CorruptImageError:
            return ImageFingerprint(0, "0" * 16)

    return each_image(images, one, threads)


@contextlib.contextmanager
def _build_lock(directory: Path) -> Iterator[None]:
    """``directory/.build.lock`` held exclusively; a second builder says whom it waits for."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(directory / BUILD_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        raise outputs.write_error(directory / BUILD_LOCK, error, "nothing was run") from error
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 4096, 0).decode("utf-8", "replace").strip()
            holder = holder or "another process"
            print(
                f"note: waiting for the decoded cache {str(directory)!r}, which {holder} builds",
                file=sys.stderr,
            )
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)


def _read_index(directory: Path) -> dict[str, Any] | None:
    """The index of a built cache; None when there is none yet."""
    path = directory / INDEX_FILE
    if not path.exists():
        return None
    try:
        index = read_json(path, INDEX_FILE, f"a format-{FORMAT} index", top=dict)
        if index.get("format") != FORMAT:
            raise ValueError(f"not a format-{FORMAT} index")
        columns = index["images"]
        names = columns["file_name"]
        if any(len(columns[column]) != len(names) for column in INDEX_COLUMNS):
            raise ValueError("its columns differ in length")
    except (ValueError, KeyError, TypeError) as error:  # JsonInputError is a ValueError
        raise _damaged(directory, f"{INDEX_FILE} cannot be read ({shorten(str(error))})") from None
    return index


def _refused(directory: Path, what: str) -> DecodedCacheError:
    """A cache these images cannot use: what is wrong, and the two ways on."""
    return DecodedCacheError(
        f"decoded cache {str(directory)!r} {what}; remove that folder to decode these images "
        "into it, or choose another --decoded-cache; nothing was run"
    )


def _damaged(directory: Path, what: str) -> DecodedCacheError:
    return _refused(directory, f"is damaged: {what}")


def _check_decoder(directory: Path, index: dict[str, Any]) -> None:
    if index.get("decoder") != decoder_label():
        what = f"was decoded by {index.get('decoder')!r}, this run decodes with {decoder_label()!r}"
        raise _refused(directory, what)


def _check_images(
    directory: Path,
    index: dict[str, Any],
    images: LocatedImages,
    fingerprints: Sequence[ImageFingerprint],
    key: str,
) -> dict[str, tuple]:
    """The index's rows, if it holds every wanted image decoded from the same bytes."""
    columns = index["images"]
    rows = {
        name: tuple(columns[column][position] for column in INDEX_COLUMNS)
        for position, name in enumerate(columns["file_name"])
    }
    if index.get("source_fingerprint") == key:
        return rows
    missing = [name for name in images.file_names if name not in rows]
    differing = [
        f"{name}: {ImageFingerprint(*rows[name][4:6])} cached, {fingerprint} now"
        for name, fingerprint in zip(images.file_names, fingerprints, strict=True)
        if name in rows and ImageFingerprint(*rows[name][4:6]) != fingerprint
    ]
    if differing:
        raise _refused(
            directory,
            f"holds the decoded pixels of other images: {len(differing):,} of the "
            f"{len(images):,} wanted images differ in {images.source} (first: "
            f"{first_few(differing)})",
        )
    if missing:
        raise _refused(
            directory,
            f"holds {len(images) - len(missing):,} of the {len(images):,} wanted images (built "
            f"for another split or source; missing: {first_few(missing)})",
        )
    return rows  # more images than wanted, the wanted ones from the same bytes


def _check_shards(directory: Path, shards: Sequence[dict[str, Any]]) -> None:
    """Every shard there at its recorded size: a truncated one would read past its end."""
    for shard in shards:
        path = directory / shard["file"]
        try:
            size = path.stat().st_size
        except OSError as error:
            what = f"{shard['file']} cannot be read ({error.strerror})"
            raise _damaged(directory, what) from None
        if size != shard["num_bytes"]:
            raise _damaged(
                directory, f"{shard['file']} holds {size:,} of its {shard['num_bytes']:,} bytes"
            )

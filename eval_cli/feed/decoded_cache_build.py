"""Building a decoded cache (`decoded_cache`): every wanted image decoded once, as the run's own
decoder gives it, into memory-mapped uint8 shard files of at most ``SHARD_BYTES``, then
``index.json`` written last, so a folder holds a whole cache or none.

The size is said before writing and refused when the disk lacks it (with ``DISK_MARGIN_BYTES``
kept free); the shards' blocks are reserved up front, so a full disk fails before decoding, and
a failed build removes every shard it wrote. The index's format, columns and decoder label are
defined here, where they are written; `decoded_cache` reads and checks them.
"""

from __future__ import annotations

import contextlib
import errno
import io
import mmap
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import PIL
from PIL import Image, features
from tqdm.auto import tqdm

from ...dataset_script.images.decode import check_image_header, decode_image
from ...dataset_script.images.errors import CorruptImageError
from ...dataset_script.images.source import LocatedImages
from ...metric.errors import ToolkitError
from .. import outputs
from .fingerprint import ImageFingerprint

FORMAT = 1
INDEX_FILE = "index.json"
SHARD_BYTES = 1 << 30
# Room left free beside the cache when checking the disk before a build.
DISK_MARGIN_BYTES = 256 << 20
# The index's columns, one value per image (besides "file_name"); a row is one image's values.
INDEX_COLUMNS = ("shard", "offset", "height", "width", "image_bytes", "image_blake2b", "rgb", "problem", "header_failed")  # fmt: skip  # noqa: E501


class DecodedCacheError(ToolkitError):
    """A decoded cache that cannot be used for these images, or cannot be built."""


def decoder_label() -> str:
    """What decodes the cache's pixels, versions included: another libjpeg-turbo may round
    differently, so a cache built by another is not used."""
    turbo = features.version("libjpeg_turbo") or "not libjpeg-turbo"
    return f"PIL {PIL.__version__} (libjpeg-turbo {turbo})"


def each_image(images: LocatedImages, work: Callable[[int], Any], threads: int) -> list[Any]:
    """``work(i)`` for every image, in threads (reading, hashing and decoding release the GIL)."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(work, range(len(images))))


def build_cache(
    directory: Path,
    images: LocatedImages,
    fingerprints: Sequence[ImageFingerprint],
    key: str,
    threads: int,
) -> dict[str, Any]:
    """Decode every image once into new shards and write the index last; on any failure the
    shards written so far are removed and the folder holds no cache."""
    headers = _headers(images, threads)
    layout = _layout(headers)
    total = sum(size for size in layout.shard_sizes)
    free = shutil.disk_usage(directory).free
    print(
        f"note: decoding {len(images):,} images once into {str(directory)!r}: {_size(total)} "
        f"as uint8 ({_size(free)} free there)",
        file=sys.stderr,
    )
    if total + DISK_MARGIN_BYTES > free:
        raise DecodedCacheError(
            f"the decoded cache needs {_size(total)} in {str(directory)!r} (and "
            f"{_size(DISK_MARGIN_BYTES)} kept free), which has {_size(free)} free; free space "
            "there or choose another --decoded-cache; nothing was run"
        )
    shard_files = [f"pixels-{number:04d}.u8" for number in range(len(layout.shard_sizes))]
    try:
        problems = _decode_into(directory, images, headers, layout, shard_files, threads)
        index = {
            "format": FORMAT,
            "decoder": decoder_label(),
            "source": images.source,
            "source_fingerprint": key,
            "num_images": len(images),
            "num_bytes": total,
            "shards": [
                {"file": name, "num_bytes": size}
                for name, size in zip(shard_files, layout.shard_sizes, strict=True)
            ],
            "images": {
                "file_name": list(images.file_names),
                "shard": layout.shard,
                "offset": layout.offset,
                "height": [header.height for header in headers],
                "width": [header.width for header in headers],
                "image_bytes": [fingerprint.num_bytes for fingerprint in fingerprints],
                "image_blake2b": [fingerprint.blake2b for fingerprint in fingerprints],
                "rgb": [header.rgb for header in headers],
                "problem": problems,
                "header_failed": [bool(header.problem) for header in headers],
            },
        }
        outputs.write_json(directory / INDEX_FILE, index)
    except BaseException as error:
        for name in shard_files:
            with contextlib.suppress(OSError):
                os.unlink(directory / name)
        if isinstance(error, OSError):
            raise outputs.write_error(
                directory / (error.filename or INDEX_FILE),
                error,
                "nothing was run and no part of the decoded cache was kept",
            ) from error
        raise
    return index


def _size(num_bytes: int) -> str:
    return f"{num_bytes / 1e9:.1f} GB" if num_bytes >= 1e8 else f"{num_bytes / 1e6:.1f} MB"


class _Header(NamedTuple):
    height: int
    width: int
    rgb: bool
    problem: str


def _headers(images: LocatedImages, threads: int) -> list[_Header]:
    """Each image's size and pixel mode from its header, or why it cannot be decoded."""

    def one(index: int) -> _Header:
        try:
            name, data = images[index]
            check_image_header(data, name)
            with Image.open(io.BytesIO(data)) as image:
                return _Header(image.height, image.width, image.mode == "RGB", "")
        except CorruptImageError as error:
            return _Header(0, 0, False, error.problems[0][1])

    return each_image(images, one, threads)


class _Layout(NamedTuple):
    """Where each image's pixels go: shard number and byte offset, and each shard's size."""

    shard: list[int]
    offset: list[int]
    shard_sizes: list[int]


def _layout(headers: Sequence[_Header]) -> _Layout:
    shards, offsets, sizes = [], [], [0]
    for header in headers:
        size = header.height * header.width * 3
        if sizes[-1] and sizes[-1] + size > SHARD_BYTES:
            sizes.append(0)
        shards.append(len(sizes) - 1)
        offsets.append(sizes[-1])
        sizes[-1] += size
    return _Layout(shards, offsets, sizes)


def _decode_into(
    directory: Path,
    images: LocatedImages,
    headers: Sequence[_Header],
    layout: _Layout,
    shard_files: Sequence[str],
    threads: int,
) -> list[str]:
    """Every image decoded into its place (threads: Pillow decodes without the GIL); the
    shards' space is reserved first, so a full disk fails here, before any decoding. Returns
    each image's problem ('' when it decoded)."""
    sizes = zip(shard_files, layout.shard_sizes, strict=True)
    maps = [_reserved_map(directory / name, size) for name, size in sizes]

    def one(index: int) -> str:
        header = headers[index]
        if header.problem:
            return header.problem
        try:
            name, data = images[index]
            pixels = np.asarray(decode_image(data, name))
        except CorruptImageError as error:
            return error.problems[0][1]
        if pixels.shape != (header.height, header.width, 3):
            return f"decoded to {pixels.shape}, its header says {header.height}x{header.width}"
        place = np.frombuffer(
            maps[layout.shard[index]], np.uint8, count=pixels.size, offset=layout.offset[index]
        )
        place[:] = pixels.reshape(-1)
        return ""

    try:
        with (
            ThreadPoolExecutor(max_workers=threads) as pool,
            tqdm(total=len(images), unit="img", desc="Decoding images once") as progress,
        ):
            problems = []
            for problem in pool.map(one, range(len(images))):
                problems.append(problem)
                progress.update()
        for target in filter(None, maps):
            target.flush()
    finally:
        for target in filter(None, maps):
            with contextlib.suppress(BufferError):  # a view kept alive by a traceback
                target.close()
    return problems


def _reserved_map(path: Path, size: int) -> mmap.mmap | None:
    """A new shard file of ``size`` bytes, its blocks reserved on disk (a full disk fails
    now, not as a crash when a page is written later), mapped for writing."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    try:
        if size == 0:
            return None
        try:
            os.posix_fallocate(descriptor, 0, size)
        except OSError as error:
            if error.errno != errno.EOPNOTSUPP:
                raise OSError(error.errno, error.strerror, str(path)) from error
            os.ftruncate(descriptor, size)
        return mmap.mmap(descriptor, size)
    finally:
        os.close(descriptor)

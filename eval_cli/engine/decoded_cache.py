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
one waits, then reads what the first built), say the size before writing, refuse when the disk
lacks it, reserve the space up front, and leave no shard behind when they fail.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import mmap
import os
import shutil
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import PIL
from PIL import Image, features
from tqdm.auto import tqdm

from ...dataset_script.images.decode import check_image_header, decode_image
from ...dataset_script.images.errors import CorruptImageError
from ...dataset_script.images.source import LocatedImages
from ...metric.errors import ToolkitError, first_few, shorten
from .. import outputs
from .resume import ImageFingerprint

FORMAT = 1
INDEX_FILE = "index.json"
BUILD_LOCK = ".build.lock"
SHARD_BYTES = 1 << 30
# Room left free beside the cache when checking the disk before a build.
DISK_MARGIN_BYTES = 256 << 20
# The index's columns, one value per image (besides "file_name"); a row is one image's values.
_COLUMNS = ("shard", "offset", "height", "width", "image_bytes", "image_blake2b", "rgb", "problem", "header_failed")  # fmt: skip  # noqa: E501


class DecodedCacheError(ToolkitError):
    """A decoded cache that cannot be used for these images, or cannot be built."""


def decoder_label() -> str:
    """What decodes the cache's pixels, versions included: another libjpeg-turbo may round
    differently, so a cache built by another is not used."""
    turbo = features.version("libjpeg_turbo") or "not libjpeg-turbo"
    return f"PIL {PIL.__version__} (libjpeg-turbo {turbo})"


def source_fingerprint(file_names: Sequence[str], fingerprints: Sequence[ImageFingerprint]) -> str:
    """One sha256 over every image's name and byte fingerprint: the images the cache holds."""
    digest = hashlib.sha256()
    for name, fingerprint in zip(file_names, fingerprints, strict=True):
        digest.update(f"{name} {fingerprint.num_bytes} {fingerprint.blake2b}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class DecodedCache:
    """An opened cache: its folder and index (file name -> row of ``_COLUMNS``)."""

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
            index = _build(directory, images, fingerprints, key, threads)
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

    return _each(images, one, threads)


def _each(images: LocatedImages, work: Callable[[int], Any], threads: int) -> list[Any]:
    """``work(i)`` for every image, in threads (reading, hashing and decoding release the GIL)."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(work, range(len(images))))


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
        index = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(index, dict) or index.get("format") != FORMAT:
            raise ValueError(f"not a format-{FORMAT} index")
        columns = index["images"]
        names = columns["file_name"]
        if any(len(columns[column]) != len(names) for column in _COLUMNS):
            raise ValueError("its columns differ in length")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
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
        name: tuple(columns[column][position] for column in _COLUMNS)
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


def _build(
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

    return _each(images, one, threads)


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

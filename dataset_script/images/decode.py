"""Image bytes to an RGB picture, and the check of every wanted image before a run.

One decoder for every path (the run, the builder, the review thumbnails), so that an image that
passes the up-front check is an image the evaluation decodes, whatever its pixel mode.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import struct
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from .errors import CorruptImageError

if TYPE_CHECKING:
    from .source import LocatedImages

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


def check_images(
    images: LocatedImages, *, full_decode: bool = True, num_workers: int | None = None
) -> None:
    """Fully decode every image; raise one ``CorruptImageError`` listing every failure.

    A full decode, not ``Image.verify()``: for JPEG, Pillow's verify checks almost nothing
    (a truncated file passes), and only decoding with ``decode_image`` proves that the evaluation
    will decode the image. Pillow releases the GIL while decoding, so threads parallelise it.
    ``full_decode=False`` reads every image but checks only its header (``check_image_header``),
    for a caller that decodes each image later anyway and collects the failures itself. Header
    parsing is Python and holds the GIL, so many headers are checked in worker processes.
    """
    workers = num_workers or min(8, os.cpu_count() or 1)
    per_task = max(1, min(_IMAGES_PER_TASK, -(-len(images) // (4 * workers))))
    chunks = [
        range(start, min(start + per_task, len(images)))
        for start in range(0, len(images), per_task)
    ]
    what = "Decoding" if full_decode else "Checking"
    progress = tqdm(
        total=len(images), unit="img", desc=f"{what} images before the run", leave=False
    )
    problems: list[tuple[str, str]] = []
    with _pool(images, full_decode, workers) as pool, progress:
        if pool is None:
            found_per_chunk: Iterator[list[tuple[str, str]]] = (
                _problems(images, full_decode, chunk) for chunk in chunks
            )
        elif isinstance(pool, ThreadPoolExecutor):
            found_per_chunk = pool.map(partial(_problems, images, full_decode), chunks)
        else:
            found_per_chunk = pool.map(partial(_problems_in_worker, full_decode), chunks)
        for chunk, found in zip(chunks, found_per_chunk, strict=True):
            problems.extend(found)
            progress.update(len(chunk))
    if problems:
        raise CorruptImageError.from_problems(problems, num_checked=len(images))


# Images per task of the check's pool: few enough tasks that handing them out costs nothing next
# to the work, enough that the workers share it evenly. Header checks (~40 us each) go to worker
# processes only from a few tasks' worth of images on, and with 4 workers or more: below that,
# starting them costs more than they save (measured on 2 cores: 10% slower than this thread).
_IMAGES_PER_TASK = 256
_MIN_HEADERS_FOR_PROCESSES = 8 * _IMAGES_PER_TASK
_MIN_WORKERS_FOR_PROCESSES = 4
_worker_images: LocatedImages | None = None  # a header-check process's images (its initializer)


@contextmanager
def _pool(images: LocatedImages, full_decode: bool, workers: int) -> Iterator[Executor | None]:
    """Threads for decoding (Pillow releases the GIL); processes for many header checks (their
    parsing holds it); None (this thread) when one worker, or too few headers or workers for
    processes, would do."""
    too_few_for_processes = (
        len(images) < _MIN_HEADERS_FOR_PROCESSES or workers < _MIN_WORKERS_FOR_PROCESSES
    )
    if workers == 1 or (not full_decode and too_few_for_processes):
        yield None
    elif full_decode:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            yield pool
    else:
        # fork where there is one: the workers start at once, without importing anything
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_set_worker_images,
            initargs=(images,),
        ) as pool:
            yield pool


def _set_worker_images(images: LocatedImages) -> None:
    global _worker_images
    _worker_images = images


def _problems_in_worker(full_decode: bool, indices: range) -> list[tuple[str, str]]:
    assert _worker_images is not None, "set by the pool's initializer"
    return _problems(_worker_images, full_decode, indices)


def _problems(images: LocatedImages, full_decode: bool, indices: range) -> list[tuple[str, str]]:
    """``(file name, problem)`` of each image of ``indices`` that fails the check."""
    check = decode_image if full_decode else check_image_header
    problems = []
    for index in indices:
        try:
            file_name, data = images[index]
            check(data, file_name)
        except CorruptImageError as exc:
            problems.append(exc.problems[0])
    return problems

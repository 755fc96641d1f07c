"""Image bytes to an RGB picture, and the check of every wanted image before a run.

One decoder for every path (the run, the builder, the review thumbnails), so that an image that
passes the up-front check is an image the evaluation decodes, whatever its pixel mode.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
from imagenet_multilabel.dataset_script.image_errors import CorruptImageError
from PIL import Image
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from imagenet_multilabel.dataset_script.image_source import LocatedImages

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

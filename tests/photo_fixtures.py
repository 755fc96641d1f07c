"""Photo-like JPEGs for pixel-exactness tests: smooth gradients with noise at odd sizes (the
solid colours of ``image_fixtures`` would hide resampling and decoding differences), and one
real photograph that ships with matplotlib (a project dependency)."""

from __future__ import annotations

import io

import numpy as np
from matplotlib import cbook
from PIL import Image

ODD_SIZES = ((500, 375), (375, 500), (37, 51), (1, 1), (17, 3), (3, 211), (224, 224), (97, 98))


def photo_like_pixels(width: int, height: int, seed: int = 0) -> np.ndarray:
    """HWC uint8: gradients per channel plus noise, so every filter tap matters."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack([x / max(width, 1), y / max(height, 1), (x + y) / max(width + height, 1)], -1)
    noise = np.random.default_rng(seed).normal(0, 0.08, (height, width, 3))
    return np.clip((base + noise) * 255, 0, 255).astype(np.uint8)


def encode(image: Image.Image, image_format: str = "JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def photo_like_jpeg(width: int, height: int, seed: int = 0, mode: str = "RGB", **options) -> bytes:
    image = Image.fromarray(photo_like_pixels(width, height, seed)).convert(mode)
    return encode(image, quality=options.pop("quality", 90), **options)


def real_photo_jpeg() -> bytes:
    """Grace Hopper's portrait (512x600 JPEG) from matplotlib's sample data."""
    with open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), "rb") as file:
        return file.read()

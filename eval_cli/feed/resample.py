"""PIL's ``Image.resize`` in PyTorch, bit for bit, so PIL-based preprocessing can run on a GPU.

Pillow (``src/libImaging/Resample.c``) resizes an 8-bit image in two separable passes. For each
output pixel it precomputes filter coefficients over a window of input pixels, normalises them to
sum 1, and quantises them to fixed point with ``PRECISION_BITS = 22``; a pass adds ``2**21``
(rounding), sums ``pixel * coefficient`` in int32, shifts right by 22 (floor) and clips to
0..255. The second pass reads the first one's uint8 result. The horizontal pass runs first, except
in Pillow >= 13 when the height shrinks by more than twice as many pixels as the width does; a
pass whose size does not change is skipped.

Here each pass is one matrix product in float64: the coefficients are integers, the pixels are
integers, every product and partial sum stays below 2**31 (Pillow's own int32 bound), so float64
holds them exactly in any summation order, on CPU and CUDA alike; the floor and clip then give
Pillow's bytes. The coefficients are computed once per (input size, output size, filter) with
Python's ``math`` (the C library's ``sin``/``cos``, as Pillow uses), in Pillow's order of
operations, and cached.

Pillow's ``NEAREST`` (an affine nearest-neighbour transform, not this filter) and the
``reducing_gap``/``box`` arguments are not reproduced: none of the preprocessing this toolkit
mirrors uses them (torchvision's and transformers' PIL paths call ``resize(size, filter)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import PIL
import torch
from PIL import Image

from ...metric.errors import ToolkitError

PRECISION_BITS = 32 - 8 - 2
_PILLOW_MAJOR = int(PIL.__version__.split(".")[0])
_HALF = float(1 << (PRECISION_BITS - 1))
_SCALE = float(1 << PRECISION_BITS)


class UnsupportedResampleError(ToolkitError):
    """A resampling filter this module does not reproduce exactly."""


def _box(x: float) -> float:
    return 1.0 if -0.5 < x <= 0.5 else 0.0


def _bilinear(x: float) -> float:
    x = abs(x)
    return 1.0 - x if x < 1.0 else 0.0


# Pillow writes the Hamming constants as C floats (0.54f, 0.46f), promoted to double.
_HAMMING_A = float(np.float32(0.54))
_HAMMING_B = float(np.float32(0.46))


def _hamming(x: float) -> float:
    x = abs(x)
    if x == 0.0:
        return 1.0
    if x >= 1.0:
        return 0.0
    x = x * math.pi
    return math.sin(x) / x * (_HAMMING_A + _HAMMING_B * math.cos(x))


def _bicubic(x: float) -> float:
    a = -0.5
    x = abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def _sinc(x: float) -> float:
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


def _lanczos(x: float) -> float:
    return _sinc(x) * _sinc(x / 3) if -3.0 <= x < 3.0 else 0.0


@dataclass(frozen=True)
class _Filter:
    function: Callable[[float], float]
    support: float


FILTERS: dict[Image.Resampling, _Filter] = {
    Image.Resampling.BOX: _Filter(_box, 0.5),
    Image.Resampling.BILINEAR: _Filter(_bilinear, 1.0),
    Image.Resampling.HAMMING: _Filter(_hamming, 1.0),
    Image.Resampling.BICUBIC: _Filter(_bicubic, 2.0),
    Image.Resampling.LANCZOS: _Filter(_lanczos, 3.0),
}


def check_filter(resample: int) -> Image.Resampling:
    """The Pillow filter ``resample`` names, or an error naming it and the supported ones."""
    try:
        mode = Image.Resampling(resample)
    except ValueError:
        mode = None
    if mode not in FILTERS:
        supported = ", ".join(f.name for f in FILTERS)
        named = f"{int(mode)} ({mode.name})" if mode is not None else repr(resample)
        raise UnsupportedResampleError(
            f"resampling filter {named} is not reproduced exactly on the device; "
            f"supported: {supported}"
        )
    return mode


@dataclass(frozen=True)
class PassWeights:
    """One pass: ``matrix[o, i]``, the fixed-point coefficient of input ``i`` in output ``o``
    (float64 holding integers), for inputs ``first .. first + matrix.shape[1] - 1`` only."""

    matrix: np.ndarray
    first: int


@lru_cache(maxsize=1024)
def pass_weights(in_size: int, out_size: int, resample: Image.Resampling) -> PassWeights:
    """Pillow's ``precompute_coeffs`` + ``normalize_coeffs_8bpc`` for a whole-image box."""
    if in_size < 1 or out_size < 1:
        raise ToolkitError(f"cannot resize {in_size} pixels to {out_size}: sizes must be >= 1")
    spec = FILTERS[resample]
    scale = float(in_size) / out_size
    filterscale = max(scale, 1.0)
    support = spec.support * filterscale
    bounds = []
    rows = []
    for out_index in range(out_size):
        center = (out_index + 0.5) * scale
        inverse = 1.0 / filterscale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        weights = [spec.function((x + xmin - center + 0.5) * inverse) for x in range(xmax)]
        total = 0.0
        for weight in weights:
            total += weight
        if total != 0.0:
            weights = [weight / total for weight in weights]
        fixed = [
            int(-0.5 + weight * _SCALE) if weight < 0 else int(0.5 + weight * _SCALE)
            for weight in weights
        ]
        bounds.append((xmin, xmax))
        rows.append(fixed)
    first = min(xmin for xmin, _ in bounds)
    last = max(xmin + xmax for xmin, xmax in bounds)
    matrix = np.zeros((out_size, last - first), dtype=np.float64)
    for out_index, ((xmin, xmax), fixed) in enumerate(zip(bounds, rows, strict=True)):
        matrix[out_index, xmin - first : xmin - first + xmax] = fixed
    return PassWeights(matrix, first)


def _round_clip(sums: torch.Tensor) -> torch.Tensor:
    """Pillow's ``clip8((2**21 + sum) >> 22)``, on exact float64 sums."""
    return torch.floor((sums + _HALF) / _SCALE).clamp_(0.0, 255.0)


def vertical_pass_first(in_height: int, in_width: int, height: int, width: int) -> bool:
    """Pillow >= 13 runs the vertical pass first when the height shrinks by more than twice
    as many pixels as the width does (``ImagingResampleInner``); earlier Pillows never do."""
    if _PILLOW_MAJOR < 13:
        return False
    shrink = in_height - height
    return shrink > 0 and shrink > (in_width - width) * 2


def _horizontal(pixels: torch.Tensor, weights: PassWeights) -> torch.Tensor:
    columns = weights.matrix.shape[1]
    pixels = pixels[..., weights.first : weights.first + columns]
    return _round_clip(pixels @ torch.from_numpy(weights.matrix).to(pixels.device).T)


def _vertical(pixels: torch.Tensor, weights: PassWeights) -> torch.Tensor:
    rows = weights.matrix.shape[1]
    pixels = pixels[..., weights.first : weights.first + rows, :]
    return _round_clip(torch.from_numpy(weights.matrix).to(pixels.device) @ pixels)


def pil_resize(
    images: torch.Tensor, height: int, width: int, resample: int = Image.Resampling.BICUBIC
) -> torch.Tensor:
    """``Image.resize((width, height), resample)`` of uint8 ``(..., C, H, W)`` images (RGB or any
    channels), bit for bit, on the images' device. Leading dimensions batch same-sized images."""
    if images.dtype != torch.uint8 or images.ndim < 3:
        raise ToolkitError(
            f"pil_resize takes uint8 (..., C, H, W) images, got {images.dtype} "
            f"{tuple(images.shape)}"
        )
    mode = check_filter(resample)
    in_height, in_width = images.shape[-2:]
    passes = []
    if in_width != width:
        passes.append((_horizontal, pass_weights(in_width, width, mode)))
    if in_height != height:
        passes.append((_vertical, pass_weights(in_height, height, mode)))
    if vertical_pass_first(in_height, in_width, height, width):
        passes.reverse()
    pixels = images.to(torch.float64)
    for run_pass, weights in passes:  # a pass reads only the input lines its outputs use
        pixels = run_pass(pixels, weights)
    return pixels.to(torch.uint8)

"""Batched JPEG decoding to uint8 RGB tensors: nvJPEG on a CUDA device, libjpeg-turbo elsewhere.

``torchvision.io.decode_jpeg`` decodes a whole batch at once on a CUDA device (nvJPEG), which
keeps a GPU fed where CPU decoding cannot. nvJPEG's pixels are not libjpeg-turbo's (measured on
an H200: 72% of pixels differ, mean 1.8 levels, max 58), so results decoded that way are labelled
``DEVICE_DECODER`` and are for screening, never official. On the CPU, torchvision's decoder is
libjpeg-turbo with PIL's settings (islow DCT, fancy upsampling): the pixels equal
``Image.open(...).convert("RGB")``, so the same code path is exact there (tested).

Only baseline/progressive 3-channel JPEGs go to the batched decoder; grayscale and CMYK JPEGs
and other formats are decoded by PIL and converted to RGB as the CPU path does, one by one, and
counted.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ...metric.errors import ToolkitError

# An approximate decoder's label ends in "(approximate)": `results.publication_problems` reads it.
DEVICE_DECODER = "nvjpeg (approximate)"
CPU_DECODER = "libjpeg-turbo (torchvision)"


class ImageDecodeError(ToolkitError):
    """An image neither decoder could read."""


def decoder_label(device: torch.device | str) -> str:
    """What a run decoding on ``device`` records as its decoder."""
    return DEVICE_DECODER if torch.device(device).type == "cuda" else CPU_DECODER


@dataclass(frozen=True)
class DecodedBatch:
    """uint8 (3, H, W) RGB pixels per image, in input order, on the requested device;
    ``pil_fallbacks``: how many were not 3-channel JPEGs and went through PIL."""

    pixels: list[torch.Tensor]
    pil_fallbacks: int


def is_rgb_jpeg(data: bytes) -> bool:
    """A 3-channel (YCbCr) JPEG, from its header alone."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.format == "JPEG" and image.mode == "RGB"
    except (UnidentifiedImageError, OSError):
        return False


def _pil_rgb(data: bytes, name: str) -> torch.Tensor:
    try:
        with Image.open(io.BytesIO(data)) as image:
            pixels = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as err:
        raise ImageDecodeError(f"{name}: cannot decode the image ({err})") from err
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).contiguous()


def decode_batch(
    encoded: Sequence[bytes], names: Sequence[str], device: torch.device | str
) -> DecodedBatch:
    """Decode ``encoded`` images (``names`` for errors) to RGB uint8 tensors on ``device``."""
    from torchvision.io import ImageReadMode, decode_jpeg

    device = torch.device(device)
    pixels: list[torch.Tensor | None] = [None] * len(encoded)
    jpeg_indexes = [index for index, data in enumerate(encoded) if is_rgb_jpeg(data)]
    if jpeg_indexes:
        buffers = [torch.frombuffer(bytearray(encoded[i]), dtype=torch.uint8) for i in jpeg_indexes]
        target = device if device.type == "cuda" else "cpu"
        try:
            decoded = decode_jpeg(buffers, mode=ImageReadMode.RGB, device=target)
        except RuntimeError:  # find the culprit: decode one by one, each error names its file
            decoded = [
                _decode_one(buffer, names[i], target)
                for buffer, i in zip(buffers, jpeg_indexes, strict=True)
            ]
        for index, image in zip(jpeg_indexes, decoded, strict=True):
            pixels[index] = image.to(device)
    fallbacks = 0
    for index, image in enumerate(pixels):
        if image is None:
            pixels[index] = _pil_rgb(encoded[index], names[index]).to(device)
            fallbacks += 1
    return DecodedBatch(pixels=pixels, pil_fallbacks=fallbacks)


def _decode_one(buffer: torch.Tensor, name: str, device: str | torch.device) -> torch.Tensor:
    from torchvision.io import ImageReadMode, decode_jpeg

    try:
        return decode_jpeg(buffer, mode=ImageReadMode.RGB, device=device)
    except RuntimeError as err:
        raise ImageDecodeError(f"{name}: cannot decode the JPEG ({err})") from err

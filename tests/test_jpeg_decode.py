"""jpeg_decode: torchvision's decoder on the CPU gives PIL's pixels; other images go through PIL,
counted; a broken file is named."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from imagenet_multilabel.eval_cli.feed.jpeg_decode import (
    CPU_DECODER,
    DEVICE_DECODER,
    ImageDecodeError,
    decode_batch,
    decoder_label,
)
from photo_fixtures import ODD_SIZES, encode, photo_like_jpeg, photo_like_pixels, real_photo_jpeg
from PIL import Image

JPEG_OPTIONS = ({"quality": 95}, {"quality": 75}, {"subsampling": 0}, {"progressive": True})


def _pil_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_cpu_decode_equals_pil_on_synthetic_jpegs_and_a_photo():
    encoded = [
        photo_like_jpeg(w, h, seed=i, **options)
        for i, (w, h) in enumerate(ODD_SIZES)
        for options in JPEG_OPTIONS
    ] + [real_photo_jpeg()]
    batch = decode_batch(encoded, [f"image {i}" for i in range(len(encoded))], "cpu")
    assert batch.pil_fallbacks == 0
    for data, pixels in zip(encoded, batch.pixels, strict=True):
        assert pixels.dtype == torch.uint8
        np.testing.assert_array_equal(pixels.permute(1, 2, 0).numpy(), _pil_pixels(data))


def test_grayscale_cmyk_and_png_go_through_pil_and_are_counted():
    encoded = [
        photo_like_jpeg(31, 17, mode="L"),
        photo_like_jpeg(31, 17),
        photo_like_jpeg(31, 17, mode="CMYK"),
        encode(Image.fromarray(photo_like_pixels(9, 5)), "PNG"),
    ]
    batch = decode_batch(encoded, ["gray", "rgb", "cmyk", "png"], "cpu")
    assert batch.pil_fallbacks == 3
    for data, pixels in zip(encoded, batch.pixels, strict=True):
        assert pixels.shape[0] == 3
        np.testing.assert_array_equal(pixels.permute(1, 2, 0).numpy(), _pil_pixels(data))


def test_a_broken_jpeg_is_named():
    good = photo_like_jpeg(20, 20)
    broken = good[:200] + b"\x00" * 50
    with pytest.raises(ImageDecodeError, match="ILSVRC2012_val_00000002.JPEG"):
        decode_batch(
            [good, broken], ["ILSVRC2012_val_00000001.JPEG", "ILSVRC2012_val_00000002.JPEG"], "cpu"
        )


def test_decoder_labels():
    assert decoder_label("cpu") == CPU_DECODER
    assert decoder_label("cuda") == DEVICE_DECODER == "nvjpeg (approximate)"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="nvJPEG needs a CUDA device")
def test_cuda_decode_is_close_to_pil():
    """nvJPEG is approximate: same shapes, pixels within a few levels on average."""
    encoded = [photo_like_jpeg(w, h) for w, h in ODD_SIZES]
    batch = decode_batch(encoded, [str(i) for i in range(len(encoded))], "cuda")
    for data, pixels in zip(encoded, batch.pixels, strict=True):
        assert pixels.device.type == "cuda"
        expected = torch.from_numpy(_pil_pixels(data).copy()).permute(2, 0, 1).float()
        assert (pixels.cpu().float() - expected).abs().mean() < 4

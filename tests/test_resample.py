"""resample.pil_resize against Pillow's own Image.resize, byte for byte."""

from __future__ import annotations

import io

import numpy as np
import PIL
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from imagenet_multilabel.eval_cli.feed.resample import (
    FILTERS,
    UnsupportedResampleError,
    pil_resize,
    vertical_pass_first,
)
from imagenet_multilabel.metric.errors import ToolkitError
from photo_fixtures import photo_like_pixels, real_photo_jpeg
from PIL import Image


def _both(pixels: np.ndarray, width: int, height: int, resample) -> tuple[np.ndarray, np.ndarray]:
    expected = np.asarray(Image.fromarray(pixels).resize((width, height), resample))
    tensor = torch.from_numpy(pixels).permute(2, 0, 1)
    got = pil_resize(tensor, height, width, resample).permute(1, 2, 0).numpy()
    return expected, got


@settings(max_examples=150, deadline=None)
@given(
    size=st.tuples(*[st.integers(1, 90)] * 4),
    resample=st.sampled_from(sorted(FILTERS)),
    seed=st.integers(0, 2**16),
)
def test_random_rgb_sizes_match_pillow_exactly(size, resample, seed):
    in_width, in_height, width, height = size
    pixels = np.random.default_rng(seed).integers(0, 256, (in_height, in_width, 3), np.uint8)
    expected, got = _both(pixels, width, height, resample)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("resample", sorted(FILTERS))
@pytest.mark.parametrize(
    "in_size,out_size",
    [
        ((500, 375), (298, 224)),  # the ImageNet case: shortest edge 224
        ((375, 500), (256, 341)),
        ((500, 375), (224, 224)),  # squash
        ((2000, 3), (7, 1)),  # extreme aspect, heavy reduction
        ((3, 2000), (1, 9)),
        ((1, 1), (224, 224)),  # 1 pixel up
        ((13, 7), (640, 480)),  # big upscale
        ((640, 16), (600, 4)),  # height shrinks more than twice the width: vertical first
        ((10, 100), (40, 60)),  # width grows, height shrinks: vertical first in Pillow 13
    ],
)
def test_edge_sizes_match_pillow_exactly(in_size, out_size, resample):
    pixels = photo_like_pixels(*in_size, seed=sum(in_size))
    expected, got = _both(pixels, *out_size, resample)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.skipif(int(PIL.__version__.split(".")[0]) < 13, reason="Pillow < 13: horizontal first")
def test_the_pass_order_rule_is_exercised_both_ways():
    """Both orders occur in the sweep above, so a wrong order rule fails it."""
    orders = {vertical_pass_first(100, 10, 60, 40), vertical_pass_first(375, 500, 224, 298)}
    assert orders == {True, False}


def test_a_real_photo_and_a_batch_match_pillow():
    photo = np.array(Image.open(io.BytesIO(real_photo_jpeg())).convert("RGB"))
    for resample in (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC):
        expected, got = _both(photo, 224, 262, resample)
        np.testing.assert_array_equal(got, expected)
    batch = torch.stack(
        [torch.from_numpy(photo_like_pixels(61, 47, seed)).permute(2, 0, 1) for seed in range(3)]
    )
    resized = pil_resize(batch, 20, 30, Image.Resampling.BICUBIC)
    for seed in range(3):
        expected = np.asarray(
            Image.fromarray(photo_like_pixels(61, 47, seed)).resize((30, 20), Image.BICUBIC)
        )
        np.testing.assert_array_equal(resized[seed].permute(1, 2, 0).numpy(), expected)


def test_same_size_is_a_copy():
    pixels = torch.from_numpy(photo_like_pixels(9, 7)).permute(2, 0, 1)
    out = pil_resize(pixels, 7, 9, Image.Resampling.BILINEAR)
    assert torch.equal(out, pixels) and out.data_ptr() != pixels.data_ptr()


def test_unsupported_filters_and_inputs_are_refused_by_name():
    pixels = torch.zeros(3, 4, 4, dtype=torch.uint8)
    with pytest.raises(UnsupportedResampleError, match=r"0 \(NEAREST\)"):
        pil_resize(pixels, 2, 2, Image.Resampling.NEAREST)
    with pytest.raises(ToolkitError, match="uint8"):
        pil_resize(pixels.float(), 2, 2, Image.Resampling.BILINEAR)

"""preprocess_plan: geometry + normalisation equals each model's own preprocessing, and the
device path's uint8 pixels equal the CPU path's."""

from __future__ import annotations

import io

import model_fixtures
import numpy as np
import pytest
import timm.data
import torch
from imagenet_multilabel.eval_cli.feed.preprocess_plan import (
    UnsupportedPreprocessingError,
    plan_for_processor,
    plan_for_timm,
)
from imagenet_multilabel.eval_cli.feed.resample import UnsupportedResampleError
from photo_fixtures import ODD_SIZES, photo_like_jpeg, real_photo_jpeg
from PIL import Image
from transformers import AutoImageProcessor, ConvNextImageProcessor, ViTImageProcessor
from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
from transformers.models.convnext.image_processing_pil_convnext import ConvNextImageProcessorPil
from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

SAVERS = ("save_vit", "save_convnext", "save_resnet", "save_mobilenet_v2_with_background")
LANCZOS, BICUBIC, BILINEAR = (Image.Resampling[n] for n in ("LANCZOS", "BICUBIC", "BILINEAR"))

# timm data configs: the fixture's, ResNet-50's (bicubic 0.95) and ViT-B/16's (bicubic 0.9,
# 0.5 mean/std), and the other interpolations and crop modes timm's eval transform takes.
TIMM_CONFIGS = [
    dict(input_size=(3, 32, 32), crop_pct=0.875, interpolation="bilinear"),
    dict(input_size=(3, 224, 224), crop_pct=0.95, interpolation="bicubic"),
    dict(
        input_size=(3, 224, 224),
        crop_pct=0.9,
        interpolation="bicubic",
        mean=(0.5,) * 3,
        std=(0.5,) * 3,
    ),
    dict(input_size=(3, 64, 64), crop_pct=1.0, interpolation="lanczos"),
    dict(input_size=(3, 48, 48), crop_pct=0.875, interpolation="bilinear", crop_mode="squash"),
]


def _pil_processors():
    return [
        ViTImageProcessorPil(size={"height": 32, "width": 32}, resample=LANCZOS),
        ConvNextImageProcessorPil(size={"shortest_edge": 32}, crop_pct=0.875),
        ConvNextImageProcessorPil(size={"shortest_edge": 384}, resample=BILINEAR),
        BitImageProcessorPil(size={"shortest_edge": 40}, crop_size={"height": 33, "width": 31}),
        CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
    ]


def _processors(tmp_path_factory):
    folder = tmp_path_factory.mktemp("processors")
    loaded = [
        AutoImageProcessor.from_pretrained(getattr(model_fixtures, saver)(folder / saver))
        for saver in SAVERS
    ]
    for saver in ("save_clip", "save_siglip"):
        path = getattr(model_fixtures, saver)(folder / saver)
        loaded.append(AutoImageProcessor.from_pretrained(path))
    return loaded + _pil_processors()


@pytest.fixture(scope="module")
def processors(tmp_path_factory):
    return _processors(tmp_path_factory)


def _images():
    jpegs = [photo_like_jpeg(w, h, seed=w * h) for w, h in ODD_SIZES] + [real_photo_jpeg()]
    return [Image.open(io.BytesIO(data)) for data in jpegs]


def _decoded(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)


def test_processor_plans_equal_the_processors_pixel_values(processors):
    for processor in processors:
        plan = plan_for_processor(processor)
        for image in _images():
            expected = processor(images=image.convert("RGB"), return_tensors="pt")
            got = plan.apply_pil(image)
            assert got.dtype == torch.float32
            torch.testing.assert_close(got, expected["pixel_values"][0], atol=1e-5, rtol=0)


def test_processor_device_geometry_equals_the_cpu_path(processors):
    for processor in processors:
        geometry = plan_for_processor(processor).geometry
        for image in _images():
            cpu = geometry.apply_pil(image)
            device = geometry.apply_device(_decoded(image), "cpu")
            assert cpu.dtype == device.dtype == torch.uint8
            assert torch.equal(cpu, device), (type(processor).__name__, image.size)


@pytest.mark.parametrize("config", TIMM_CONFIGS, ids=lambda c: f"{c['interpolation']}")
def test_timm_plans_equal_timms_eval_transform(config):
    transform = timm.data.create_transform(**config, is_training=False)
    plan = plan_for_timm(config)
    assert plan.geometry.resampler == "pil"
    for image in _images():
        rgb = image.convert("RGB")
        torch.testing.assert_close(plan.apply_pil(image), transform(rgb), atol=1e-5, rtol=0)
        cpu = plan.geometry.apply_pil(image)
        assert torch.equal(cpu, plan.geometry.apply_device(_decoded(image), "cpu"))


def test_timm_center_crop_rounds_half_to_even_and_transformers_floors():
    """An odd margin: 257 -> 224 crops at 16 either way; 259 -> 224 at 18 (timm) or 17."""
    timm_crop = plan_for_timm(dict(input_size=(3, 224, 224), crop_pct=224 / 259)).geometry
    pixels = torch.from_numpy(np.array(Image.open(io.BytesIO(photo_like_jpeg(259, 259)))))
    image = Image.fromarray(pixels.numpy())
    assert torch.equal(timm_crop.apply_pil(image), pixels.permute(2, 0, 1)[:, 18:242, 18:242])
    vit = ViTImageProcessorPil(
        size={"height": 259, "width": 259},
        do_center_crop=True,
        crop_size={"height": 224, "width": 224},
    )
    got = plan_for_processor(vit).geometry.apply_device(pixels.permute(2, 0, 1), "cpu")
    assert torch.equal(got, pixels.permute(2, 0, 1)[:, 17:241, 17:241])


def test_other_modes_fall_back_to_the_cpu_path_per_image_and_are_counted():
    geometry = plan_for_timm(TIMM_CONFIGS[1]).geometry
    rgb = Image.open(io.BytesIO(photo_like_jpeg(300, 200)))
    others = [
        Image.open(io.BytesIO(photo_like_jpeg(300, 200, mode=mode))) for mode in ("L", "CMYK")
    ]
    palette = rgb.convert("P")
    images = [rgb, others[0], palette, others[1], rgb]
    items = [geometry.split_work(image) for image in images]
    batch, cpu_fallbacks = geometry.finish_batch(items, "cpu")
    assert cpu_fallbacks == 3
    assert batch.shape == (5, 3, 224, 224)
    for image, pixels in zip(images, batch, strict=True):
        assert torch.equal(pixels, geometry.apply_pil(image))


@pytest.mark.parametrize(
    "processor,named",
    [
        (ViTImageProcessor(size={"height": 32, "width": 32}, do_pad=True), "do_pad"),
        (ViTImageProcessor(size={"shortest_edge": 32, "longest_edge": 40}), "longest_edge"),
        (ViTImageProcessor(size={"height": 32, "width": 32}, resample=0), r"0 \(NEAREST\)"),
        (ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=1.2), "crop"),
    ],
)
def test_unsupported_processor_settings_are_refused_by_name(processor, named):
    with pytest.raises((UnsupportedPreprocessingError, UnsupportedResampleError), match=named):
        plan_for_processor(processor)


def test_unsupported_timm_steps_are_refused_by_name():
    with pytest.raises(UnsupportedPreprocessingError, match="ResizeKeepRatio"):
        plan_for_timm(dict(input_size=(3, 32, 32), crop_mode="border"))

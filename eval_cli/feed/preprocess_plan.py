"""A model's preprocessing split in two: geometry (uint8 pixels) and normalisation (float32).

Feeding a GPU means shipping uint8 pixels, not float32 tensors four times their size, and doing
the arithmetic there. So each model's own preprocessing is read into a ``PreprocessPlan``:

- ``geometry``: resize and center crop, uint8 in and out. ``apply_pil`` runs the model's own ops
  (the processor with rescale and normalise switched off, or timm's transform up to its
  ``ToTensor``) on a PIL image in a CPU worker. ``apply_device`` runs the same steps on decoded
  uint8 pixels on any device: PIL-based preprocessing through ``resample.pil_resize`` (Pillow's
  bytes exactly), torchvision-based processors through the same torchvision ops.
- ``normalization``: rescale factor, mean and std, applied to a uint8 batch in float32 where the
  batch is (the run's device).

Only settings whose meaning is known exactly are accepted: anything else (padding, longest-edge
limits, extra ``do_*`` steps, a timm transform with other steps) is refused by name, because a
plan that guesses would make a model's numbers quietly differ from its own preprocessing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from ...metric.errors import ToolkitError
from .resample import check_filter, pil_resize

# The steps a transformers processor may switch on that a plan reproduces.
_KNOWN_PROCESSOR_STEPS = frozenset(
    {"do_resize", "do_center_crop", "do_rescale", "do_normalize", "do_convert_rgb"}
)


# transformers' processors that override the backend's resize or preprocessing, read: ConvNeXT's
# crop_pct resize; MobileNetV2's label reduction (segmentation only; refused when on).
_OVERRIDING_PROCESSORS = {
    "ConvNextImageProcessor": "crop_pct",
    "ConvNextImageProcessorPil": "crop_pct",
    "MobileNetV2ImageProcessor": "backend steps",
    "MobileNetV2ImageProcessorPil": "backend steps",
}


class UnsupportedPreprocessingError(ToolkitError):
    """A preprocessing setting that cannot be split into exact geometry and normalisation."""


@dataclass(frozen=True)
class Resize:
    """Resize to ``height`` x ``width``, or the shorter side to ``shortest_edge`` keeping the
    aspect ratio (the long side ``int(edge * long / short)``, as torchvision and transformers)."""

    interpolation: Image.Resampling
    shortest_edge: int | None = None
    height: int | None = None
    width: int | None = None

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        if self.shortest_edge is None:
            return self.height, self.width
        short, long = sorted((height, width))
        resized_long = int(self.shortest_edge * long / short)
        if height <= width:
            return self.shortest_edge, resized_long
        return resized_long, self.shortest_edge

    def smallest_output(self) -> tuple[int, int]:
        """The least height and width this step can produce (for the crop check)."""
        if self.shortest_edge is None:
            return self.height, self.width
        return self.shortest_edge, self.shortest_edge


@dataclass(frozen=True)
class CenterCrop:
    """A centered ``height`` x ``width`` window. torchvision's ``CenterCrop`` rounds an odd
    margin's half to even (``round``); transformers floors it."""

    height: int
    width: int
    round_half_even: bool

    def offsets(self, height: int, width: int) -> tuple[int, int]:
        rounding = round if self.round_half_even else math.floor
        return int(rounding((height - self.height) / 2)), int(rounding((width - self.width) / 2))


def _check_crop_fits(steps: Sequence[Resize | CenterCrop], source: str) -> None:
    """A crop larger than its input pads with zeros, each library its own way; refused."""
    smallest = None
    for step in steps:
        if isinstance(step, Resize):
            smallest = step.smallest_output()
        elif smallest is None or step.height > smallest[0] or step.width > smallest[1]:
            raise UnsupportedPreprocessingError(
                f"{source}: a center crop of {step.height}x{step.width} can be larger than the "
                f"resized image ({smallest}); padded crops are not reproduced"
            )
        else:
            smallest = (step.height, step.width)
    if smallest is None:
        raise UnsupportedPreprocessingError(
            f"{source}: no resize or crop, so the output size depends on the image; a batched "
            f"evaluation needs one fixed size"
        )


@dataclass(frozen=True)
class Geometry:
    """Resize and crop steps, run with ``resampler`` ("pil" or "torchvision") on the device and
    with the model's own ops (``cpu_ops``) on a PIL image."""

    steps: tuple[Resize | CenterCrop, ...]
    resampler: str
    cpu_ops: Callable[[Image.Image], torch.Tensor] = field(compare=False, repr=False)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        for step in self.steps:
            if isinstance(step, Resize):
                height, width = step.output_size(height, width)
            else:
                height, width = step.height, step.width
        return height, width

    def apply_pil(self, image: Image.Image) -> torch.Tensor:
        """The CPU path: the model's own ops on the RGB image; uint8 CHW."""
        return self.cpu_ops(image if image.mode == "RGB" else image.convert("RGB"))

    def apply_device(self, pixels: torch.Tensor, device: torch.device | str) -> torch.Tensor:
        """The device path: uint8 CHW (or NCHW, same-sized) RGB pixels -> uint8 at the model's
        size, on ``device``."""
        if pixels.dtype != torch.uint8 or pixels.shape[-3] != 3:
            raise ToolkitError(
                f"apply_device takes uint8 RGB (..., 3, H, W) pixels, got {pixels.dtype} "
                f"{tuple(pixels.shape)}"
            )
        pixels = pixels.to(device)
        for step in self.steps:
            height, width = pixels.shape[-2:]
            if isinstance(step, Resize):
                pixels = self._resize(pixels, *step.output_size(height, width), step)
            else:
                top, left = step.offsets(height, width)
                pixels = pixels[..., top : top + step.height, left : left + step.width]
        return pixels.contiguous()

    def split_work(self, image: Image.Image) -> tuple[torch.Tensor, bool]:
        """The worker's share of the device path: an RGB image's decoded pixels, left for
        ``finish_batch`` (True); any other mode (grayscale, CMYK, palette) goes through
        ``apply_pil`` here, finished (False), as the conversion to RGB is PIL's."""
        if image.mode == "RGB":
            return torch.from_numpy(np.array(image)).permute(2, 0, 1), True
        return self.apply_pil(image), False

    def finish_batch(
        self, items: Sequence[tuple[torch.Tensor, bool]], device: torch.device | str
    ) -> tuple[torch.Tensor, int]:
        """``split_work`` results -> the uint8 (N, 3, H, W) batch on ``device``, same-sized
        images resized together; also how many images took the CPU path."""
        outputs: list[torch.Tensor | None] = [None] * len(items)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for index, (pixels, needs_device) in enumerate(items):
            if needs_device:
                by_shape.setdefault(tuple(pixels.shape), []).append(index)
            else:
                outputs[index] = pixels.to(device)
        for indexes in by_shape.values():
            stacked = torch.stack([items[index][0] for index in indexes])
            for index, pixels in zip(indexes, self.apply_device(stacked, device), strict=True):
                outputs[index] = pixels
        return torch.stack(outputs), len(items) - sum(map(len, by_shape.values()))

    def _resize(self, pixels: torch.Tensor, height: int, width: int, step: Resize):
        if self.resampler == "pil":
            return pil_resize(pixels, height, width, step.interpolation)
        import torchvision.transforms.v2.functional as tvF

        mode = tvF.InterpolationMode[step.interpolation.name]
        if mode is tvF.InterpolationMode.LANCZOS and pixels.device.type != "cpu":
            raise UnsupportedPreprocessingError(
                "torchvision resizes with LANCZOS on the CPU only (transformers itself falls "
                "back to BICUBIC elsewhere); use the cpu preprocessing path for this model"
            )
        if (pixels.shape[-2], pixels.shape[-1]) == (height, width):
            return pixels
        return tvF.resize(pixels, [height, width], interpolation=mode, antialias=True)


@dataclass(frozen=True)
class Normalization:
    """``(pixels * rescale_factor - mean) / std`` in float32, per channel; a part may be off."""

    rescale_factor: float | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None

    def apply(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) -> float32 on the batch's device, as the model's preprocessing."""
        values = batch.to(torch.float32)
        if self.rescale_factor is not None:
            values = values * self.rescale_factor
        if self.mean is not None:
            shape = (len(self.mean), 1, 1)
            mean = torch.tensor(self.mean, dtype=torch.float32, device=batch.device).view(shape)
            std = torch.tensor(self.std, dtype=torch.float32, device=batch.device).view(shape)
            values = (values - mean) / std
        return values


@dataclass(frozen=True)
class PreprocessPlan:
    geometry: Geometry
    normalization: Normalization

    def apply_pil(self, image: Image.Image) -> torch.Tensor:
        """Today's float CHW tensor, from the split parts (for checks against the original)."""
        return self.normalization.apply(self.geometry.apply_pil(image)[None])[0]


# ---------------------------------------------------------------------------------------------
# transformers image processors


class _ProcessorGeometry:
    """The processor with rescale and normalise off: its own resize and crop, uint8 out."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor

    def __call__(self, image: Image.Image) -> torch.Tensor:
        batch = self.processor(
            images=image, do_rescale=False, do_normalize=False, return_tensors="pt"
        )
        return batch["pixel_values"][0]


def _processor_crop_pct_steps(processor: Any, interpolation, source: str) -> list:
    """ConvNeXT's resize: below 384, the short side to ``int(edge / crop_pct)`` then a crop to
    ``edge`` square; from 384, a warp to ``edge`` square."""
    edge = processor.size.shortest_edge
    if not edge:
        raise UnsupportedPreprocessingError(f"{source}: crop_pct resize needs size.shortest_edge")
    if edge >= 384:
        return [Resize(interpolation, height=edge, width=edge)]
    return [
        Resize(interpolation, shortest_edge=int(edge / processor.crop_pct)),
        CenterCrop(edge, edge, round_half_even=False),
    ]


def _processor_resize(processor: Any, interpolation, source: str) -> Resize:
    size = processor.size
    extra = sorted(
        name
        for name in ("longest_edge", "max_height", "max_width", "min_pixels", "max_pixels")
        if getattr(size, name, None)
    )
    if extra:
        raise UnsupportedPreprocessingError(
            f"{source}: size limits {extra} are not supported (only height/width or shortest_edge)"
        )
    if size.shortest_edge:
        return Resize(interpolation, shortest_edge=size.shortest_edge)
    if size.height and size.width:
        return Resize(interpolation, height=size.height, width=size.width)
    raise UnsupportedPreprocessingError(f"{source}: size {dict(size.items())} has no fixed size")


def plan_for_processor(processor: Any) -> PreprocessPlan:
    """The plan of a transformers 5 image processor (PIL or torchvision backend)."""
    from transformers.image_processing_backends import PilBackend, TorchvisionBackend

    cls = type(processor)
    source = f"image processor {cls.__name__}"
    backend = next((b for b in (PilBackend, TorchvisionBackend) if isinstance(processor, b)), None)
    if backend is None:
        raise UnsupportedPreprocessingError(
            f"{source}: not a transformers PIL or torchvision backend processor"
        )
    known = _OVERRIDING_PROCESSORS.get(cls.__name__)
    if not cls.__module__.startswith("transformers.models."):
        known = None
    own_pipeline = cls._preprocess is backend._preprocess and cls.resize is backend.resize
    if not own_pipeline and known is None:
        raise UnsupportedPreprocessingError(
            f"{source}: it overrides the backend's resize or preprocessing; its steps are unknown"
        )
    switched_on = sorted(
        name
        for name in dir(processor)
        if name.startswith("do_")
        and name not in _KNOWN_PROCESSOR_STEPS
        and getattr(processor, name) is True
    )
    if switched_on:
        raise UnsupportedPreprocessingError(f"{source}: steps {switched_on} are not supported")
    resample = processor.resample if processor.resample is not None else 2
    interpolation = check_filter(resample)
    steps: list[Resize | CenterCrop] = []
    if processor.do_resize:
        if known == "crop_pct":
            steps += _processor_crop_pct_steps(processor, interpolation, source)
        else:
            steps.append(_processor_resize(processor, interpolation, source))
    if processor.do_center_crop:
        crop = processor.crop_size
        steps.append(CenterCrop(crop.height, crop.width, round_half_even=False))
    _check_crop_fits(steps, source)
    normalization = Normalization(
        rescale_factor=float(processor.rescale_factor) if processor.do_rescale else None,
        mean=_channels(processor.image_mean) if processor.do_normalize else None,
        std=_channels(processor.image_std) if processor.do_normalize else None,
    )
    geometry = Geometry(
        steps=tuple(steps),
        resampler="pil" if backend is PilBackend else "torchvision",
        cpu_ops=_ProcessorGeometry(processor),
    )
    return PreprocessPlan(geometry, normalization)


def _channels(values: float | Sequence[float]) -> tuple[float, ...]:
    if isinstance(values, (int, float)):
        return (float(values),) * 3
    return tuple(float(value) for value in values)


# ---------------------------------------------------------------------------------------------
# timm's eval transform


class _PilToUint8:
    """After the PIL steps: HWC uint8 -> CHW uint8 tensor (``PILToTensor``)."""

    def __init__(self, pil_steps: Sequence[Callable[[Image.Image], Image.Image]]) -> None:
        self.pil_steps = list(pil_steps)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        for step in self.pil_steps:
            image = step(image)
        import torchvision.transforms.functional as F

        return F.pil_to_tensor(image)


def _sequence_size(size: int | Sequence[int]) -> tuple[int, int] | int:
    if isinstance(size, int):
        return size
    if len(size) == 1:
        return int(size[0])
    return int(size[0]), int(size[1])


def plan_for_timm(data_config: dict[str, Any]) -> PreprocessPlan:
    """The plan of ``timm.data.create_transform(**data_config, is_training=False)``: read from
    the transform timm builds, step by step (Resize, CenterCrop, ToTensor, Normalize)."""
    import timm.data
    from torchvision import transforms

    transform = timm.data.create_transform(**data_config, is_training=False)
    source = f"timm eval transform {transform!r}".replace("\n", " ")
    geometric, steps = [], []
    normalization = Normalization(rescale_factor=None, mean=None, std=None)
    for step in transform.transforms:
        name = type(step).__name__
        if isinstance(step, transforms.Resize) and step.max_size is None:
            interpolation = check_filter(_pil_filter(step.interpolation))
            size = _sequence_size(step.size)
            if isinstance(size, int):
                steps.append(Resize(interpolation, shortest_edge=size))
            else:
                steps.append(Resize(interpolation, height=size[0], width=size[1]))
            geometric.append(step)
        elif isinstance(step, transforms.CenterCrop):
            height, width = step.size
            steps.append(CenterCrop(int(height), int(width), round_half_even=True))
            geometric.append(step)
        elif name in ("ToTensor", "MaybeToTensor"):
            normalization = Normalization(1 / 255, None, None)
        elif isinstance(step, transforms.Normalize) and normalization.rescale_factor:
            normalization = Normalization(
                normalization.rescale_factor, _channels(step.mean), _channels(step.std)
            )
        else:
            raise UnsupportedPreprocessingError(f"{source}: step {step!r} is not supported")
    _check_crop_fits(steps, source)
    geometry = Geometry(tuple(steps), "pil", _PilToUint8(geometric))
    return PreprocessPlan(geometry, normalization)


def _pil_filter(mode: Any) -> int:
    """torchvision's InterpolationMode -> Pillow's filter (what its PIL path calls)."""
    import torchvision.transforms.functional as F

    return F.pil_modes_mapping[mode]

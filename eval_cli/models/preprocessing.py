"""A model's preprocessing as the evaluation applies it: one image to a CHW tensor the way the
model's own library does (`ProcessorPreprocess` for transformers' image processors,
`TorchvisionPreprocess` for timm's transforms), what the results record about it, and its split
into uint8 geometry and device normalisation (`feed.preprocess_plan`) where that is exact."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..feed.preprocess_plan import PreprocessPlan, UnsupportedPreprocessingError
from .errors import ModelLoadError

__all__ = [
    "ProcessorPreprocess",
    "TorchvisionPreprocess",
    "probe_input_size",
    "processor_preprocessing",
    "split_preprocessing",
]


def _as_rgb(image: Image.Image) -> Image.Image:
    """ImageNet has grayscale and CMYK JPEGs; every model here takes RGB."""
    return image if image.mode == "RGB" else image.convert("RGB")


class ProcessorPreprocess:
    """A transformers image processor applied to one image: the model's own preprocessing,
    exact by construction. Picklable, CPU-only: meant for DataLoader workers."""

    def __init__(self, image_processor: Any) -> None:
        self.image_processor = image_processor

    def __call__(self, image: Image.Image) -> torch.Tensor:
        batch = self.image_processor(images=_as_rgb(image), return_tensors="pt")
        return batch["pixel_values"][0]


class TorchvisionPreprocess:
    """A torchvision transform (timm's eval transform) applied to one RGB image."""

    def __init__(self, transform: Callable[[Image.Image], torch.Tensor]) -> None:
        self.transform = transform

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.transform(_as_rgb(image))


def probe_input_size(preprocess: Callable[[Image.Image], torch.Tensor], model_id: str) -> list:
    """The CHW shape ``preprocess`` produces; it must not depend on the image's aspect ratio,
    or images could not be batched."""
    shapes = set()
    for seed, (width, height) in enumerate(((64, 48), (48, 64))):
        pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
        output = preprocess(Image.fromarray(pixels))
        if not isinstance(output, torch.Tensor) or output.ndim != 3:
            raise ModelLoadError(
                f"{model_id}: its preprocessing returned {type(output).__name__} "
                f"{getattr(output, 'shape', '')}, expected a CHW image tensor"
            )
        shapes.add(tuple(output.shape))
    if len(shapes) != 1:
        raise ModelLoadError(
            f"{model_id}: its preprocessing gives differently sized tensors for landscape and "
            f"portrait images ({sorted(shapes)}); batched evaluation needs one fixed size"
        )
    return list(shapes.pop())


def processor_preprocessing(
    image_processor: Any, preprocess: ProcessorPreprocess, model_id: str
) -> dict[str, Any]:
    """What the results record about a transformers image processor's preprocessing."""
    return {
        "library": "transformers",
        "call": "image_processor(images=image.convert('RGB'), return_tensors='pt')"
        "['pixel_values'][0]",
        "processor_class": type(image_processor).__name__,
        "backend": getattr(image_processor, "backend", None),
        "processor_config": json.loads(image_processor.to_json_string()),
        "convert_rgb": True,
        "input_size": probe_input_size(preprocess, model_id),
    }


def split_preprocessing(
    make_plan: Callable[[], PreprocessPlan],
) -> tuple[PreprocessPlan | None, str | None]:
    """The model's preprocessing split into uint8 geometry and device normalisation, or None
    and why not (the run then keeps the float32 path, which is the model's own)."""
    try:
        return make_plan(), None
    except UnsupportedPreprocessingError as error:
        return None, str(error)

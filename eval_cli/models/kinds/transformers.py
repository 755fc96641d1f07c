"""Kind ``transformers``: ``AutoModelForImageClassification`` with the model's own
``AutoImageProcessor`` (also transformers' ``TimmWrapperForImageClassification``, model_type
``timm_wrapper``), its labels read from ``config.id2label``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ...feed import preprocess_plan
from ..adapter import LoadRequest, ModelAdapter
from ..errors import ModelLoadError
from ..guarded_loading import check_remote_code, loading_kwargs, transformers_loading
from ..label_space import map_labels, ordered_labels
from ..preprocessing import ProcessorPreprocess, processor_preprocessing, split_preprocessing
from ..source import ModelSource

__all__ = ["TransformersAdapter", "claims", "load"]


class TransformersAdapter(ModelAdapter):
    """``AutoModelForImageClassification`` with the model's own ``AutoImageProcessor``, called
    per image (about 1-2 ms per image with transformers' default torchvision backend, small next
    to JPEG decoding, and exact where a re-implemented transform would only be close)."""

    def model_outputs(self, module: torch.nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
        return module(pixel_values=pixel_values).logits


def claims(config: Mapping[str, Any]) -> bool:
    """An ``*ForImageClassification`` architecture (a config with any other model_type that no
    kind claims is this kind's too: `kinds.detect_kind`)."""
    architectures = config.get("architectures") or []
    return any(str(name).endswith("ForImageClassification") for name in architectures)


def load(request: LoadRequest) -> TransformersAdapter:
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    source = request.source
    check_remote_code(source, request.trust_remote_code)
    kwargs = loading_kwargs(source, request.trust_remote_code)
    what = "an image classifier (AutoModelForImageClassification + AutoImageProcessor)"
    with transformers_loading(source, what):
        model, loading_info = AutoModelForImageClassification.from_pretrained(
            source.location, dtype=torch.float32, output_loading_info=True, **kwargs
        )
        image_processor = AutoImageProcessor.from_pretrained(source.location, **kwargs)
    missing = sorted(loading_info.get("missing_keys") or [])
    if missing:
        raise ModelLoadError(
            f"{source.model_id}: the checkpoint lacks weights {missing[:5]} "
            f"({len(missing)} in all), which would be left random"
        )
    num_outputs = model.config.num_labels
    labels = ordered_labels(model.config.id2label, num_outputs, f"{source.model_id} id2label")
    label_space = map_labels(
        labels,
        source=f"{source.model_id} config.id2label",
        assumption=_wrapper_assumption(source),
    )
    preprocess = ProcessorPreprocess(image_processor)
    return TransformersAdapter(
        request,
        module=model,
        preprocess=preprocess,
        preprocessing=processor_preprocessing(image_processor, preprocess, source.model_id),
        label_space=label_space,
        plan=split_preprocessing(lambda: preprocess_plan.plan_for_processor(image_processor)),
    )


def _wrapper_assumption(source: ModelSource) -> str | None:
    """transformers names an unlabelled timm head (model_type ``timm_wrapper``, or timm's own
    layout, which transformers loads as one) from timm's tables by its size."""
    model_type = source.config.get("model_type")
    is_timm = model_type == "timm_wrapper" or (
        model_type is None and "architecture" in source.config
    )
    if is_timm and not source.config.get("label_names"):
        return (
            "assumed: transformers' TimmWrapperConfig took the label names from timm's "
            "infer_imagenet_subset(num_classes); the config has no label_names"
        )
    return None

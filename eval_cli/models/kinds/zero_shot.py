"""Kind ``zero-shot``: CLIP / SigLIP (``AutoModelForZeroShotImageClassification`` +
``AutoProcessor``), classifying by similarity to text prompts per class
(`models.zero_shot_prompts`): by default OpenAI's curated class names and 80-template ensemble, as
the literature scores these models (``zero_shot_prompts="single"``: one ``"a photo of a {}."``
over the first WordNet lemma)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ....dataset_script.classes import NUM_CLASSES
from ...feed import preprocess_plan
from ..adapter import LoadRequest, ModelAdapter
from ..errors import ModelLoadError
from ..guarded_loading import check_remote_code, loading_kwargs, transformers_loading
from ..label_space import LabelMapping
from ..preprocessing import ProcessorPreprocess, processor_preprocessing, split_preprocessing
from ..zero_shot_prompts import (
    TextEncoder,
    ZeroShotClassifier,
    class_embeddings,
    load_zero_shot_prompts,
)

__all__ = ["ZERO_SHOT_MODEL_TYPES", "ZeroShotAdapter", "claims", "load"]

ZERO_SHOT_MODEL_TYPES = frozenset({"clip", "siglip", "siglip2"})


class ZeroShotAdapter(ModelAdapter):
    """CLIP/SigLIP zero-shot classification over text prompts per ImageNet class; its
    ``text_encoder`` embeds any other text in the same space (the image rules of the automatic
    mistake taxonomy, `models.categorizer`)."""

    text_encoder: TextEncoder

    def model_outputs(self, module: torch.nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
        return module(pixel_values)


def claims(config: Mapping[str, Any]) -> bool:
    """A CLIP or SigLIP dual encoder (an ``*ForImageClassification`` head of one is the
    ``transformers`` kind's, which `kinds.detect_kind` asks first)."""
    return config.get("model_type") in ZERO_SHOT_MODEL_TYPES


def load(request: LoadRequest) -> ZeroShotAdapter:
    from transformers import AutoModelForZeroShotImageClassification, AutoProcessor

    source = request.source
    model_type = source.config.get("model_type")
    if model_type == "siglip2":
        raise ModelLoadError(
            f"{source.model_id}: SigLIP2 NaFlex checkpoints (model_type 'siglip2') take "
            f"variable-resolution patch sequences with masks, not the fixed-size image "
            f"batches this evaluation builds; the fixed-resolution SigLIP2 checkpoints "
            f"(model_type 'siglip', e.g. google/siglip2-base-patch16-224) are supported"
        )
    check_remote_code(source, request.trust_remote_code)
    kwargs = loading_kwargs(source, request.trust_remote_code)
    what = "a zero-shot image classifier (AutoModelForZeroShotImageClassification + AutoProcessor)"
    with transformers_loading(source, what):
        model = AutoModelForZeroShotImageClassification.from_pretrained(
            source.location, dtype=torch.float32, **kwargs
        )
        processor = AutoProcessor.from_pretrained(source.location, **kwargs)
    for needed in ("get_image_features", "get_text_features", "logit_scale"):
        if not hasattr(model, needed):
            raise ModelLoadError(
                f"{source.model_id}: {type(model).__name__} has no {needed}; zero-shot "
                f"classification needs a CLIP-style dual encoder"
            )
    model = model.eval().to(request.device)  # the class embeddings are computed on the device
    class_prompts = load_zero_shot_prompts(request.zero_shot_prompts)
    padding = "max_length" if str(model_type).startswith("siglip") else "longest"
    max_length = model.config.text_config.max_position_embeddings
    text_encoder = TextEncoder(model, processor.tokenizer, padding, max_length)
    text_embeds = class_embeddings(text_encoder, class_prompts)
    num_templates = len(class_prompts.templates)
    label_space = LabelMapping(
        method="zero-shot prompts",
        source=f"{source.model_id} text embeddings of {num_templates} prompt(s) per ImageNet "
        "class (each L2-normalised, averaged per class, normalised again)",
        num_outputs=NUM_CLASSES,
        verified_by="construction: the prompts of class i name ImageNet class i",
        details={
            **class_prompts.provenance(),
            "prompt_padding": padding,
            "prompt_max_length": max_length,
        },
    )
    image_processor = processor.image_processor
    preprocess = ProcessorPreprocess(image_processor)
    adapter = ZeroShotAdapter(
        request,
        module=ZeroShotClassifier(model, text_embeds),
        preprocess=preprocess,
        preprocessing=processor_preprocessing(image_processor, preprocess, source.model_id),
        label_space=label_space,
        plan=split_preprocessing(lambda: preprocess_plan.plan_for_processor(image_processor)),
    )
    adapter.text_encoder = text_encoder
    return adapter

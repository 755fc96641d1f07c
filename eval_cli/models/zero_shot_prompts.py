"""Zero-shot prompts and class embeddings: the prompt styles of CLIP/SigLIP models (OpenAI's curated
class names and 80-template ensemble by default, as the literature scores these models; or one
``"a photo of a {}."`` over the first WordNet lemma), and the classifier built from their text
embeddings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import torch

from ...dataset_script.classes import CLASS_NAMES, NUM_CLASSES, WNIDS
from ..choices import ZERO_SHOT_PROMPTS  # the prompt styles; the first is the default
from .errors import ModelLoadError
from .label_space import first_lemma

__all__ = [
    "ZERO_SHOT_PROMPTS",
    "ZERO_SHOT_TEMPLATE",
    "TextEncoder",
    "ZeroShotClassifier",
    "ZeroShotPrompts",
    "check_prompt_style",
    "class_embeddings",
    "load_zero_shot_prompts",
    "zero_shot_class_names",
]

ZERO_SHOT_TEMPLATE = "a photo of a {}."
# OpenAI's curated ImageNet class names and 80 templates (MIT; source in its SOURCE.md).
_CLIP_PROMPTS_FILE = ("data", "clip_prompts", "imagenet_prompts.json")
_PROMPT_BATCH_SIZE = 1024  # prompts per text forward: 12 classes of the 80-template ensemble


def zero_shot_class_names() -> tuple[str, ...]:
    """The class names of ``prompts="single"``: the first WordNet lemma of each class."""
    return tuple(first_lemma(name) for name in CLASS_NAMES)


@dataclass(frozen=True)
class ZeroShotPrompts:
    """Every prompt of every class: ``templates`` filled with ``class_names[i]`` for class ``i``
    (names in ImageNet index order, so classes map by index, never by name)."""

    style: str
    class_names: tuple[str, ...]
    templates: tuple[str, ...]
    class_names_source: str

    def of_class(self, index: int) -> list[str]:
        return [template.format(self.class_names[index]) for template in self.templates]

    def provenance(self) -> dict[str, Any]:
        """What the results record: style, templates, where the names come from, and the
        classes whose prompts are identical (they get identical scores)."""
        wnids_by_name: dict[str, list[str]] = {}
        for name, wnid in zip(self.class_names, WNIDS, strict=True):
            wnids_by_name.setdefault(name, []).append(wnid)
        return {
            "prompts": self.style,
            "templates": list(self.templates),
            "class_names": self.class_names_source,
            "classes_with_identical_prompts": [
                {"class_name": name, "wnids": wnids}
                for name, wnids in wnids_by_name.items()
                if len(wnids) > 1
            ],
        }


def check_prompt_style(style: str) -> None:
    if style not in ZERO_SHOT_PROMPTS:
        raise ModelLoadError(
            f"unknown zero-shot prompt style {style!r}; expected one of "
            f"{', '.join(ZERO_SHOT_PROMPTS)}"
        )


@cache
def load_zero_shot_prompts(style: str = ZERO_SHOT_PROMPTS[0]) -> ZeroShotPrompts:
    """The prompts of a style: ``ensemble`` (OpenAI's curated class names and 80 templates, as
    CLIP, open_clip and clip_benchmark report ImageNet zero-shot accuracy) or ``single``."""
    check_prompt_style(style)
    if style == "single":
        return ZeroShotPrompts(
            style=style,
            class_names=zero_shot_class_names(),
            templates=(ZERO_SHOT_TEMPLATE,),
            class_names_source="first WordNet lemma of each class (dataset_script.classes."
            "CLASS_NAMES without the ' (nXXXXXXXX)' suffix)",
        )
    data = json.loads(
        resources.files("imagenet_multilabel.dataset_script")
        .joinpath(*_CLIP_PROMPTS_FILE)
        .read_text(encoding="utf-8")
    )
    names, templates = tuple(data["class_names"]), tuple(data["templates"])
    if len(names) != NUM_CLASSES or not all(t.count("{}") == 1 for t in templates):
        raise ModelLoadError(
            f"package data {'/'.join(_CLIP_PROMPTS_FILE)} is damaged: expected "
            f"{NUM_CLASSES} class names and templates with one '{{}}' each, got {len(names)} "
            f"names and {len(templates)} templates"
        )
    return ZeroShotPrompts(
        style=style,
        class_names=names,
        templates=templates,
        class_names_source=f"OpenAI's curated ImageNet class names ({data['source']})",
    )


class ZeroShotClassifier(torch.nn.Module):
    """CLIP/SigLIP as a 1,000-way classifier: ``forward(pixel_values)`` -> (B, 1000) logits.

    Text embeddings are computed once and kept as a buffer; the logits follow the model's own
    forward: normalised image embeds @ normalised text embeds.T * logit_scale.exp() (+ logit_bias
    for SigLIP).
    """

    def __init__(self, model: torch.nn.Module, text_embeds: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("text_embeds", text_embeds)

    def image_embeddings(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, D) L2-normalised image embeddings, in the space of ``text_embeds``."""
        image_embeds = _pooled(self.model.get_image_features(pixel_values=pixel_values))
        return image_embeds / image_embeds.norm(p=2, dim=-1, keepdim=True)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        logits = self.image_embeddings(pixel_values) @ self.text_embeds.t()
        logits = logits * self.model.logit_scale.exp()
        logit_bias = getattr(self.model, "logit_bias", None)
        return logits if logit_bias is None else logits + logit_bias


def _pooled(features: Any) -> torch.Tensor:
    """transformers 5 returns a model output whose ``pooler_output`` is the projected embedding;
    earlier versions return the tensor itself."""
    return features if isinstance(features, torch.Tensor) else features.pooler_output


@dataclass(frozen=True)
class TextEncoder:
    """A dual encoder's text tower with its tokenizer, as the model was trained: ``padding``
    (SigLIP pads to ``max_length``) and ``max_length`` (the tower's context)."""

    model: torch.nn.Module
    tokenizer: Any
    padding: str
    max_length: int

    @torch.no_grad()
    def __call__(self, texts: list[str], *, truncate: bool = False) -> torch.Tensor:
        """(len(texts), D) L2-normalised text embeddings, batched, on the model's device. A
        text longer than the context is an error unless ``truncate`` (then it is cut)."""
        device = next(self.model.parameters()).device
        embeddings = []
        for start in range(0, len(texts), _PROMPT_BATCH_SIZE):
            tokens = self.tokenizer(
                texts[start : start + _PROMPT_BATCH_SIZE],
                padding=self.padding,
                max_length=self.max_length,
                truncation=truncate,
                return_tensors="pt",
            )
            if tokens["input_ids"].shape[1] > self.max_length:
                raise ModelLoadError(
                    f"a zero-shot prompt needs {tokens['input_ids'].shape[1]} tokens, more than "
                    f"the text encoder's {self.max_length}"
                )
            inputs = {
                key: tokens[key].to(device)
                for key in ("input_ids", "attention_mask")
                if key in tokens
            }
            text_embeds = _pooled(self.model.get_text_features(**inputs))
            embeddings.append(text_embeds / text_embeds.norm(p=2, dim=-1, keepdim=True))
        return torch.cat(embeddings)


@torch.no_grad()
def class_embeddings(encoder: TextEncoder, prompts: ZeroShotPrompts) -> torch.Tensor:
    """(1000, D) class embeddings: the mean of the L2-normalised embeddings of a class's prompts,
    normalised again (the CLIP paper's prompt ensembling); with one template, that prompt's
    normalised embedding. A few classes per batch, so memory stays (1000, D). Prompts are never
    truncated: one longer than the text tower's context is an error."""
    num_templates = len(prompts.templates)
    classes_per_batch = max(1, _PROMPT_BATCH_SIZE // num_templates)
    embeddings = []
    for start in range(0, NUM_CLASSES, classes_per_batch):
        indices = range(start, min(start + classes_per_batch, NUM_CLASSES))
        texts = [prompt for index in indices for prompt in prompts.of_class(index)]
        mean = encoder(texts).view(len(indices), num_templates, -1).mean(dim=1)
        embeddings.append(mean / mean.norm(p=2, dim=-1, keepdim=True))
    return torch.cat(embeddings)

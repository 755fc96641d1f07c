"""The kinds of model `run` loads, one registered module each (docs/EXTENDING.md, "Add a model
kind").

Owns: for each kind of ``KINDS`` (the registry, named in `eval_cli.choices` as ``MODEL_KINDS``:
the ``--model-kind`` choices, and the order in which kinds claim a ``config.json``) the module
of this folder named after it (``-`` as ``_``),
whose ``claims(config)`` says whether a model is of its kind and whose ``load(request)`` returns
the model as a `ModelAdapter` with its outputs mapped onto the 1,000 ImageNet classes by index
and wnid (`models.label_space`); `load_model` resolves the source, picks the kind and loads.
May import: what `eval_cli.models` may, and its neighbours in `eval_cli.models`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import torch

from ...choices import MODEL_KINDS
from ..adapter import LoadRequest, ModelAdapter
from ..errors import ModelLoadError
from ..source import resolve_model_source
from ..zero_shot_prompts import ZERO_SHOT_PROMPTS, check_prompt_style

__all__ = ["FALLBACK_KIND", "KINDS", "detect_kind", "kind_module", "load_model"]

# The registry, `choices.MODEL_KINDS` (named there so that `--model-kind` offers it without
# importing torch): each kind once; a config.json is the first kind's that claims it.
KINDS = MODEL_KINDS
# A config.json with a transformers model_type that no kind claims: AutoModelForImageClassification
# says whether it can load it.
FALLBACK_KIND = "transformers"


def kind_module(kind: str) -> ModuleType:
    """The module of a registered kind: this package's module named after it."""
    return importlib.import_module(f"{__name__}.{kind.replace('-', '_')}")


def detect_kind(config: Mapping[str, Any]) -> str:
    """The kind of a ``config.json``: the first registered kind whose ``claims`` it (timm's layout
    -> ``timm``, an ``*ForImageClassification`` architecture -> ``transformers``, CLIP/SigLIP ->
    ``zero-shot``), else ``FALLBACK_KIND`` for any other transformers ``model_type``."""
    claimed = next((kind for kind in KINDS if kind_module(kind).claims(config)), None)
    if claimed is not None:
        return claimed
    if config.get("model_type") is None:
        raise ModelLoadError(
            "config.json has neither 'model_type' (transformers) nor 'architecture' (timm); "
            f"pass kind= one of {', '.join(KINDS)}"
        )
    return FALLBACK_KIND


def load_model(
    model_id: str,
    revision: str | None = None,
    trust_remote_code: bool = False,
    kind: str | None = None,
    device: torch.device | str = "cpu",
    zero_shot_prompts: str = ZERO_SHOT_PROMPTS[0],
) -> ModelAdapter:
    """Load a Hub model id or local folder as an adapter; ``kind`` overrides auto-detection
    (:func:`detect_kind`). ``device`` is where the module is put, and where zero-shot text
    embeddings are computed at load. ``zero_shot_prompts`` (one of ``ZERO_SHOT_PROMPTS``) is the
    prompt style of zero-shot models; other kinds have no prompts, so a sweep over mixed models
    can pass one style for all."""
    if kind is not None and kind not in KINDS:
        raise ModelLoadError(f"unknown model kind {kind!r}; expected one of {', '.join(KINDS)}")
    check_prompt_style(zero_shot_prompts)
    source = resolve_model_source(model_id, revision)
    chosen = kind or detect_kind(source.config)
    request = LoadRequest(
        source=source,
        kind=chosen,
        trust_remote_code=trust_remote_code,
        device=torch.device(device),
        zero_shot_prompts=zero_shot_prompts,
    )
    return kind_module(chosen).load(request)

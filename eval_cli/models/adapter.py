"""What every kind of model becomes: a `ModelAdapter` (its module, its preprocessing and its
outputs mapped onto the 1,000 ImageNet classes, with their provenance), loaded from a
`LoadRequest` by the module of its kind (`models.kinds`)."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from ..feed.preprocess_plan import PreprocessPlan
from .label_space import LabelMapping
from .source import ModelSource

__all__ = ["LoadRequest", "ModelAdapter"]


@dataclass(frozen=True)
class LoadRequest:
    """What a kind's ``load`` is asked: the model found and read (``source``), the ``kind`` it
    is loaded as, whether code from its repository may run, the ``device`` to put it on, and
    the prompt style of zero-shot models (one of ``ZERO_SHOT_PROMPTS``; other kinds have none)."""

    source: ModelSource
    kind: str
    trust_remote_code: bool
    device: torch.device
    zero_shot_prompts: str


class ModelAdapter(abc.ABC):
    """A loaded model with everything the evaluation loop needs.

    - ``preprocess(image) -> CHW float tensor``: picklable, CPU-only (runs in DataLoader workers).
    - ``plan``: the same preprocessing split into uint8 geometry and float32 normalisation
      (`preprocess_plan.PreprocessPlan`), so that uint8 pixels go to the device; None where it
      cannot be split exactly, with the reason in ``plan_problem``.
    - ``module``: the ``torch.nn.Module`` to put on devices, wrap (accelerate/DDP) and compile.
    - ``logits(module, pixel_values)``: (B, 1000) float32 logits, column ``i`` = ImageNet class
      ``i``, computed by ``module``: this module or any wrapper of it (DDP, ``torch.compile``),
      whose call takes what this module's call takes. ``adapter(pixel_values)`` is the same
      through the unwrapped ``module``. No dtype casts on the inputs: mixed precision is the
      caller's autocast.
    - ``model_id``, ``revision``, ``kind``, ``preprocessing``, ``label_mapping``: JSON-ready
      provenance (also together in ``provenance()``).
    """

    def __init__(
        self,
        request: LoadRequest,
        *,
        module: torch.nn.Module,
        preprocess: Callable[[Image.Image], torch.Tensor],
        preprocessing: dict[str, Any],
        label_space: LabelMapping,
        plan: tuple[PreprocessPlan | None, str | None] = (None, "the adapter gives no split"),
    ) -> None:
        self.model_id = request.source.model_id
        self.revision = request.source.revision
        self.kind = request.kind
        self.module = module.eval().to(request.device)
        self.preprocess = preprocess
        self.plan, self.plan_problem = plan
        self.preprocessing = preprocessing
        self.label_space = label_space

    @abc.abstractmethod
    def model_outputs(self, module: torch.nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
        """Raw (B, label_space.num_outputs) outputs of ``module`` (``self.module`` or a wrapper)."""

    @property
    def label_mapping(self) -> dict[str, Any]:
        return self.label_space.as_dict()

    def logits(self, module: torch.nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.label_space.apply(self.model_outputs(module, pixel_values)).float()

    def __call__(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.logits(self.module, pixel_values)

    def provenance(self) -> dict[str, Any]:
        return {
            "id": self.model_id,
            "revision": self.revision,
            "kind": self.kind,
            "preprocessing": self.preprocessing,
            "label_mapping": self.label_mapping,
        }

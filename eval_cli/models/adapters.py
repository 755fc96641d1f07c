"""Model adapters: load an image classifier (its source resolved by ``models.source``) with its own
library's loading code, preprocess images the way the model expects, and map its outputs onto the
1,000 ImageNet classes (``models.label_space``).


- ``transformers``: ``AutoModelForImageClassification`` + the model's ``AutoImageProcessor``
  (also transformers' ``TimmWrapperForImageClassification``, model_type ``timm_wrapper``);
- ``timm``: timm's Hub layout (``config.json`` with ``architecture`` and ``pretrained_cfg``),
  loaded with ``timm.create_model("hf-hub:...")`` / ``"local-dir:..."`` and preprocessed as timm's
  ``validate.py`` does;
- ``zero-shot``: CLIP / SigLIP (``AutoModelForZeroShotImageClassification`` + ``AutoProcessor``),
  classifying by similarity to text prompts per class: by default OpenAI's curated class names
  and 80-template ensemble, as the literature scores these models (``prompts="single"``: one
  ``"a photo of a {}."`` over the first WordNet lemma).
"""

from __future__ import annotations

import abc
import json
import pickle
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from ...dataset_script.classes import NUM_CLASSES
from ..engine.preprocess_plan import (
    PreprocessPlan,
    UnsupportedPreprocessingError,
    plan_for_processor,
    plan_for_timm,
)
from .errors import LabelSpaceError, ModelLoadError
from .label_space import LabelMapping, map_labels, ordered_labels
from .source import KINDS, ModelSource, detect_kind, resolve_model_source
from .zero_shot import (
    ZERO_SHOT_PROMPTS,
    TextEncoder,
    ZeroShotClassifier,
    check_prompt_style,
    class_embeddings,
    load_zero_shot_prompts,
)

__all__ = [
    "ADAPTERS",
    "ModelAdapter",
    "ProcessorPreprocess",
    "TimmAdapter",
    "TorchvisionPreprocess",
    "TransformersAdapter",
    "ZeroShotAdapter",
    "load_model",
]


# ---------------------------------------------------------------------------------------------
# Preprocessing


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


def _probe_input_size(preprocess: Callable[[Image.Image], torch.Tensor], model_id: str) -> list:
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


def _processor_preprocessing(image_processor: Any, preprocess, model_id: str) -> dict[str, Any]:
    return {
        "library": "transformers",
        "call": "image_processor(images=image.convert('RGB'), return_tensors='pt')"
        "['pixel_values'][0]",
        "processor_class": type(image_processor).__name__,
        "backend": getattr(image_processor, "backend", None),
        "processor_config": json.loads(image_processor.to_json_string()),
        "convert_rgb": True,
        "input_size": _probe_input_size(preprocess, model_id),
    }


def _split_preprocessing(
    make_plan: Callable[[], PreprocessPlan],
) -> tuple[PreprocessPlan | None, str | None]:
    """The model's preprocessing split into uint8 geometry and device normalisation, or None
    and why not (the run then keeps the float32 path, which is the model's own)."""
    try:
        return make_plan(), None
    except UnsupportedPreprocessingError as error:
        return None, str(error)


def _check_remote_code(source: ModelSource, trust_remote_code: bool) -> None:
    """Refuse, with a clear message, a model whose classes live in its repository unless the
    user trusts that code; a model_type transformers knows runs transformers' own code."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if trust_remote_code or source.config.get("model_type") in CONFIG_MAPPING:
        return
    if source.config.get("auto_map"):
        raise ModelLoadError(
            f"{source.model_id} needs custom code from its repository (config.json auto_map: "
            f"{dict(source.config['auto_map'])}); load it with trust_remote_code=True "
            f"(--trust-remote-code) only if you trust that code"
        )


def _loading_kwargs(source: ModelSource, trust_remote_code: bool) -> dict[str, Any]:
    return {"revision": source.revision, "trust_remote_code": trust_remote_code}


def _unsafe_weights(source: ModelSource, error: pickle.UnpicklingError) -> ModelLoadError:
    """The error for pickled weights that ``torch.load(weights_only=True)``, the safe loader
    transformers and timm use, refused: loading them anyway could run any code they carry."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    # torch's message opens with advice to set weights_only=False; the cause is the next line.
    cause = next((line for line in lines if "weights_only" not in line), lines[0] if lines else "")
    return ModelLoadError(
        f"the weights of {source.model_id!r} are not loadable safely: torch.load with "
        f"weights_only=True refused them ({cause.strip()}); nothing was run. Use a safetensors "
        "checkpoint, or a pickled one that holds tensors only"
    )


@contextmanager
def _transformers_loading(source: ModelSource, what: str) -> Iterator[None]:
    """transformers' loading errors as `ModelLoadError`s naming the model and ``what`` it was
    loaded as; pickled weights the safe loader refused as `_unsafe_weights`."""
    try:
        yield
    except pickle.UnpicklingError as err:
        raise _unsafe_weights(source, err) from err
    except (OSError, ValueError, KeyError) as err:
        raise ModelLoadError(
            f"transformers cannot load {source.model_id!r} as {what}: {err}"
        ) from err


# ---------------------------------------------------------------------------------------------
# Adapters


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

    kind: ClassVar[str]

    def __init__(
        self,
        *,
        model_id: str,
        revision: str | None,
        module: torch.nn.Module,
        preprocess: Callable[[Image.Image], torch.Tensor],
        preprocessing: dict[str, Any],
        label_space: LabelMapping,
        plan: tuple[PreprocessPlan | None, str | None] = (None, "the adapter gives no split"),
    ) -> None:
        self.model_id = model_id
        self.revision = revision
        self.module = module
        self.preprocess = preprocess
        self.plan, self.plan_problem = plan
        self.preprocessing = preprocessing
        self.label_space = label_space

    @classmethod
    @abc.abstractmethod
    def load(
        cls, source: ModelSource, *, trust_remote_code: bool, device: torch.device
    ) -> ModelAdapter:
        """Load the model described by ``source`` onto ``device``, in float32, in eval mode."""

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


class TransformersAdapter(ModelAdapter):
    """``AutoModelForImageClassification`` with the model's own ``AutoImageProcessor``, called
    per image (about 1-2 ms per image with transformers' default torchvision backend, small next
    to JPEG decoding, and exact where a re-implemented transform would only be close)."""

    kind = "transformers"

    @classmethod
    def load(
        cls, source: ModelSource, *, trust_remote_code: bool, device: torch.device
    ) -> TransformersAdapter:
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        _check_remote_code(source, trust_remote_code)
        kwargs = _loading_kwargs(source, trust_remote_code)
        what = "an image classifier (AutoModelForImageClassification + AutoImageProcessor)"
        with _transformers_loading(source, what):
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
        return cls(
            model_id=source.model_id,
            revision=source.revision,
            module=model.eval().to(device),
            preprocess=preprocess,
            preprocessing=_processor_preprocessing(image_processor, preprocess, source.model_id),
            label_space=label_space,
            plan=_split_preprocessing(lambda: plan_for_processor(image_processor)),
        )

    def model_outputs(self, module: torch.nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
        return module(pixel_values=pixel_values).logits


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


class TimmAdapter(ModelAdapter):
    """A model in timm's Hub layout, loaded and preprocessed exactly as timm's ``validate.py``:
    ``resolve_input_data_config(model, use_test_size=True)`` then ``create_transform``."""

    kind = "timm"

    @classmethod
    def load(
        cls, source: ModelSource, *, trust_remote_code: bool, device: torch.device
    ) -> TimmAdapter:
        import timm
        import timm.data

        if "architecture" not in source.config:
            raise ModelLoadError(
                f"{source.model_id}: kind 'timm' needs timm's Hub layout, a config.json with "
                f"'architecture' and 'pretrained_cfg'"
            )
        if source.is_local:
            name = f"local-dir:{source.location}"
        else:
            pin = f"@{source.revision}" if source.revision else ""
            name = f"hf-hub:{source.location}{pin}"
        try:
            model = timm.create_model(name, pretrained=True)
        except pickle.UnpicklingError as err:
            raise _unsafe_weights(source, err) from err
        except (OSError, RuntimeError, ValueError, KeyError) as err:
            raise ModelLoadError(f"timm cannot load {source.model_id!r} ({name}): {err}") from err
        data_config = timm.data.resolve_input_data_config(model, use_test_size=True)
        transform = timm.data.create_transform(**data_config, is_training=False)
        preprocess = TorchvisionPreprocess(transform)
        preprocessing = {
            "library": "timm",
            "call": "timm.data.create_transform(**resolve_input_data_config(model, "
            "use_test_size=True), is_training=False)(image.convert('RGB')), as timm validate.py",
            "data_config": json.loads(json.dumps(data_config)),
            "transforms": [repr(step) for step in transform.transforms],
            "convert_rgb": True,
            "input_size": _probe_input_size(preprocess, source.model_id),
        }
        return cls(
            model_id=source.model_id,
            revision=source.revision,
            module=model.eval().to(device),
            preprocess=preprocess,
            preprocessing=preprocessing,
            label_space=_timm_label_mapping(model, source.model_id),
            plan=_split_preprocessing(lambda: plan_for_timm(data_config)),
        )

    def model_outputs(self, module: torch.nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
        return module(pixel_values)


def _timm_label_mapping(model: torch.nn.Module, model_id: str) -> LabelMapping:
    """From ``label_names`` when the config has them, else from timm's own rule for ImageNet
    heads (``infer_imagenet_subset`` by class count). A checkpoint's ``label_offset`` (background
    class) is already removed by timm when it loads the weights."""
    from timm.data import ImageNetInfo, infer_imagenet_subset

    pretrained_cfg = model.pretrained_cfg
    num_outputs = model.num_classes
    label_names = pretrained_cfg.get("label_names")
    if label_names:
        if isinstance(label_names, Mapping):
            label_names = ordered_labels(label_names, num_outputs, f"{model_id} label_names")
        if len(label_names) != num_outputs:
            raise LabelSpaceError(
                f"{model_id}: config.json label_names has {len(label_names)} entries for a "
                f"{num_outputs}-way head"
            )
        return map_labels(label_names, source=f"{model_id} timm label_names")
    subset = infer_imagenet_subset({"num_classes": num_outputs})
    if subset is None:
        raise LabelSpaceError(
            f"{model_id}: the timm model has {num_outputs} outputs and no label_names, and timm "
            f"knows no ImageNet label set of that size; cannot map its outputs to the 1,000 "
            f"ImageNet classes"
        )
    return map_labels(
        ImageNetInfo(subset).label_names(),
        source=f"{model_id} timm.data.infer_imagenet_subset -> {subset}",
        assumption=(
            f"assumed: timm's convention that a {num_outputs}-class head is {subset} in its "
            f"synset order (timm.data.infer_imagenet_subset); the config has no label_names"
        ),
    )


class ZeroShotAdapter(ModelAdapter):
    """CLIP/SigLIP zero-shot classification over text prompts per ImageNet class; its
    ``text_encoder`` embeds any other text in the same space (the image rules of the automatic
    mistake taxonomy, `models.categorizer`)."""

    kind = "zero-shot"
    text_encoder: TextEncoder

    @classmethod
    def load(
        cls,
        source: ModelSource,
        *,
        trust_remote_code: bool,
        device: torch.device,
        prompts: str = ZERO_SHOT_PROMPTS[0],
    ) -> ZeroShotAdapter:
        from transformers import AutoModelForZeroShotImageClassification, AutoProcessor

        model_type = source.config.get("model_type")
        if model_type == "siglip2":
            raise ModelLoadError(
                f"{source.model_id}: SigLIP2 NaFlex checkpoints (model_type 'siglip2') take "
                f"variable-resolution patch sequences with masks, not the fixed-size image "
                f"batches this evaluation builds; the fixed-resolution SigLIP2 checkpoints "
                f"(model_type 'siglip', e.g. google/siglip2-base-patch16-224) are supported"
            )
        _check_remote_code(source, trust_remote_code)
        kwargs = _loading_kwargs(source, trust_remote_code)
        what = (
            "a zero-shot image classifier (AutoModelForZeroShotImageClassification + AutoProcessor)"
        )
        with _transformers_loading(source, what):
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
        model = model.eval().to(device)
        class_prompts = load_zero_shot_prompts(prompts)
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
        preprocess = ProcessorPreprocess(processor.image_processor)
        adapter = cls(
            model_id=source.model_id,
            revision=source.revision,
            module=ZeroShotClassifier(model, text_embeds),
            preprocess=preprocess,
            preprocessing=_processor_preprocessing(
                processor.image_processor, preprocess, source.model_id
            ),
            label_space=label_space,
            plan=_split_preprocessing(lambda: plan_for_processor(processor.image_processor)),
        )
        adapter.text_encoder = text_encoder
        return adapter

    def model_outputs(self, module: torch.nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
        return module(pixel_values)


ADAPTERS: dict[str, type[ModelAdapter]] = {
    adapter.kind: adapter for adapter in (TransformersAdapter, TimmAdapter, ZeroShotAdapter)
}


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
    if kind is not None and kind not in ADAPTERS:
        raise ModelLoadError(f"unknown model kind {kind!r}; expected one of {', '.join(KINDS)}")
    check_prompt_style(zero_shot_prompts)
    source = resolve_model_source(model_id, revision)
    chosen = kind or detect_kind(source.config)
    options = {"prompts": zero_shot_prompts} if chosen == ZeroShotAdapter.kind else {}
    return ADAPTERS[chosen].load(
        source, trust_remote_code=trust_remote_code, device=torch.device(device), **options
    )

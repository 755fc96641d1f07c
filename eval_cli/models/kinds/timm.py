"""Kind ``timm``: a model in timm's Hub layout (``config.json`` with ``architecture`` and
``pretrained_cfg``), loaded with ``timm.create_model("hf-hub:...")`` / ``"local-dir:..."`` and
preprocessed exactly as timm's ``validate.py`` does."""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from typing import Any

import torch
from safetensors import SafetensorError  # a weights file that is not safetensors

from ...feed import preprocess_plan
from ..adapter import LoadRequest, ModelAdapter
from ..errors import LabelSpaceError, ModelLoadError
from ..guarded_loading import unsafe_weights
from ..label_space import LabelMapping, map_labels, ordered_labels
from ..preprocessing import TorchvisionPreprocess, probe_input_size, split_preprocessing

__all__ = ["TimmAdapter", "claims", "load"]


class TimmAdapter(ModelAdapter):
    """A model in timm's Hub layout, loaded and preprocessed exactly as timm's ``validate.py``:
    ``resolve_input_data_config(model, use_test_size=True)`` then ``create_transform``."""

    def model_outputs(self, module: torch.nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
        return module(pixel_values)


def claims(config: Mapping[str, Any]) -> bool:
    """timm's layout: an ``architecture`` and no transformers ``model_type``."""
    return config.get("model_type") is None and "architecture" in config


def load(request: LoadRequest) -> TimmAdapter:
    import timm
    import timm.data

    source = request.source
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
        raise unsafe_weights(source, err) from err
    except (OSError, RuntimeError, ValueError, KeyError, SafetensorError) as err:
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
        "input_size": probe_input_size(preprocess, source.model_id),
    }
    return TimmAdapter(
        request,
        module=model,
        preprocess=preprocess,
        preprocessing=preprocessing,
        label_space=_timm_label_mapping(model, source.model_id),
        plan=split_preprocessing(lambda: preprocess_plan.plan_for_timm(data_config)),
    )


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

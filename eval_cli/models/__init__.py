"""Models for `run`: an image classifier from the Hub or a local folder as an adapter whose outputs
are the 1,000 ImageNet classes. `source` finds and reads the model, `adapters` loads it with its
own library (transformers, timm, zero-shot CLIP/SigLIP), `label_space` verifies and maps its
labels, `zero_shot` owns the prompts and class embeddings, `errors` the two failures."""

from .adapters import (
    ADAPTERS,
    ModelAdapter,
    ProcessorPreprocess,
    TimmAdapter,
    TorchvisionPreprocess,
    TransformersAdapter,
    ZeroShotAdapter,
    load_model,
)
from .errors import LabelSpaceError, ModelLoadError
from .label_space import LabelMapping, map_labels
from .source import (
    KINDS,
    ZERO_SHOT_MODEL_TYPES,
    ModelSource,
    detect_kind,
    local_model_folder,
    model_problem,
    resolve_model_source,
)
from .zero_shot import (
    ZERO_SHOT_PROMPTS,
    ZERO_SHOT_TEMPLATE,
    ZeroShotClassifier,
    ZeroShotPrompts,
    load_zero_shot_prompts,
    zero_shot_class_names,
)

__all__ = [
    "ADAPTERS",
    "KINDS",
    "ZERO_SHOT_MODEL_TYPES",
    "ZERO_SHOT_PROMPTS",
    "ZERO_SHOT_TEMPLATE",
    "LabelMapping",
    "LabelSpaceError",
    "ModelAdapter",
    "ModelLoadError",
    "ModelSource",
    "ProcessorPreprocess",
    "TimmAdapter",
    "TorchvisionPreprocess",
    "TransformersAdapter",
    "ZeroShotAdapter",
    "ZeroShotClassifier",
    "ZeroShotPrompts",
    "detect_kind",
    "load_model",
    "load_zero_shot_prompts",
    "local_model_folder",
    "map_labels",
    "model_problem",
    "resolve_model_source",
    "zero_shot_class_names",
]

"""Models for `run`: an image classifier from the Hub or a local folder as an adapter whose outputs
are the 1,000 ImageNet classes. `source` finds and reads the model; `kinds` is the registry of the
kinds of model (transformers, timm, zero-shot CLIP/SigLIP), one module each, that load it with its
own library into an `adapter.ModelAdapter`; `preprocessing` applies and records the model's own
preprocessing, `guarded_loading` refuses untrusted code and unsafe weights, `label_space`
verifies and maps its labels, `zero_shot_prompts` owns the prompts and class embeddings,
`categorizer` the taxonomy's image rules, `errors` the two failures.

May import: `metric`, `dataset_script`, `eval_cli.choices`, `eval_cli.feed.preprocess_plan`.
"""

from .adapter import LoadRequest, ModelAdapter
from .errors import LabelSpaceError, ModelLoadError
from .kinds import FALLBACK_KIND, KINDS, detect_kind, kind_module, load_model
from .kinds.timm import TimmAdapter
from .kinds.transformers import TransformersAdapter
from .kinds.zero_shot import ZERO_SHOT_MODEL_TYPES, ZeroShotAdapter
from .label_space import LabelMapping, map_labels
from .preprocessing import ProcessorPreprocess, TorchvisionPreprocess
from .source import (
    ModelSource,
    hub_model_id,
    local_model_folder,
    model_id_problem,
    model_problem,
    resolve_model_source,
)
from .zero_shot_prompts import (
    ZERO_SHOT_PROMPTS,
    ZERO_SHOT_TEMPLATE,
    ZeroShotClassifier,
    ZeroShotPrompts,
    load_zero_shot_prompts,
    zero_shot_class_names,
)

__all__ = [
    "FALLBACK_KIND",
    "KINDS",
    "ZERO_SHOT_MODEL_TYPES",
    "ZERO_SHOT_PROMPTS",
    "ZERO_SHOT_TEMPLATE",
    "LabelMapping",
    "LabelSpaceError",
    "LoadRequest",
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
    "kind_module",
    "load_model",
    "hub_model_id",
    "load_zero_shot_prompts",
    "local_model_folder",
    "map_labels",
    "model_id_problem",
    "model_problem",
    "resolve_model_source",
    "zero_shot_class_names",
]

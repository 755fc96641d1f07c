"""Model adapters: load an image classifier from the Hub or a local folder, preprocess images the
way the model expects, and map its outputs onto the 1,000 ImageNet classes.

Three kinds of model are supported, each by its own library's loading code:

- ``transformers``: ``AutoModelForImageClassification`` + the model's ``AutoImageProcessor``
  (also transformers' ``TimmWrapperForImageClassification``, model_type ``timm_wrapper``);
- ``timm``: timm's Hub layout (``config.json`` with ``architecture`` and ``pretrained_cfg``),
  loaded with ``timm.create_model("hf-hub:...")`` / ``"local-dir:..."`` and preprocessed as timm's
  ``validate.py`` does;
- ``zero-shot``: CLIP / SigLIP (``AutoModelForZeroShotImageClassification`` + ``AutoProcessor``),
  classifying by similarity to text prompts per class: by default OpenAI's curated class names
  and 80-template ensemble, as the literature scores these models (``prompts="single"``: one
  ``"a photo of a {}."`` over the first WordNet lemma).

The label space is verified from the model's own labels, never assumed silently: a 1,000-way head
must carry ImageNet wnids or names (any order), a 1,001-way head a ``background`` class at 0, a
larger head wnids (timm's ImageNet-21k/22k/12k tables count), of which up to ten of the 1,000 may
be absent (timm's 21k/22k heads lack the teddy bear): such classes are never predicted, and
``label_mapping`` lists them. The only assumption made is that an unnamed 1,000-way head is in
ImageNet index order, and it is recorded in ``label_mapping`` too.
Anything else raises :class:`LabelSpaceError`.
"""

from __future__ import annotations

import abc
import json
import pickle
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import huggingface_hub.constants
import numpy as np
import torch
from huggingface_hub import hf_hub_download, try_to_load_from_cache
from huggingface_hub.errors import EntryNotFoundError, HFValidationError
from huggingface_hub.utils import validate_repo_id
from imagenet_multilabel.dataset_script.classes import CLASS_NAMES, NUM_CLASSES, WNIDS
from imagenet_multilabel.metric.errors import ToolkitError, brief_repr
from PIL import Image

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

KINDS = ("transformers", "timm", "zero-shot")
ZERO_SHOT_MODEL_TYPES = frozenset({"clip", "siglip", "siglip2"})
ZERO_SHOT_TEMPLATE = "a photo of a {}."
# Prompt styles of zero-shot models; the first is the default.
ZERO_SHOT_PROMPTS = ("ensemble", "single")
# OpenAI's curated ImageNet class names and 80 templates (MIT; source in its SOURCE.md).
_CLIP_PROMPTS_FILE = ("data", "clip_prompts", "imagenet_prompts.json")
# timm's 21k/22k heads lack n04399382 (teddy bear), its 12k heads 7 classes, 21k-miil 9.
MAX_MISSING_CLASSES = 10
MISSING_CLASS = -1

_WNID = re.compile(r"n\d{8}")
_DISAMBIGUATION_SUFFIX = re.compile(r" \(n\d{8}\)$")
_SUFFIXED_NAME = re.compile(r"(.+) \((n\d{8})\)")
_SNAPSHOT_COMMIT = re.compile(r"/snapshots/([0-9a-f]{40})/")
_PROMPT_BATCH_SIZE = 1024  # prompts per text forward: 12 classes of the 80-template ensemble


class ModelLoadError(ToolkitError):
    """The model cannot be loaded as asked (missing files, unknown kind, custom code not trusted,
    missing weights, unsupported input format)."""


class LabelSpaceError(ToolkitError):
    """The model's outputs cannot be mapped onto the 1,000 ImageNet classes."""


# ---------------------------------------------------------------------------------------------
# The label space


def _plain_name(class_name: str) -> str:
    """``crane (n02012849)`` -> ``crane``: the name as label files spell it."""
    return _DISAMBIGUATION_SUFFIX.sub("", class_name)


def _first_lemma(class_name: str) -> str:
    return _plain_name(class_name).split(",")[0].strip()


def _name_key(label: str) -> str:
    """Letters and digits only, case kept: ``judges robe`` and ``judge's robe`` match, while
    ``Cardigan`` (the corgi) and ``cardigan`` (the sweater) stay apart."""
    return re.sub(r"[^0-9A-Za-z]", "", label)


@cache
def _accepted_name_keys() -> tuple[frozenset[str], ...]:
    """For each class, the keys that identify it: its wnid, full lemma list and first lemma."""
    return tuple(
        frozenset({wnid, _name_key(_plain_name(name)), _name_key(_first_lemma(name))})
        for wnid, name in zip(WNIDS, CLASS_NAMES, strict=True)
    )


def _unique_keys(keys_per_class: Sequence[set[str]]) -> dict[str, int]:
    owners = Counter(key for keys in keys_per_class for key in keys)
    return {
        key: index for index, keys in enumerate(keys_per_class) for key in keys if owners[key] == 1
    }


@cache
def _unique_name_indexes() -> tuple[dict[str, int], dict[str, int]]:
    """Key -> class for keys naming exactly one class: first wnids and full lemma lists, then
    first lemmas. Full names win, so "maillot" (class 638's full name, class 639's first lemma)
    is class 638; "crane" names two classes either way and is left out."""
    full_names = _unique_keys(
        [
            {wnid, _name_key(_plain_name(name))}
            for wnid, name in zip(WNIDS, CLASS_NAMES, strict=True)
        ]
    )
    first_lemmas = _unique_keys([{_name_key(_first_lemma(name))} for name in CLASS_NAMES])
    return full_names, first_lemmas


def _class_of_name_key(key: str) -> int | None:
    full_names, first_lemmas = _unique_name_indexes()
    return full_names.get(key, first_lemmas.get(key))


def zero_shot_class_names() -> tuple[str, ...]:
    """The class names of ``prompts="single"``: the first WordNet lemma of each class."""
    return tuple(_first_lemma(name) for name in CLASS_NAMES)


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


def _check_prompt_style(style: str) -> None:
    if style not in ZERO_SHOT_PROMPTS:
        raise ModelLoadError(
            f"unknown zero-shot prompt style {style!r}; expected one of "
            f"{', '.join(ZERO_SHOT_PROMPTS)}"
        )


@cache
def load_zero_shot_prompts(style: str = ZERO_SHOT_PROMPTS[0]) -> ZeroShotPrompts:
    """The prompts of a style: ``ensemble`` (OpenAI's curated class names and 80 templates, as
    CLIP, open_clip and clip_benchmark report ImageNet zero-shot accuracy) or ``single``."""
    _check_prompt_style(style)
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


@dataclass(frozen=True)
class LabelMapping:
    """How a model's outputs become the (B, 1000) ImageNet logits, and why that is right.

    ``columns[i]`` is the model output column holding ImageNet class ``i``, or ``-1`` when the
    model has no output for that class (a few of timm's 21k/22k/12k heads lack some ImageNet
    classes): such a class gets logit -inf, so it is never predicted. ``None`` means the outputs
    already are the 1,000 classes in index order.
    """

    method: str
    source: str
    num_outputs: int
    verified_by: str
    columns: tuple[int, ...] | None = None
    assumption: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    _index: torch.Tensor | None = field(default=None, init=False, repr=False, compare=False)
    _missing: torch.Tensor | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.columns is None:
            if self.num_outputs != NUM_CLASSES:
                raise ValueError(f"an identity mapping needs {NUM_CLASSES} outputs")
            return
        present = [column for column in self.columns if column != MISSING_CLASS]
        if len(self.columns) != NUM_CLASSES or len(set(present)) != len(present):
            raise ValueError(f"columns must name {NUM_CLASSES} distinct model outputs or -1")
        if not all(0 <= column < self.num_outputs for column in present):
            raise ValueError(f"columns must lie in 0..{self.num_outputs - 1}, or be -1")
        index = torch.tensor(self.columns, dtype=torch.long)
        object.__setattr__(self, "_index", index.clamp(min=0))
        if len(present) < NUM_CLASSES:
            object.__setattr__(self, "_missing", index == MISSING_CLASS)

    def apply(self, outputs: torch.Tensor) -> torch.Tensor:
        """(B, num_outputs) model outputs -> (B, 1000) ImageNet logits."""
        if outputs.ndim != 2 or outputs.shape[1] != self.num_outputs:
            raise RuntimeError(
                f"the model returned outputs of shape {tuple(outputs.shape)}; its label mapping "
                f"({self.source}) expects (batch, {self.num_outputs})"
            )
        if self._index is None:
            return outputs
        logits = outputs.index_select(1, self._index.to(outputs.device, non_blocking=True))
        if self._missing is not None:
            logits = logits.masked_fill(self._missing.to(logits.device), float("-inf"))
        return logits

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable description for the results provenance."""
        description: dict[str, Any] = {
            "method": self.method,
            "source": self.source,
            "num_model_outputs": self.num_outputs,
            "verified_by": self.verified_by,
            "assumption": self.assumption,
        }
        description.update(self.details)
        if self.columns is not None:
            description["columns"] = list(self.columns)
            missing = [WNIDS[i] for i, column in enumerate(self.columns) if column == MISSING_CLASS]
            if missing:
                description["missing_classes"] = missing
        return description


def _label_space_error(labels: Sequence[str], source: str, problem: str) -> LabelSpaceError:
    examples = ", ".join(repr(label) for label in labels[:5])
    return LabelSpaceError(
        f"{source}: the model has {len(labels)} output classes (e.g. {examples}); {problem}. "
        f"Supported: a 1,000-way head labelled with ImageNet wnids or the standard ImageNet class "
        f"names (any order), or with no names at all (assumed to be in ImageNet index order); a "
        f"1,001-way head with 'background' at output 0; a larger head labelled with wnids "
        f"(timm's ImageNet-21k/22k/12k heads) that lacks at most {MAX_MISSING_CLASSES} of the "
        f"1,000 ImageNet classes"
    )


def _is_default_label(label: str, position: int) -> bool:
    return label == f"LABEL_{position}"


def _columns_by_wnid(
    wnids: Sequence[str], offset: int, labels: Sequence[str], source: str
) -> tuple[int, ...]:
    """Columns of the 1,000 wnids. A head larger than ImageNet-1k (timm's 21k/22k/12k) may lack
    up to `MAX_MISSING_CLASSES` of them: those get column -1 (never predicted)."""
    position = {}
    for column, wnid in enumerate(wnids, start=offset):
        if wnid in position:
            raise _label_space_error(labels, source, f"wnid {wnid} labels two outputs")
        position[wnid] = column
    missing = [wnid for wnid in WNIDS if wnid not in position]
    superset = len(wnids) > NUM_CLASSES
    if missing and not (superset and len(missing) <= MAX_MISSING_CLASSES):
        raise _label_space_error(
            labels,
            source,
            f"{len(missing)} of the 1,000 ImageNet classes are not among its outputs "
            f"({', '.join(missing[:10])}{', ...' if len(missing) > 10 else ''}), so its "
            f"predictions cannot be scored on ImageNet",
        )
    return tuple(position.get(wnid, MISSING_CLASS) for wnid in WNIDS)


def _class_of_suffixed_name(label: str) -> int | None:
    """The class of a name spelt with its wnid, as the toolkit's own table spells the two cranes
    (``crane (n02012849)``): the wnid decides, and the name must be that class's; else None."""
    match = _SUFFIXED_NAME.fullmatch(label)
    if match is None:
        return None
    name, wnid = match.groups()
    index = _index_of_wnid().get(wnid)
    if index is None or _name_key(name) not in _accepted_name_keys()[index]:
        return None
    return index


@cache
def _index_of_wnid() -> dict[str, int]:
    return {wnid: index for index, wnid in enumerate(WNIDS)}


def _columns_by_name(names: Sequence[str], offset: int, labels: Sequence[str], source: str):
    """Columns for 1,000 names: identity when each names its own index (ambiguous names such as
    "crane" are fine in place), else a permutation through names that name one class only, or
    that carry their wnid (``crane (n02012849)``)."""
    keys = [_name_key(name) for name in names]
    by_wnid = [_class_of_suffixed_name(name) for name in names]
    accepted = _accepted_name_keys()
    if all(key in accepted[index] or by_wnid[index] == index for index, key in enumerate(keys)):
        return tuple(range(offset, offset + NUM_CLASSES)), "names in ImageNet index order"
    classes = [
        index if index is not None else _class_of_name_key(key)
        for index, key in zip(by_wnid, keys, strict=True)
    ]
    unmatched = [name for name, index in zip(names, classes, strict=True) if index is None]
    if unmatched:
        raise _label_space_error(
            labels,
            source,
            f"{len(unmatched)} labels are not in ImageNet index order and do not name exactly one "
            f"ImageNet class (e.g. {', '.join(repr(name) for name in unmatched[:5])}); names "
            f"shared by two classes (crane) can only be mapped by wnid, alone or as the "
            f"toolkit's class names spell them ('crane (n02012849)')",
        )
    column_of_class: dict[int, int] = {}
    for column, index in enumerate(classes, start=offset):
        if index in column_of_class:
            raise _label_space_error(
                labels, source, f"ImageNet class {WNIDS[index]} is named by two outputs"
            )
        column_of_class[index] = column
    return tuple(column_of_class[index] for index in range(NUM_CLASSES)), "unique class names"


def _timm_subset_wnids(labels: Sequence[str]) -> tuple[str, list[str]] | None:
    """(subset, wnids) when ``labels`` are exactly the readable descriptions timm's ImageNet
    table of that size gives (e.g. a transformers ``timm_wrapper`` of a 12k model)."""
    from timm.data import ImageNetInfo, infer_imagenet_subset

    subset = infer_imagenet_subset({"num_classes": len(labels)})
    if subset is None:
        return None
    info = ImageNetInfo(subset)
    if list(labels) != info.label_descriptions():
        return None
    return subset, list(info.label_names())


def map_labels(
    labels: Sequence[str], *, source: str, assumption: str | None = None
) -> LabelMapping:
    """Verify a model's output labels (in output order) and map them to the 1,000 classes.

    ``source`` names where the labels came from (for messages and provenance); ``assumption``
    records anything the caller inferred to obtain them.
    """
    labels = [str(label) for label in labels]
    count = len(labels)
    if count == 0:
        raise _label_space_error(labels, source, "there are no outputs")
    if all(_is_default_label(label, position) for position, label in enumerate(labels)):
        if count != NUM_CLASSES:
            raise _label_space_error(
                labels, source, "its labels are transformers' placeholders, not class names"
            )
        return LabelMapping(
            method="identity",
            source=source,
            num_outputs=count,
            verified_by="nothing: the labels are placeholders (LABEL_0..LABEL_999)",
            assumption=(
                "assumed: 1000-way head in ImageNet index order; the config has no label names"
            ),
        )

    offset = 1 if count == NUM_CLASSES + 1 and labels[0].strip().lower() == "background" else 0
    core = labels[offset:]
    if all(_WNID.fullmatch(label) for label in core):
        columns, verified_by = _columns_by_wnid(core, offset, labels, source), "wnids"
    elif len(core) == NUM_CLASSES:
        columns, verified_by = _columns_by_name(core, offset, labels, source)
    else:
        timm_subset = _timm_subset_wnids(labels)
        if timm_subset is None:
            raise _label_space_error(labels, source, "they are neither wnids nor ImageNet names")
        subset, wnids = timm_subset
        columns = _columns_by_wnid(wnids, 0, labels, source)
        verified_by = f"labels equal timm's {subset} class descriptions, mapped by its wnids"

    missing = [WNIDS[i] for i, column in enumerate(columns) if column == MISSING_CLASS]
    if missing:
        note = (
            f"the head has no output for {len(missing)} ImageNet class(es) ({', '.join(missing)}): "
            "they are never predicted"
        )
        assumption = f"{assumption}; {note}" if assumption else note
    identity = count == NUM_CLASSES and columns == tuple(range(NUM_CLASSES))
    if identity:
        method = "identity"
    elif offset and columns == tuple(range(1, NUM_CLASSES + 1)):
        method = "drop background column 0"
    elif count == NUM_CLASSES + offset:
        method = "permutation"
    else:
        method = "column selection"
    return LabelMapping(
        method=method,
        source=source,
        num_outputs=count,
        verified_by=verified_by,
        columns=None if identity else columns,
        assumption=assumption,
    )


def _ordered_labels(id_to_label: Mapping[Any, str], num_outputs: int, source: str) -> list[str]:
    """Labels in output order from an ``{index: label}`` mapping covering 0..num_outputs-1."""
    by_index = {int(index): label for index, label in id_to_label.items()}
    if sorted(by_index) != list(range(num_outputs)):
        raise LabelSpaceError(
            f"{source}: expected labels for outputs 0..{num_outputs - 1}, got {len(by_index)} "
            f"labels with indices {sorted(by_index)[:5]}..."
        )
    return [by_index[index] for index in range(num_outputs)]


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


# ---------------------------------------------------------------------------------------------
# Finding and reading the model


@dataclass(frozen=True)
class ModelSource:
    """Where a model is and what its ``config.json`` says, read once before choosing a loader.

    For a Hub id, ``revision`` is the commit the requested revision resolved to, and every file
    is loaded at that commit; for a local folder it is None.
    """

    model_id: str
    location: str
    revision: str | None
    config: Mapping[str, Any]
    is_local: bool


def local_model_folder(model_id: str) -> Path | None:
    """The folder ``model_id`` names, or None (a Hub id, a missing path, or a name longer than
    the file system allows, which names no folder either)."""
    path = Path(model_id).expanduser()
    try:
        return path if path.is_dir() else None
    except OSError:
        return None


def _names_a_path(model_id: str) -> bool:
    """Written as a path, or naming something on disk: never a Hub id."""
    try:
        exists = Path(model_id).expanduser().exists()
    except OSError:
        exists = False
    return exists or model_id.startswith(("/", ".", "~"))


def model_problem(model_id: str, revision: str | None = None) -> str | None:
    """Why ``model_id`` cannot be loaded, found without loading anything, or None: a path that
    is not a model folder, a name that is no Hub id, or (with ``HF_HUB_OFFLINE=1``) a Hub model
    missing from the local cache. A launch checks every model with it before any runs."""
    shown = brief_repr(model_id)
    folder = local_model_folder(model_id)
    if folder is not None:
        if revision is not None:
            return (
                f"revision={brief_repr(revision)} was given for the local folder {shown}; "
                "revisions apply to Hub model ids only"
            )
        if not (folder / "config.json").is_file():
            return f"the model folder {shown} has no config.json"
        return None
    if _names_a_path(model_id):
        return (
            f"{shown} is not a model folder; expected a folder with config.json or a Hub model "
            "id such as 'google/vit-base-patch16-224'"
        )
    try:
        validate_repo_id(model_id)
    except HFValidationError:
        return (
            f"{shown} is neither a local model folder nor a Hub model id (ORG/NAME of letters, "
            "digits, '-', '_' and '.', at most 96 characters)"
        )
    if huggingface_hub.constants.HF_HUB_OFFLINE and not _in_hub_cache(model_id, revision):
        return (
            f"the Hub model {shown} (revision {brief_repr(revision)}) is not in the local Hugging "
            "Face cache, and HF_HUB_OFFLINE=1 forbids downloading it"
        )
    return None


def _in_hub_cache(model_id: str, revision: str | None) -> bool:
    cached = try_to_load_from_cache(model_id, "config.json", revision=revision)
    return isinstance(cached, str)


def resolve_model_source(model_id: str, revision: str | None = None) -> ModelSource:
    """Read ``config.json`` of a local folder or a Hub model (through the Hub cache, so it works
    offline for cached models) and pin a Hub model to a commit."""
    problem = model_problem(model_id, revision)
    if problem is not None:
        raise ModelLoadError(problem)
    folder = local_model_folder(model_id)
    if folder is not None:
        config = _read_json(folder / "config.json", model_id)
        return ModelSource(model_id, str(folder), None, config, True)
    try:
        config_file = hf_hub_download(model_id, "config.json", revision=revision)
    except (OSError, EntryNotFoundError, HFValidationError) as err:
        raise ModelLoadError(
            f"cannot read config.json of the Hub model {model_id!r} (revision {revision!r}): {err}"
        ) from err
    match = _SNAPSHOT_COMMIT.search(Path(config_file).as_posix())
    commit = match.group(1) if match else revision
    return ModelSource(model_id, model_id, commit, _read_json(Path(config_file), model_id), False)


def _read_json(path: Path, model_id: str) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ModelLoadError(f"{model_id}: config.json is not valid JSON: {err}") from err
    if not isinstance(config, dict):
        raise ModelLoadError(
            f"{model_id}: config.json holds {type(config).__name__}, not an object"
        )
    return config


def detect_kind(config: Mapping[str, Any]) -> str:
    """The adapter kind for a ``config.json``: timm's layout (``architecture``, no
    ``model_type``) -> ``timm``; an ``*ForImageClassification`` architecture -> ``transformers``;
    CLIP/SigLIP -> ``zero-shot``; any other transformers model_type -> ``transformers``."""
    model_type = config.get("model_type")
    if model_type is None:
        if "architecture" in config:
            return "timm"
        raise ModelLoadError(
            "config.json has neither 'model_type' (transformers) nor 'architecture' (timm); "
            f"pass kind= one of {', '.join(KINDS)}"
        )
    architectures = config.get("architectures") or []
    if any(str(name).endswith("ForImageClassification") for name in architectures):
        return "transformers"
    if model_type in ZERO_SHOT_MODEL_TYPES:
        return "zero-shot"
    return "transformers"


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


# ---------------------------------------------------------------------------------------------
# Adapters


class ModelAdapter(abc.ABC):
    """A loaded model with everything the evaluation loop needs.

    - ``preprocess(image) -> CHW float tensor``: picklable, CPU-only (runs in DataLoader workers).
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
    ) -> None:
        self.model_id = model_id
        self.revision = revision
        self.module = module
        self.preprocess = preprocess
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
        try:
            model, loading_info = AutoModelForImageClassification.from_pretrained(
                source.location, dtype=torch.float32, output_loading_info=True, **kwargs
            )
            image_processor = AutoImageProcessor.from_pretrained(source.location, **kwargs)
        except pickle.UnpicklingError as err:
            raise _unsafe_weights(source, err) from err
        except (OSError, ValueError, KeyError) as err:
            raise ModelLoadError(
                f"transformers cannot load {source.model_id!r} as an image classifier "
                f"(AutoModelForImageClassification + AutoImageProcessor): {err}"
            ) from err
        missing = sorted(loading_info.get("missing_keys") or [])
        if missing:
            raise ModelLoadError(
                f"{source.model_id}: the checkpoint lacks weights {missing[:5]} "
                f"({len(missing)} in all), which would be left random"
            )
        num_outputs = model.config.num_labels
        labels = _ordered_labels(model.config.id2label, num_outputs, f"{source.model_id} id2label")
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
            label_names = _ordered_labels(label_names, num_outputs, f"{model_id} label_names")
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

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        image_embeds = _pooled(self.model.get_image_features(pixel_values=pixel_values))
        image_embeds = image_embeds / image_embeds.norm(p=2, dim=-1, keepdim=True)
        logits = image_embeds @ self.text_embeds.t() * self.model.logit_scale.exp()
        logit_bias = getattr(self.model, "logit_bias", None)
        return logits if logit_bias is None else logits + logit_bias


def _pooled(features: Any) -> torch.Tensor:
    """transformers 5 returns a model output whose ``pooler_output`` is the projected embedding;
    earlier versions return the tensor itself."""
    return features if isinstance(features, torch.Tensor) else features.pooler_output


class ZeroShotAdapter(ModelAdapter):
    """CLIP/SigLIP zero-shot classification over text prompts per ImageNet class."""

    kind = "zero-shot"

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
        try:
            model = AutoModelForZeroShotImageClassification.from_pretrained(
                source.location, dtype=torch.float32, **kwargs
            )
            processor = AutoProcessor.from_pretrained(source.location, **kwargs)
        except pickle.UnpicklingError as err:
            raise _unsafe_weights(source, err) from err
        except (OSError, ValueError, KeyError) as err:
            raise ModelLoadError(
                f"transformers cannot load {source.model_id!r} as a zero-shot image classifier "
                f"(AutoModelForZeroShotImageClassification + AutoProcessor): {err}"
            ) from err
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
        text_embeds = _class_embeddings(
            model, processor.tokenizer, class_prompts, padding, max_length
        )
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
        return cls(
            model_id=source.model_id,
            revision=source.revision,
            module=ZeroShotClassifier(model, text_embeds),
            preprocess=preprocess,
            preprocessing=_processor_preprocessing(
                processor.image_processor, preprocess, source.model_id
            ),
            label_space=label_space,
        )

    def model_outputs(self, module: torch.nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
        return module(pixel_values)


@torch.no_grad()
def _class_embeddings(
    model: torch.nn.Module,
    tokenizer: Any,
    prompts: ZeroShotPrompts,
    padding: str,
    max_length: int,
) -> torch.Tensor:
    """(1000, D) class embeddings: the mean of the L2-normalised embeddings of a class's prompts,
    normalised again (the CLIP paper's prompt ensembling); with one template, that prompt's
    normalised embedding. A few classes per batch, so memory stays (1000, D)."""
    num_templates = len(prompts.templates)
    classes_per_batch = max(1, _PROMPT_BATCH_SIZE // num_templates)
    embeddings = []
    for start in range(0, NUM_CLASSES, classes_per_batch):
        indices = range(start, min(start + classes_per_batch, NUM_CLASSES))
        texts = [prompt for index in indices for prompt in prompts.of_class(index)]
        per_prompt = _encode_prompts(model, tokenizer, texts, padding, max_length)
        mean = per_prompt.view(len(indices), num_templates, -1).mean(dim=1)
        embeddings.append(mean / mean.norm(p=2, dim=-1, keepdim=True))
    return torch.cat(embeddings)


@torch.no_grad()
def _encode_prompts(
    model: torch.nn.Module, tokenizer: Any, prompts: list[str], padding: str, max_length: int
) -> torch.Tensor:
    """Normalised text embeddings of ``prompts``, batched, on the model's device. Prompts are
    never truncated: one longer than the text tower's context is an error."""
    device = next(model.parameters()).device
    embeddings = []
    for start in range(0, len(prompts), _PROMPT_BATCH_SIZE):
        tokens = tokenizer(
            prompts[start : start + _PROMPT_BATCH_SIZE],
            padding=padding,
            max_length=max_length,
            truncation=False,
            return_tensors="pt",
        )
        if tokens["input_ids"].shape[1] > max_length:
            raise ModelLoadError(
                f"a zero-shot prompt needs {tokens['input_ids'].shape[1]} tokens, more than the "
                f"text encoder's {max_length}"
            )
        inputs = {
            key: tokens[key].to(device) for key in ("input_ids", "attention_mask") if key in tokens
        }
        text_embeds = _pooled(model.get_text_features(**inputs))
        embeddings.append(text_embeds / text_embeds.norm(p=2, dim=-1, keepdim=True))
    return torch.cat(embeddings)


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
    _check_prompt_style(zero_shot_prompts)
    source = resolve_model_source(model_id, revision)
    chosen = kind or detect_kind(source.config)
    options = {"prompts": zero_shot_prompts} if chosen == ZeroShotAdapter.kind else {}
    return ADAPTERS[chosen].load(
        source, trust_remote_code=trust_remote_code, device=torch.device(device), **options
    )

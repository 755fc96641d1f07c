"""`sweep plan`: the manifest of the classifiers to score, from the installed timm registry
(offline), from a models file, or from a Hub search (online).

Each model gets its geometry (how it resizes and crops) and an estimated cost when they can be
known without downloading weights: timm's pretrained configs hold the input size, crop, crop mode
and interpolation (read as timm's ``validate.py`` resolves them, with the test size), and the
number of classes, which says whether the head is ImageNet-1k's. A model that cannot be scored
is listed as skipped, with the reason: no classifier head, another label set's head (timm's
12k/22k pretraining heads), a label space the adapters cannot map, weights not in timm's Hub
layout, another library. Nothing here imports the models' code (transformers); timm's registry
imports timm.
"""

from __future__ import annotations

import fnmatch
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ...dataset_script.json_input import JsonInputError, read_json
from ...metric.errors import ToolkitError, named, shorten
from ..choices import PLAN_SOURCES, check_choice
from ..frame import FILE, Read, Write, command
from .manifest import ManifestEntry, write_manifest

IMAGENET_1K = "imagenet-1k"
_REFERENCE_PIXELS = 224 * 224
_REFERENCE_PARAMETERS = 25_000_000  # a ResNet-50
# The geometry a timm data config resolves to: what decides the uint8 pixels a model sees.
_TIMM_GEOMETRY = ("input_size", "crop_pct", "crop_mode", "interpolation")
# The keys of a transformers image processor's config that decide its geometry.
_PROCESSOR_GEOMETRY = (
    "image_processor_type",
    "do_resize",
    "size",
    "resample",
    "do_center_crop",
    "crop_size",
    "crop_pct",
)


def matches(names: Iterable[str], patterns: Sequence[str]) -> bool:
    """Whether any of ``names`` matches any glob of ``patterns`` (no patterns: all match)."""
    return not patterns or any(fnmatch.fnmatchcase(n, p) for n in names for p in patterns)


def plan_from_timm(patterns: Sequence[str] = ()) -> list[ManifestEntry]:
    """Every pretrained tag of the installed timm whose tag or Hub id matches ``patterns``."""
    import timm
    from timm.models import get_pretrained_cfg

    entries = []
    for tag in timm.list_pretrained():
        config = get_pretrained_cfg(tag).to_dict()
        model = config.get("hf_hub_id") or tag
        if matches((tag, model), patterns):
            entries.append(_timm_entry(model, config))
    return entries


def _timm_entry(model: str, config: Mapping[str, Any], **known: Any) -> ManifestEntry:
    """A timm model from its registry entry; ``known``: what a Hub search also says."""
    geometry = timm_geometry(config)
    cost = _cost(geometry["input_size"], known.get("parameters"))
    skipped = _registry_skip_reason(config) or _head_skip_reason(config, model)
    return ManifestEntry(model, known.get("revision"), "timm", geometry, cost, skipped)


def timm_geometry(config: Mapping[str, Any]) -> dict[str, Any]:
    """Input size, crop and interpolation as ``resolve_input_data_config(model,
    use_test_size=True)`` resolves them from a pretrained config (the adapter's call)."""
    from timm.data import resolve_data_config

    data = resolve_data_config(pretrained_cfg=dict(config), use_test_size=True)
    geometry = {name: data[name] for name in _TIMM_GEOMETRY}
    geometry["input_size"] = [int(size) for size in data["input_size"][-2:]]
    return geometry


def _cost(input_size: Sequence[int], parameters: int | None) -> float:
    """Relative to a ResNet-50 at 224x224: the pixels, times the parameters where known."""
    height, width = input_size
    cost = height * width / _REFERENCE_PIXELS
    if parameters:
        cost *= parameters / _REFERENCE_PARAMETERS
    return round(max(cost, 1e-3), 3)


def _registry_skip_reason(config: Mapping[str, Any]) -> str | None:
    """Why a registry entry cannot be loaded from the Hub as timm's layout, or None."""
    if not config.get("hf_hub_id"):
        return "not on the Hugging Face Hub: timm's registry names no hf_hub_id for it"
    if config.get("hf_hub_filename"):
        return (
            f"not timm's Hub layout: its weights are {config['hf_hub_filename']} in "
            f"{config['hf_hub_id']}"
        )
    return None


def _head_skip_reason(config: Mapping[str, Any], model: str) -> str | None:
    """Why a timm head (``num_classes``, ``label_names``) is not ImageNet-1k's as the adapter
    maps it (`models.kinds.timm`), or None."""
    from timm.data import infer_imagenet_subset

    classes = config.get("num_classes")
    if not classes:
        return "no classifier head: num_classes 0 (an image encoder or pretraining checkpoint)"
    if config.get("label_names"):
        return label_space_problem(list(config["label_names"]), f"{model} label_names")
    subset = infer_imagenet_subset({"num_classes": classes})
    if subset is None:
        return (
            f"label space not mappable: {classes:,} outputs without label names, and timm knows "
            "no ImageNet label set of that size"
        )
    if subset != IMAGENET_1K:
        return f"no ImageNet-1k head: a {subset} head of {classes:,} classes"
    return None


def label_space_problem(labels: Sequence[str], source: str) -> str | None:
    """Why the model kinds cannot map these output labels onto the 1,000 classes, or None."""
    from ..models.label_space import LabelSpaceError, map_labels

    try:
        map_labels(labels, source=source)
    except LabelSpaceError as error:
        return f"label space not mappable: {shorten(str(error))}"
    return None


def plan_from_list(path: str | os.PathLike, patterns: Sequence[str] = ()) -> list[ManifestEntry]:
    """The models of a ``--models`` file (`read_models_file`'s format), each with what its
    config says where it can be read without downloading (a local folder, the Hub cache); a
    line naming no model folder and no Hub id is skipped, saying why."""
    from ..engine.sweep import read_models_file
    from ..models import model_problem

    entries = []
    for spec in read_models_file(path):
        if not matches((spec.model,), patterns):
            continue
        problem = model_problem(spec.model, spec.revision, check_cache=False)
        if problem is not None:
            reason = f"not a model: {problem}"
            entries.append(ManifestEntry(spec.model, spec.revision, spec.kind, skipped=reason))
            continue
        config = _local_json(spec.model, spec.revision, "config.json")
        entries.append(_configured_entry(spec.model, spec.revision, spec.kind, config))
    return entries


def _configured_entry(
    model: str, revision: str | None, kind: str | None, config: Mapping[str, Any] | None
) -> ManifestEntry:
    """A model whose ``config.json`` may be known: its kind, geometry and label space from it."""
    from ..models import ModelLoadError, detect_kind

    if config is None:  # not downloaded (or no model there): known when it loads
        return ManifestEntry(model, revision, kind)
    try:
        kind = kind or detect_kind(config)
    except ModelLoadError as error:
        return ManifestEntry(model, revision, skipped=f"not a model: {error}")
    if kind == "timm" or "pretrained_cfg" in config:  # timm, or transformers' timm_wrapper
        geometry = timm_geometry(config.get("pretrained_cfg", {}))
        cost = _cost(geometry["input_size"], None)
        return ManifestEntry(
            model, revision, kind, geometry, cost, _head_skip_reason(config, model)
        )
    if kind == "zero-shot":
        return ManifestEntry(model, revision, kind)
    labels = config.get("id2label") or {}
    ordered = [labels[key] for key in sorted(labels, key=int)] if labels else []
    processor = _local_json(model, revision, "preprocessor_config.json") or {}
    geometry = {key: processor[key] for key in _PROCESSOR_GEOMETRY if key in processor} or None
    skipped = label_space_problem(ordered, f"{model} id2label")
    cost = _cost(_processor_input_size(processor), None)
    return ManifestEntry(model, revision, kind, geometry, cost, skipped)


def _processor_input_size(processor: Mapping[str, Any]) -> tuple[int, int]:
    """The pixels a processor's config gives the model (its crop, else its size), for the
    cost; 224x224 when it does not say."""
    for key in ("crop_size", "size"):
        size = processor.get(key)
        if isinstance(size, dict) and size.get("height") and size.get("width"):
            return int(size["height"]), int(size["width"])
        if isinstance(size, dict) and size.get("shortest_edge"):
            return int(size["shortest_edge"]), int(size["shortest_edge"])
        if isinstance(size, int):
            return size, size
    return 224, 224


def _local_json(model: str, revision: str | None, file_name: str) -> dict[str, Any] | None:
    """A model's JSON file from its folder or the Hub cache, never downloaded; None if absent
    or unreadable (the model's load says why)."""
    from huggingface_hub import try_to_load_from_cache

    from ..models import local_model_folder

    folder = local_model_folder(model)
    if folder is not None:
        path: Any = folder / file_name
    else:
        path = try_to_load_from_cache(model, file_name, revision=revision)
    if not isinstance(path, str | Path) or not Path(path).is_file():
        return None
    try:
        return read_json(path, file_name, "a JSON object", top=dict)
    except JsonInputError:
        return None


def plan_from_hub(patterns: Sequence[str] = ()) -> list[ManifestEntry]:
    """The Hub's image classifiers trained on ImageNet-1k (``list_models`` with
    ``pipeline_tag="image-classification"``, ``trained_dataset="imagenet-1k"``), each pinned to
    the commit listed; timm models take their geometry and head from the installed registry."""
    import huggingface_hub.constants
    from huggingface_hub import HfApi

    if huggingface_hub.constants.HF_HUB_OFFLINE:
        raise ToolkitError(
            "--from hub searches the Hugging Face Hub, which HF_HUB_OFFLINE=1 forbids; offline, "
            "plan --from timm (the installed registry) or --from list --models FILE"
        )
    try:
        found = list(
            HfApi().list_models(
                pipeline_tag="image-classification",
                trained_dataset=IMAGENET_1K,
                expand=["library_name", "safetensors", "sha"],
            )
        )
    except OSError as error:  # requests' and httpx's errors are OSErrors
        raise ToolkitError(f"cannot search the Hugging Face Hub: {shorten(str(error))}") from error
    registry = _timm_registry()
    return [_hub_entry(info, registry) for info in found if matches((info.id,), patterns)]


def _timm_registry() -> dict[str, dict[str, Any]]:
    """The installed timm's pretrained configs by Hub id."""
    import timm
    from timm.models import get_pretrained_cfg

    configs = (get_pretrained_cfg(tag).to_dict() for tag in timm.list_pretrained())
    return {config["hf_hub_id"]: config for config in configs if config.get("hf_hub_id")}


def _hub_entry(info: Any, registry: Mapping[str, Mapping[str, Any]]) -> ManifestEntry:
    """One model a Hub search listed."""
    safetensors = getattr(info, "safetensors", None)
    parameters = getattr(safetensors, "total", None)
    library = getattr(info, "library_name", None)
    if library == "timm" and info.id in registry:
        return _timm_entry(info.id, registry[info.id], revision=info.sha, parameters=parameters)
    if library not in ("timm", "transformers"):
        reason = f"library {library or 'unknown'}: not a transformers or timm model"
        return ManifestEntry(info.id, info.sha, skipped=reason)
    cost = round(parameters / _REFERENCE_PARAMETERS, 3) if parameters else 1.0
    return ManifestEntry(info.id, info.sha, library, cost=max(cost, 1e-3))


def plan_summary(entries: Sequence[ManifestEntry]) -> str:
    """What a plan holds: models to score, geometries, and the skipped ones by reason."""
    scored = [entry for entry in entries if entry.skipped is None]
    geometries = Counter(entry.geometry_key for entry in scored if entry.geometry is not None)
    common = sum(count for _, count in geometries.most_common(12))
    unknown = sum(entry.geometry is None for entry in scored)
    lines = [
        f"{len(scored):,} model(s) to score in {len(geometries):,} geometries (the "
        f"{min(12, len(geometries))} most common cover {common:,})"
        + (f"; {unknown:,} of unknown geometry until they load" if unknown else "")
    ]
    reasons = Counter(entry.skipped.split(":")[0] for entry in entries if entry.skipped)
    if reasons:
        lines.append(
            f"{sum(reasons.values()):,} skipped: "
            + "; ".join(f"{count:,} {reason}" for reason, count in reasons.most_common())
        )
    return "\n".join(lines)


@command(
    Read("models", FILE, expected="a models file: one model a line"),
    Write("output", FILE),
    plain=("patterns", "source"),
)
def write_plan(
    patterns: Sequence[str] = (),
    *,
    source: str = "timm",
    models: str | os.PathLike | None = None,
    output: str | os.PathLike = "manifest.jsonl",
) -> list[ManifestEntry]:
    """`sweep plan`: the manifest of the models of ``source`` (the installed timm registry, a Hub
    search, or the models file ``models``) matching ``patterns``, written to ``output``."""
    check_choice(source, "source", PLAN_SOURCES)
    if (source == "list") != (models is not None):
        raise ToolkitError(
            f"{named('models')} goes with {named('source', 'list')}, and "
            f"{named('source', 'list')} needs it"
        )
    if source == "timm":
        entries = plan_from_timm(patterns)
    elif source == "hub":
        entries = plan_from_hub(patterns)
    else:
        entries = plan_from_list(models, patterns)
    if not entries:
        raise ToolkitError(
            f"no model of {named('source', source)} matches {' '.join(patterns)!r}; nothing was "
            "written"
        )
    write_manifest(output, entries)
    return entries

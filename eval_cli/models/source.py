"""Finding and reading a model before choosing a loader: a local folder or a Hub id (pinned to a
commit, read through the Hub cache so cached models work offline) and its ``config.json``, from
which `models.kinds` picks the kind."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import huggingface_hub.constants
from huggingface_hub import hf_hub_download, try_to_load_from_cache
from huggingface_hub.errors import EntryNotFoundError, HFValidationError

from ...dataset_script.hub.ids import hub_model_id, model_id_problem, names_a_path
from ...dataset_script.json_input import read_json
from ...metric.errors import brief_repr
from .errors import ModelLoadError

__all__ = [
    "ModelSource",
    "hub_model_id",
    "local_model_folder",
    "model_id_problem",
    "model_problem",
    "resolve_model_source",
]

_SNAPSHOT_COMMIT = re.compile(r"/snapshots/([0-9a-f]{40})/")


@dataclass(frozen=True)
class ModelSource:
    """Where a model is and what its ``config.json`` says, read once before choosing a loader.

    For a Hub id, ``revision`` is the commit the requested revision resolved to, and every file
    is loaded at that commit; for a local folder it is None, and ``model_id`` is the folder's
    absolute path.
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
    except (OSError, ValueError):  # a name too long, a NUL
        return None


def model_problem(
    model_id: str, revision: str | None = None, *, check_cache: bool = True
) -> str | None:
    """Why ``model_id`` cannot be loaded, found without loading anything, or None: a path that
    is not a model folder, a name that is no model (`model_id_problem`), or (with
    ``HF_HUB_OFFLINE=1`` and ``check_cache``) a Hub model missing from the local cache. A launch
    checks every model with it before any runs; a sweep's plan, made offline for a run
    elsewhere, skips the cache."""
    problem = model_id_problem(model_id)
    if problem is not None:
        return problem
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
    if names_a_path(model_id):
        return (
            f"{shown} is not a model folder; expected a folder with config.json or a Hub model "
            "id such as 'google/vit-base-patch16-224'"
        )
    offline = huggingface_hub.constants.HF_HUB_OFFLINE
    if check_cache and offline and not _in_hub_cache(model_id, revision):
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
        # Recorded resolved: the results name the folder itself, readable from any directory
        # (and public text cuts it to the folder's name wherever it is read).
        resolved = str(folder.resolve())
        config = _read_json(folder / "config.json", model_id)
        return ModelSource(resolved, resolved, None, config, True)
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
    named = f"the config.json of {model_id!r}"
    expected = "a model's configuration, a JSON object"
    return read_json(path, named, expected, top=dict, error=ModelLoadError)

"""Loading a model's files through its library, guarded: code from a model's repository runs only
when the user trusts it, pickled weights only through the safe loader (``weights_only=True``),
and the libraries' loading errors become `ModelLoadError`s that name the model."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from safetensors import SafetensorError  # a weights file that is not safetensors (transformers')

from ...metric.errors import named
from .errors import ModelLoadError
from .source import ModelSource

__all__ = ["check_remote_code", "loading_kwargs", "transformers_loading", "unsafe_weights"]


def check_remote_code(source: ModelSource, trust_remote_code: bool) -> None:
    """Refuse, with a clear message, a model whose classes live in its repository unless the
    user trusts that code; a model_type transformers knows runs transformers' own code."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if trust_remote_code or source.config.get("model_type") in CONFIG_MAPPING:
        return
    if source.config.get("auto_map"):
        raise ModelLoadError(
            f"{source.model_id} needs custom code from its repository (config.json auto_map: "
            f"{dict(source.config['auto_map'])}); load it with "
            f"{named('trust_remote_code', True)} only if you trust that code"
        )


def loading_kwargs(source: ModelSource, trust_remote_code: bool) -> dict[str, Any]:
    """transformers' ``from_pretrained`` keywords: the pinned commit and the user's trust."""
    return {"revision": source.revision, "trust_remote_code": trust_remote_code}


def unsafe_weights(source: ModelSource, error: pickle.UnpicklingError) -> ModelLoadError:
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
def transformers_loading(source: ModelSource, what: str) -> Iterator[None]:
    """transformers' loading errors as `ModelLoadError`s naming the model and ``what`` it was
    loaded as; pickled weights the safe loader refused as `unsafe_weights`."""
    try:
        yield
    except pickle.UnpicklingError as err:
        raise unsafe_weights(source, err) from err
    except (OSError, ValueError, KeyError, SafetensorError) as err:
        raise ModelLoadError(
            f"transformers cannot load {source.model_id!r} as {what}: {err}"
        ) from err
    except RecursionError:  # a JSON file of it (preprocessor_config.json) nested too deeply
        raise ModelLoadError(
            f"transformers cannot load {source.model_id!r} as {what}: one of its JSON files is "
            "nested too deeply to be a configuration"
        ) from None

"""The values that options take, named once for the command line's choices and for the code that
checks them (`RunOptions`, `ModelSpec`, the model loaders), and the rules between the scoring
options that `score` and `run` share. Imports no torch, so that the command line offers the same
choices as the code without loading it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..dataset_script.label_sets import (
    LABEL_SPLITS,
    SPLIT_CHOICES,
    check_label_set_files,
    copy_parameter,
)
from ..dataset_script.label_sets import chosen_splits as chosen_splits
from ..metric.errors import ToolkitError, brief_repr, expect_items, expect_path, named
from ..metric.label_sets import FULL_SPLIT

__all__ = [
    "FULL_SPLIT",
    "LABEL_SPLITS",
    "LABEL_SPLIT_CHOICES",
    "SPLIT_CHOICES",
    "chosen_splits",
]

# The splits but `full` (with `all`, every one of them): what `analyze` scores.
LABEL_SPLIT_CHOICES = tuple(choice for choice in SPLIT_CHOICES if choice != FULL_SPLIT)
# The registry of model kinds, by the names `--model-kind` takes, in the order in which they claim
# a config.json; each is the module of `eval_cli/models/kinds/` named after it (`-` as `_`).
MODEL_KINDS = (
    "transformers",
    "timm",
    "zero-shot",
)
ZERO_SHOT_PROMPTS = ("ensemble", "single")
MIXED_PRECISIONS = ("no", "fp16", "bf16")
PLACES = ("cpu", "device")  # where images are resized, cropped and decoded
# Where `sweep plan` finds its models: the installed timm registry, a Hub search, a models file.
PLAN_SOURCES = ("timm", "hub", "list")
# The CLIP-like model that judges the taxonomy's image rules when none is named
# (`eval_cli.models.categorizer`, which imports torch).
DEFAULT_CATEGORIZER_MODEL = "openai/clip-vit-large-patch14"


def check_choice(value: object, parameter: str, choices: tuple[str, ...]) -> None:
    """``value`` is one of ``choices``, or an error naming ``parameter`` as its caller wrote it."""
    if value not in choices:
        raise ToolkitError(
            f"{named(parameter)}: expected one of {', '.join(choices)}, got {brief_repr(value)}"
        )


def label_set_options(files: Any, allowed: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``label_set_files`` (a mapping of label set name to path) and
    ``allow_unverified_label_set_files`` (label set names), checked for their types: the mapping
    and the names as a tuple."""
    if files is None:
        files = {}
    if not isinstance(files, Mapping):
        raise ToolkitError(
            f"{named('label_set_files')}: expected a mapping of label set name to path, got "
            f"{brief_repr(files)}"
        )
    for name, path in files.items():
        expect_path(path, copy_parameter(name))
    names = expect_items(allowed, "allow_unverified_label_set_files", (str,), "a label set name")
    return dict(files), names


def check_split_options(
    split: str,
    label_set_files: Mapping[str, Any],
    allow_unverified_label_set_files: tuple[str, ...],
    choices: tuple[str, ...] = SPLIT_CHOICES,
) -> None:
    """What is scored: a known split, and another copy of a label set's file (or its
    acceptance unverified) only for a set that reads one and that the split scores (given
    otherwise the option would be silently ignored)."""
    check_choice(split, "split", choices)
    check_label_set_files(chosen_splits(split), label_set_files, allow_unverified_label_set_files)

"""Reading a dataset card's ``configs`` back: the one reader of a built folder's README.md, for
the labels it declares (`labels.dataset`) and the images a push would publish (`push_dataset`).
A card is an input like any other: unreadable text, broken or hostile YAML, or configs of the
wrong shape are one error naming the card, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import DatasetCard

from ...metric.errors import ToolkitError, brief_repr


def card_configs(readme: Path, source: str, error: type[ToolkitError]) -> list[dict[str, Any]]:
    """The ``configs`` list of the card ``readme`` of ``source`` (empty when it declares none),
    each a mapping; anything else is ``error``."""
    try:
        configs = DatasetCard.load(readme).data.to_dict().get("configs") or []
    except (OSError, ValueError, yaml.YAMLError) as problem:  # UnicodeDecodeError: a ValueError
        raise error(f"{source!r}: its card README.md cannot be read: {problem}") from None
    except RecursionError:
        raise error(f"{source!r}: its card README.md is YAML nested too deeply to read") from None
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise error(
            f"{source!r}: its card's configs are {brief_repr(configs)}; expected a list of "
            "configs (as `imagenet-multilabel build` writes them)"
        )
    return configs

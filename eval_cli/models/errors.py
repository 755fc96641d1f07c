"""The two ways a model can fail to become an adapter: it cannot be loaded, or its outputs cannot
be mapped onto the 1,000 ImageNet classes."""

from __future__ import annotations

from ...metric.errors import ToolkitError

__all__ = ["LabelSpaceError", "ModelLoadError"]


class ModelLoadError(ToolkitError):
    """The model cannot be loaded as asked (missing files, unknown kind, custom code not trusted,
    missing weights, unsupported input format)."""


class LabelSpaceError(ToolkitError):
    """The model's outputs cannot be mapped onto the 1,000 ImageNet classes."""

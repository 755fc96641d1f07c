"""The commands' work: scoring files, running models, analysis, comparison, outputs, the CLI."""

from importlib import metadata

try:
    __version__ = metadata.version("imagenet-multilabel")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

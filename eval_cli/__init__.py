"""The commands' work: scoring files, running models, analysis, comparison, outputs, the CLI;
and the package's version and the one check that the [run] extra is installed (light, as
``import imagenet_multilabel`` reads them)."""

from importlib import metadata
from importlib.util import find_spec

from ..metric.errors import ToolkitError

try:
    __version__ = metadata.version("imagenet-multilabel")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
# The import names of pyproject.toml's [run] extra: `run` needs them, nothing else does.
RUN_EXTRA_PACKAGES = ("torch", "torchvision", "transformers", "timm", "accelerate", "sentencepiece")


def require_run_extra(what: str) -> None:
    """Refuse ``what`` (a command or an API name) when a package of the [run] extra is missing."""
    missing = [name for name in RUN_EXTRA_PACKAGES if find_spec(name) is None]
    if missing:
        raise ToolkitError(
            f'{what} needs the [run] extra: pip install "imagenet-multilabel[run]" '
            f"(not installed: {', '.join(missing)})"
        )

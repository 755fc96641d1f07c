"""How `run` evaluates: `RunOptions`, one frozen object from the command line or from keywords.

Every option of a run (the split, compute, image check, output, push) is named once here, as the
API spells it; the CLI flag is the same name with dashes. The checks between options live here,
so that the API refuses what the CLI refuses, each error naming what its caller used. Also the
one check that the [run] extra is installed. Imports no torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any

from ...metric.errors import (
    ToolkitError,
    brief_repr,
    expect_flag,
    expect_items,
    expect_path,
    expect_text,
)

# The import names of pyproject.toml's [run] extra: `run` needs them, nothing else does.
RUN_EXTRA_PACKAGES = ("torch", "torchvision", "transformers", "timm", "accelerate", "sentencepiece")
MIXED_PRECISIONS = ("no", "fp16", "bf16")
# Where images are resized/cropped and where JPEGs are decoded (`eval_cli.loader`).
PLACES = ("cpu", "device")
# (option, the option it only applies with): given alone it would be silently ignored.
_NEEDS = (("dry_run", "push_to_hub"), ("hub_repo_id", "push_to_hub"))
# The options that are True or False (a truthy "no" must not switch one on).
_FLAGS = (
    "skip_image_check",
    "trust_remote_code",
    "channels_last",
    "compile",
    "cpu",
    "push_to_hub",
    "dry_run",
)


def require_run_extra(what: str) -> None:
    """Refuse ``what`` (a command or an API name) when a package of the [run] extra is missing."""
    missing = [name for name in RUN_EXTRA_PACKAGES if find_spec(name) is None]
    if missing:
        raise ToolkitError(
            f'{what} needs the [run] extra: pip install "imagenet-multilabel[run]" '
            f"(not installed: {', '.join(missing)})"
        )


@dataclass(frozen=True)
class RunOptions:
    """How a run evaluates its models; ``RunOptions(batch_size=128, cpu=True)`` or
    ``RunOptions.from_cli(args)``.

    ``split``: the split(s) scored (``full``: every label set, all 50,000 images too);
    ``label_set_files``: another copy of a label set's file, by set name, and
    ``allow_unverified_label_set_files`` the sets whose copy may differ from the published file;
    ``limit``: the first N images of each split only (results marked partial);
    ``preprocess_on``: where images are resized and cropped: ``cpu`` (DataLoader workers, the
    model's own ops; uint8 goes to the device, normalised there) or ``device`` (workers only
    decode; Pillow-exact resizing on the device); None means ``device`` with
    ``decode_on="device"``, else ``cpu``. ``decode_on``: ``device`` decodes JPEGs in batches on
    the device (nvJPEG on CUDA: approximate, never official); ``decoded_cache``: a folder where
    the images are decoded once and read back by every model and every launch on the machine
    (`decoded_cache`);
    ``output_dir``: the run's folder (default ``eval_results/<model name>``), or with several
    models the parent of one folder per model; ``push_to_hub``: a pull request with the results on
    the model's Hub page (``hub_repo_id`` for a local model; ``dry_run`` prints it instead);
    ``categorizer_model``: a CLIP-like model (Hub id or folder) that judges the automatic
    mistake taxonomy's image rules on the run's images and device when the run is scored
    (`eval_cli.models.categorizer`); None: the image-free rules only.
    """

    split: str = "imagenet_m"
    limit: int | None = None
    images_split: str = "validation"
    skip_image_check: bool = False
    label_set_files: Mapping[str, str | os.PathLike] = dataclasses.field(default_factory=dict)
    allow_unverified_label_set_files: tuple[str, ...] = ()
    trust_remote_code: bool = False
    zero_shot_prompts: str = "ensemble"  # one of eval_cli.models.ZERO_SHOT_PROMPTS
    batch_size: int | str = 64
    num_workers: int = 0
    mixed_precision: str = "no"
    channels_last: bool = False
    preprocess_on: str | None = None
    decode_on: str = "cpu"
    compile: bool = False
    cpu: bool = False
    decoded_cache: str | os.PathLike | None = None
    output_dir: str | os.PathLike | None = None
    push_to_hub: bool = False
    hub_repo_id: str | None = None
    dry_run: bool = False
    categorizer_model: str | None = None

    def __post_init__(self) -> None:
        for name in _FLAGS:
            expect_flag(getattr(self, name), f"RunOptions({name}=...)")
        for name in ("split", "images_split", "zero_shot_prompts"):
            expect_text(getattr(self, name), f"RunOptions({name}=...)")
        for name in ("hub_repo_id", "categorizer_model"):
            expect_text(getattr(self, name), f"RunOptions({name}=...)", optional=True)
        for name in ("output_dir", "decoded_cache"):
            expect_path(getattr(self, name), f"RunOptions({name}=...)", optional=True)
        if not isinstance(self.label_set_files, Mapping):
            raise ToolkitError(
                "label_set_files: expected a mapping of label set name to path, got "
                f"{brief_repr(self.label_set_files)}"
            )
        for name, path in self.label_set_files.items():
            expect_path(path, f"RunOptions(label_set_files[{name!r}]=...)")
        allowed = expect_items(
            self.allow_unverified_label_set_files,
            "RunOptions(allow_unverified_label_set_files=...)",
            (str,),
            "a label set name",
        )
        object.__setattr__(self, "allow_unverified_label_set_files", allowed)
        size = self.batch_size
        if size != "auto" and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise ToolkitError(f"batch_size: expected a positive integer or 'auto', got {size!r}")
        workers = self.num_workers
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
            raise ToolkitError(f"num_workers: expected an integer >= 0, got {brief_repr(workers)}")
        limit = self.limit
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
        ):
            raise ToolkitError(f"limit: expected a positive integer or None, got {limit!r}")
        if self.mixed_precision not in MIXED_PRECISIONS:
            raise ToolkitError(
                f"mixed_precision: expected one of {', '.join(MIXED_PRECISIONS)}, got "
                f"{brief_repr(self.mixed_precision)}"
            )
        for name in ("preprocess_on", "decode_on"):
            value = getattr(self, name)
            if value not in PLACES and not (name == "preprocess_on" and value is None):
                raise ToolkitError(
                    f"{name}: expected one of {', '.join(PLACES)}, got {brief_repr(value)}"
                )
        _check_combinations(dataclasses.asdict(self), lambda name: name)

    @property
    def preprocess_place(self) -> str:
        """Where images are resized and cropped: ``preprocess_on``, or by default where they
        are decoded (pixels decoded on the device stay there)."""
        return self.preprocess_on or self.decode_on

    @classmethod
    def from_cli(cls, args: argparse.Namespace) -> RunOptions:
        """The options of a parsed `run` command line; a refusal names the flags."""
        given = {field.name: getattr(args, field.name) for field in dataclasses.fields(cls)}
        _check_combinations(given, lambda name: f"--{name.replace('_', '-')}")
        return cls(**given)

    def replaced(self, **changes: Any) -> RunOptions:
        """These options with ``changes`` (keywords of the API) applied, checked again."""
        unknown = sorted(set(changes) - {field.name for field in dataclasses.fields(self)})
        if unknown:
            raise ToolkitError(
                f"unknown run option(s) {', '.join(unknown)}; expected RunOptions fields: "
                f"{', '.join(field.name for field in dataclasses.fields(self))}"
            )
        return dataclasses.replace(self, **changes)


def _check_combinations(given: Mapping[str, Any], spelled: Callable[[str], str]) -> None:
    """Options that would otherwise be silently ignored, named as the caller spelled them."""
    for option, needed in _NEEDS:
        if given[option] and not given[needed]:
            raise ToolkitError(f"{spelled(option)} only applies with {spelled(needed)}")
    if given["decode_on"] == "device" and given["preprocess_on"] == "cpu":
        raise ToolkitError(
            f"{spelled('decode_on')} device decodes on the device, where the pixels then stay: "
            f"it implies {spelled('preprocess_on')} device, not cpu"
        )
    if given["decode_on"] == "device" and given["decoded_cache"] is not None:
        raise ToolkitError(
            f"{spelled('decoded_cache')} holds the pixels PIL decoded; {spelled('decode_on')} "
            "device decodes the bytes on the device instead: choose one"
        )

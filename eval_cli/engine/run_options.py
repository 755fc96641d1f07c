"""How `run` evaluates: `RunOptions`, one frozen object built once per command, from the command
line's options or the API's keywords.

Every option of a run (the split, compute, image check, output, push) is named once here, as the
API spells it; the command line's option for it has the same name (``batch_size`` is stored
from ``--batch-size``). Every rule between them lives here, so that the API refuses what the
command line refuses, each error naming the option as its caller wrote it
(`metric.errors.named`). Imports no torch: the choices come from `eval_cli.choices`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...metric.errors import ToolkitError, brief_repr, expect_flag, expect_path, expect_text, named
from ..choices import (
    MIXED_PRECISIONS,
    PLACES,
    ZERO_SHOT_PROMPTS,
    check_choice,
    check_split_options,
    label_set_options,
)

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


@dataclass(frozen=True)
class RunOptions:
    """How a run evaluates its models: ``RunOptions(batch_size=128, cpu=True)``.

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
    zero_shot_prompts: str = ZERO_SHOT_PROMPTS[0]
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
            expect_flag(getattr(self, name), name)
        for name in ("split", "images_split", "zero_shot_prompts"):
            expect_text(getattr(self, name), name)
        for name in ("hub_repo_id", "categorizer_model"):
            expect_text(getattr(self, name), name, optional=True)
        for name in ("output_dir", "decoded_cache"):
            expect_path(getattr(self, name), name, optional=True)
        files, allowed = label_set_options(
            self.label_set_files, self.allow_unverified_label_set_files
        )
        object.__setattr__(self, "label_set_files", files)
        object.__setattr__(self, "allow_unverified_label_set_files", allowed)
        size = self.batch_size
        if size != "auto" and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise ToolkitError(
                f"{named('batch_size')}: expected a positive integer or 'auto', got {size!r}"
            )
        workers = self.num_workers
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
            raise ToolkitError(
                f"{named('num_workers')}: expected an integer >= 0, got {brief_repr(workers)}"
            )
        limit = self.limit
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
        ):
            raise ToolkitError(
                f"{named('limit')}: expected a positive integer or None, got {limit!r}"
            )
        check_choice(self.mixed_precision, "mixed_precision", MIXED_PRECISIONS)
        check_choice(self.zero_shot_prompts, "zero_shot_prompts", ZERO_SHOT_PROMPTS)
        check_choice(self.decode_on, "decode_on", PLACES)
        if self.preprocess_on is not None:
            check_choice(self.preprocess_on, "preprocess_on", PLACES)
        check_split_options(self.split, files, allowed)
        for option, needed in _NEEDS:
            if getattr(self, option) and not getattr(self, needed):
                raise ToolkitError(f"{named(option)} only applies with {named(needed)}")
        if self.decode_on == "device" and self.preprocess_on == "cpu":
            raise ToolkitError(
                f"{named('decode_on')} device decodes on the device, where the pixels then stay: "
                f"it implies {named('preprocess_on')} device, not cpu"
            )
        if self.decode_on == "device" and self.decoded_cache is not None:
            raise ToolkitError(
                f"{named('decoded_cache')} holds the pixels PIL decoded; {named('decode_on')} "
                "device decodes the bytes on the device instead: choose one"
            )

    @property
    def preprocess_place(self) -> str:
        """Where images are resized and cropped: ``preprocess_on``, or by default where they
        are decoded (pixels decoded on the device stay there)."""
        return self.preprocess_on or self.decode_on

    def replaced(self, **changes: Any) -> RunOptions:
        """These options with ``changes`` (keywords of the API) applied, checked again."""
        unknown = sorted(set(changes) - {field.name for field in dataclasses.fields(self)})
        if unknown:
            raise ToolkitError(
                f"unknown run option(s) {', '.join(unknown)}; expected RunOptions fields: "
                f"{', '.join(field.name for field in dataclasses.fields(self))}"
            )
        return dataclasses.replace(self, **changes) if changes else self

    def check_models(self, count: int) -> None:
        """The options that name one model's things, refused for ``count`` models."""
        if self.hub_repo_id is not None and count > 1:
            raise ToolkitError(
                f"{named('hub_repo_id')} names one model's repository; it does not apply to "
                f"{count} models"
            )

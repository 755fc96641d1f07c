"""A launch: what the models of one run or one sweep process share, prepared once (the
processes, the labels, every wanted image located in its source and, with a decoded cache,
decoded once), and the check of every model before anything is created or loaded."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from accelerate import Accelerator

from ...dataset_script.hub.access import PushError
from ...dataset_script.images.choose import open_image_source
from ...dataset_script.images.source import ImageSource
from ...dataset_script.label_sets import LoadedLabelSet, load_label_sets
from ...dataset_script.labels.loading import Labels, LabelSource, resolve_labels
from ...dataset_script.taxonomy.categories import ImageRules
from ...metric.errors import first_few, named
from ..feed.decoded_cache import DecodedCache, open_decoded_cache
from ..models import ModelLoadError, model_problem
from ..scores import results
from ..scores.score import chosen_splits, label_files_of, split_file_names
from .distributed import warn_about_the_setup
from .run_options import RunOptions

if TYPE_CHECKING:
    from .sweep import ModelSpec


@dataclass
class Launch:
    """What the models of one launch share, prepared once: the processes, the labels, the
    images located in their source (and decoded once, with a decoded cache), and (on the main
    process) those whose headers passed."""

    accelerator: Accelerator
    options: RunOptions
    images: str
    source: ImageSource
    labels: Labels
    label_sets: dict[str, LoadedLabelSet]
    splits: tuple[str, ...]
    wanted: list[str]
    # The label files read, recorded so `analyze --run-dir` finds them from any directory (the
    # labels' provenance names each patch by its file name only); None for ready `Labels`.
    label_files: dict[str, Any] | None = None
    decoded: DecodedCache | None = None
    checked: set[str] = field(default_factory=set)
    # The taxonomy's image rules on these images (`RunOptions.categorizer_model`), for scoring.
    image_rules: ImageRules | None = None


def check_models(specs: Sequence[ModelSpec]) -> None:
    """Every model of a launch checked before anything is created or loaded
    (`eval_cli.models.model_problem`): a bad name on a models file's 500th line, or a model
    missing from the cache when offline, stops the launch at once, not after hours of others."""
    problems = [problem for spec in specs if (problem := model_problem(spec.model, spec.revision))]
    if len(problems) == 1 == len(specs):
        raise ModelLoadError(f"{problems[0]}; nothing was run")
    if problems:
        raise ModelLoadError(
            f"{len(problems)} of the {len(specs)} models cannot be evaluated (first: "
            f"{first_few(problems)}); nothing was run"
        )


def open_launch(
    accelerator: Accelerator,
    images: str,
    labels: Labels | LabelSource | None,
    options: RunOptions,
) -> Launch:
    """Labels loaded and every wanted image located (and decoded once, with a decoded cache),
    once for all the models of a launch, which may come in several `run.run_models` calls; a
    missing image stops the launch before any model is loaded."""
    warn_about_the_setup(accelerator, options.mixed_precision)
    splits = chosen_splits(options.split)
    files, allowed = options.label_set_files, options.allow_unverified_label_set_files
    # Downloads (labels, a Hub image dataset, the models) happen once per machine, on its first
    # process; the others then read the cache.
    label_files = label_files_of(labels)
    with accelerator.local_main_process_first():
        labels = resolve_labels(labels, splits)
    label_problems = results.label_problems(labels.provenance)
    if options.push_to_hub and label_problems:
        raise PushError(
            f"{named('push_to_hub')} needs the published labels, but "
            f"{'; '.join(label_problems)}: only complete results on the published labels go to "
            "the Hub; nothing was run"
        )
    loaded = load_label_sets(splits, labels, files, allowed)
    wanted = split_file_names(loaded, splits, options.limit)
    with accelerator.local_main_process_first():
        source = open_image_source(images, split=options.images_split)
    located = source.locate(wanted)
    decoded = None
    if options.decoded_cache is not None:
        with accelerator.local_main_process_first():  # the first process of a machine builds
            threads = max(1, options.num_workers, min(8, os.cpu_count() or 1))
            decoded = open_decoded_cache(options.decoded_cache, located, threads=threads)
    return Launch(
        accelerator, options, images, source, labels, loaded, splits, wanted, label_files, decoded
    )

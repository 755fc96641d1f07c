"""The launch and the loop of `run`: labels and images prepared once per launch, then each model
loaded, resumed, predicted batch by batch and scored as `score` scores its predictions file.

Models whose preprocessing gives the same uint8 pixels (`_decode_key`) share one loop: each
batch is decoded once and normalised and predicted per model, each model only on the images it
still needs, into its own folder as if it ran alone (``run.shared_decode_with`` names the others).
Top-5 ids and probabilities are gathered on the main process (padding duplicates dropped) and
appended per batch; images that fail to decode are listed once every other image is predicted.
A failing model stops on every process at the same point (`distributed.on_main`, judgements on
gathered batches), so the other models of its group and the next ones of a sweep go on in step.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from accelerate import Accelerator

from ...dataset_script.images.decode import check_images
from ...dataset_script.images.source import LocatedImages
from ...dataset_script.labels.loading import Labels, LabelSource
from ...metric.errors import ToolkitError
from .. import outputs
from ..feed.loader import Feed, choose_feed, prediction_batches
from ..models import load_model, local_model_folder
from ..models.categorizer import ImageCategorizer
from ..outputs import PREDICTIONS_FILE, RESULTS_FILE
from ..scores import hub
from ..scores.predictions import read_predictions
from ..scores.score import score_and_analyze
from .distributed import (
    accelerator_for,
    auto_batch_size,
    device_name,
    loaded_in_step,
    on_main,
)
from .launch import Launch, check_models, open_launch
from .predict_loop import predict_group
from .resume import ResumeError, predicted_before, run_identity
from .run_options import RunOptions

if TYPE_CHECKING:
    from .sweep import ModelSpec, Outcome


def evaluate_launch(
    specs: Sequence[ModelSpec],
    output_dirs: Sequence[Path],
    images: str,
    labels: Labels | LabelSource | None,
    options: RunOptions,
    *,
    keep_going: bool,
) -> list[Outcome]:
    """Each model of ``specs`` into its folder of ``output_dirs``, in one launch; ``keep_going``:
    a model that fails with a ToolkitError is reported on stderr and the others run (else the
    error is raised). What stops the launch (labels, missing images) is raised before any model
    is loaded; the frame holds every output folder for the whole call (`sweep`)."""
    check_models(specs)
    if options.push_to_hub:
        for spec in specs:
            hub.check_target_repo(spec.model, options.hub_repo_id)
    accelerator = accelerator_for(options.mixed_precision, options.cpu)
    categorizer = None
    if options.categorizer_model is not None:  # refused here if not CLIP-like: nothing ran yet
        categorizer = ImageCategorizer(options.categorizer_model, device=accelerator.device)
    launch = open_launch(accelerator, images, labels, options)
    if categorizer is not None:  # its model loads on the main process, when first scoring
        launch.image_rules = categorizer.image_rules(launch.source)
    return run_models(launch, specs, output_dirs, keep_going=keep_going)


def run_models(
    launch: Launch,
    specs: Sequence[ModelSpec],
    output_dirs: Sequence[Path],
    *,
    keep_going: bool,
) -> list[Outcome]:
    """The models of ``specs`` in ``launch``, each into its folder (which the caller holds).

    Models are loaded one by one and held until ``_held_models_are_full``; then each group of
    those sharing a decode key (`_decode_key`) runs one loop over the images any of them still
    needs, every batch decoded once and fed to each model that needs it."""
    outcomes: dict[int, Outcome] = {}
    held: dict[Any, list[ModelRun]] = {}
    for position, (spec, directory) in enumerate(zip(specs, output_dirs, strict=True)):
        try:
            model_run = _prepared_model(launch, spec, directory, position)
        except ToolkitError as error:
            outcomes[position] = (spec, _reported(launch, spec, error, keep_going))
            launch.accelerator.free_memory()
            continue
        held.setdefault(_decode_key(model_run), []).append(model_run)
        if _held_models_are_full(launch.accelerator, sum(map(len, held.values()))):
            outcomes.update(_run_groups(launch, held.values(), keep_going))
            held.clear()
    outcomes.update(_run_groups(launch, held.values(), keep_going))
    return [outcomes[position] for position in range(len(specs))]


# The most models a launch holds loaded at once to share one decode of the images; beyond it (or
# once less than DEVICE_MEMORY_KEPT_FREE of a GPU's memory is free after a model loads) the held
# models run and are released before the next loads, so memory is bounded as for one model at a
# time, times this count.
MAX_MODELS_SHARING_DECODE = 4
DEVICE_MEMORY_KEPT_FREE = 0.25


def _held_models_are_full(accelerator: Accelerator, count: int) -> bool:
    """Whether the held models must run now: ``MAX_MODELS_SHARING_DECODE`` reached, or on CUDA
    less than ``DEVICE_MEMORY_KEPT_FREE`` of the memory free on any process (the forward passes'
    activations need room); decided alike on every process."""
    if count >= MAX_MODELS_SHARING_DECODE:
        return True
    if accelerator.device.type != "cuda":
        return False
    free, total = torch.cuda.mem_get_info(accelerator.device)
    low = torch.tensor([free < DEVICE_MEMORY_KEPT_FREE * total], device=accelerator.device)
    return bool(accelerator.gather(low).any())


def _decode_key(model_run: ModelRun) -> Hashable:
    """Models with equal keys see the same uint8 pixels for each image and can share its decode:
    the same feed path and decoder, equal geometry (`preprocess_plan.Geometry`), the same batch
    size. A model on the float path (no plan) shares with no other."""
    feed = model_run.feed
    if feed.plan is None:
        return ("alone", model_run.position)
    return (feed.path, feed.decoder, feed.plan.geometry, model_run.batch_size)


def _reported(
    launch: Launch, spec: ModelSpec, error: ToolkitError, keep_going: bool
) -> ToolkitError:
    """A model's failure as its outcome, said on stderr; raised when not ``keep_going``."""
    if not keep_going:
        raise error
    if launch.accelerator.is_main_process:
        print(f"error: {spec.model}: {error}", file=sys.stderr)
    return error


@dataclass
class ModelRun:
    """One model of a launch, loaded and resumed: what it needs and how it is fed, then (after
    its group's loop) how many images a device path finished on the CPU and its failure."""

    spec: ModelSpec
    output_dir: Path
    position: int
    started: float
    adapter: Any
    provenance: dict[str, Any]
    forward: Callable[[torch.Tensor], torch.Tensor]
    feed: Feed
    batch_size: int
    done: set[str]
    located: LocatedImages
    shared_decode_with: list[str] = field(default_factory=list)
    loop_seconds: float = 0.0
    cpu_fallbacks: int = 0
    failure: ToolkitError | None = None


def _prepared_model(launch: Launch, spec: ModelSpec, output_dir: Path, position: int) -> ModelRun:
    """One model of a launch loaded, its folder resumed and the headers of what it still needs
    checked, its forward pass, batch size and feed chosen."""
    started = time.perf_counter()
    accelerator, options = launch.accelerator, launch.options
    adapter = loaded_in_step(
        accelerator,
        lambda: load_model(
            spec.model,
            revision=spec.revision,
            trust_remote_code=options.trust_remote_code,
            kind=spec.kind,
            device=accelerator.device,
            zero_shot_prompts=options.zero_shot_prompts,
        ),
    )
    missing_classes = adapter.label_mapping.get("missing_classes")
    if missing_classes and accelerator.is_main_process:
        print(
            f"note: {spec.model} has no output for {len(missing_classes)} ImageNet class(es) "
            f"({', '.join(missing_classes)}); they are never predicted",
            file=sys.stderr,
        )
    assumption = adapter.label_mapping.get("assumption")
    if assumption and accelerator.is_main_process:
        print(f"note: {spec.model}: label space {assumption}", file=sys.stderr)
    model_provenance = adapter.provenance()
    if local_model_folder(spec.model) is not None:  # its id is the folder's absolute path
        model_provenance["local"] = True
    identity = run_identity(
        model_provenance,
        options.mixed_precision,
        launch.labels.provenance,
        preprocess_on=options.preprocess_place,
        decode_on=options.decode_on,
    )
    done = set(
        on_main(
            accelerator,
            lambda: predicted_before(launch.source, launch.wanted, output_dir, identity),
        )
    )
    if done and accelerator.is_main_process:  # else a resumed run counts from 0 silently
        print(
            f"{spec.model}: {len(done):,} of {len(launch.wanted):,} already predicted in "
            f"{output_dir.name}, predicting {len(launch.wanted) - len(done):,}",
            file=sys.stderr,
        )
    located = launch.source.locate([name for name in launch.wanted if name not in done])
    if not options.skip_image_check:
        on_main(accelerator, lambda: _check_headers(launch, located))
    forward = _forward(accelerator, adapter, options)
    batch_size = options.batch_size
    if batch_size == "auto":
        batch_size = auto_batch_size(accelerator, forward, adapter.preprocess)
    feed = choose_feed(
        adapter.preprocess,
        adapter.plan,
        adapter.plan_problem,
        preprocess_on=options.preprocess_place,
        decode_on=options.decode_on,
        device=accelerator.device,
    )
    if feed.note and options.preprocess_place == "device" and accelerator.is_main_process:
        print(f"note: {spec.model}: {feed.note}", file=sys.stderr)
    return ModelRun(
        spec,
        output_dir,
        position,
        started,
        adapter,
        model_provenance,
        forward,
        feed,
        batch_size,
        done,
        located,
    )


def _run_groups(
    launch: Launch, groups: Iterable[list[ModelRun]], keep_going: bool
) -> dict[int, Outcome]:
    """Each group's loop, then each of its models scored (and pushed): the outcome per launch
    position. The models are released at the end."""
    outcomes: dict[int, Outcome] = {}
    for group in groups:
        _feed_group(launch, group)
        for model_run in group:
            try:
                if model_run.failure is not None:
                    raise model_run.failure
                outcome: dict[str, Any] | ToolkitError | None = _finished(launch, model_run)
            except ToolkitError as error:
                outcome = _reported(launch, model_run.spec, error, keep_going)
            outcomes[model_run.position] = (model_run.spec, outcome)
    launch.accelerator.free_memory()  # the models' memory, before the next ones load
    return outcomes


def _feed_group(launch: Launch, group: Sequence[ModelRun]) -> None:
    """One loop over the images any model of ``group`` still needs, in the launch's order, each
    batch decoded once and fed to every model that needs some of it."""
    names = [model_run.spec.name for model_run in group]
    for model_run in group:
        model_run.shared_decode_with = [name for name in names if name != model_run.spec.name]
    needed = set().union(*(model_run.located.file_names for model_run in group))
    images = launch.source.locate([name for name in launch.wanted if name in needed])
    first = group[0]
    batches = prediction_batches(
        launch.accelerator,
        images,
        first.feed,
        first.batch_size,
        launch.options.num_workers,
        launch.decoded.for_images(images) if launch.decoded is not None else None,
    )
    loop_started = time.perf_counter()
    predict_group(launch.accelerator, batches, group, images)
    for model_run in group:
        model_run.loop_seconds = time.perf_counter() - loop_started
    launch.accelerator.wait_for_everyone()


def _finished(launch: Launch, model_run: ModelRun) -> dict[str, Any] | None:
    """A model after its loop: scored, results written (and pushed); the document on the main
    process, None on the others."""
    accelerator, options = launch.accelerator, launch.options
    if not accelerator.is_main_process:
        return None
    located, output_dir = model_run.located, model_run.output_dir
    run = {
        "images_source": Path(launch.images).name
        if Path(launch.images).exists()
        else launch.images,
        "split": options.split,
        "limit": options.limit,
        "num_processes": accelerator.num_processes,
        "device": device_name(accelerator),
        "mixed_precision": options.mixed_precision,
        "batch_size_per_process": model_run.batch_size,
        "num_workers": options.num_workers,
        "channels_last": options.channels_last,
        "compile": options.compile,
        "preprocess_on": options.preprocess_place,
        "decode_on": options.decode_on,
        **model_run.feed.as_record(),
        "shared_decode_with": model_run.shared_decode_with,
        "images_finished_on_the_cpu_path": model_run.cpu_fallbacks,
        "images_predicted_this_session": len(located),
        "images_resumed": len(model_run.done),
        "wall_seconds": round(time.perf_counter() - model_run.started, 3),
        "images_per_second": round(len(located) / model_run.loop_seconds, 2)
        if len(located)
        else None,
    }
    document = _scored_document(launch, output_dir, model_run.provenance, run)
    if options.push_to_hub:
        hub.push_results(document, output_dir, repo_id=options.hub_repo_id, dry_run=options.dry_run)
    return document


def _forward(
    accelerator: Accelerator, adapter: Any, options: RunOptions
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model prepared for inference as ``options`` ask (memory layout, compile, autocast):
    pixels in, the 1,000 ImageNet logits out."""
    module = adapter.module.eval()
    if options.channels_last:
        module = module.to(memory_format=torch.channels_last)
    module = accelerator.prepare_model(module, evaluation_mode=True)
    if options.compile:
        module = torch.compile(module)

    def forward(pixel_values: torch.Tensor) -> torch.Tensor:
        if options.channels_last:
            pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        with accelerator.autocast():
            return adapter.logits(module, pixel_values)

    return forward


def _scored_document(
    launch: Launch, output_dir: Path, model: Mapping[str, Any], run: Mapping[str, Any]
) -> dict[str, Any]:
    """Main process: the predictions file scored as `score` scores it, the results document and
    the model-card files written."""
    predictions_path = output_dir / PREDICTIONS_FILE
    document, _ = score_and_analyze(
        read_predictions(predictions_path),
        launch.labels,
        launch.label_sets,
        launch.options.split,
        limit=launch.options.limit,
        image_rules=launch.image_rules,
        predictions_named={"file": PREDICTIONS_FILE},
        model=model,
        run=run,
        label_files=launch.label_files,
    )
    unpredicted = {
        split: split_metrics["num_missing_predictions"]
        for split, split_metrics in document["metrics"].items()
        if split_metrics["num_missing_predictions"]
    }
    if unpredicted:  # an invariant of the loop; never scored as if complete
        raise ResumeError(f"{predictions_path} lacks predictions (per split: {unpredicted})")
    try:
        outputs.write_json(output_dir / RESULTS_FILE, document)
        hub.write_card_files(document, output_dir)
    except OSError as error:
        raise outputs.write_error(
            output_dir / RESULTS_FILE,
            error,
            f"nothing was lost: every prediction is in {predictions_path}, and the rerun "
            "predicts nothing again before it writes the results",
        ) from error
    return document


def _check_headers(launch: Launch, located: LocatedImages) -> None:
    """Main process: the header of every image not checked yet for an earlier model."""
    unchecked = [name for name in located.file_names if name not in launch.checked]
    if launch.decoded is not None:  # its build checked every header
        launch.decoded.check_headers(unchecked)
    else:
        check_images(launch.source.locate(unchecked), full_decode=False)  # decoded once, later
    launch.checked.update(unchecked)

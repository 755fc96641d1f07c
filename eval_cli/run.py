"""The launch and the loop of `run`: labels and images prepared once per launch, then each model
loaded, resumed, predicted batch by batch and scored as `score` scores its predictions file.

Top-5 ids and probabilities are gathered on the main process (padding duplicates dropped) and
appended per batch; images that fail to decode are listed once every other image is predicted.
A failing model stops every process at the same point (`distributed.on_main`), so the next model
of a sweep starts in step.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.annotation_download import sha256_of_file
from imagenet_multilabel.dataset_script.hub_access import PushError
from imagenet_multilabel.dataset_script.image_decode import check_images
from imagenet_multilabel.dataset_script.image_errors import CorruptImageError
from imagenet_multilabel.dataset_script.image_source import ImageSource, LocatedImages
from imagenet_multilabel.dataset_script.images import open_image_source
from imagenet_multilabel.dataset_script.labels import Labels, LabelSource, resolve_labels
from imagenet_multilabel.dataset_script.real import RealLabels
from imagenet_multilabel.eval_cli import hub, outputs, results
from imagenet_multilabel.eval_cli.distributed import (
    accelerator_for,
    auto_batch_size,
    device_name,
    exclusive_output_dirs,
    loaded_in_step,
    on_main,
    warn_about_the_setup,
)
from imagenet_multilabel.eval_cli.loader import Batch, choose_feed, prediction_batches
from imagenet_multilabel.eval_cli.models import ModelLoadError, load_model, model_problem
from imagenet_multilabel.eval_cli.outputs import PREDICTIONS_FILE, RESULTS_FILE
from imagenet_multilabel.eval_cli.predictions import prediction_record, read_predictions
from imagenet_multilabel.eval_cli.resume import (
    ImageFingerprint,
    ResumeError,
    predicted_before,
    run_identity,
)
from imagenet_multilabel.eval_cli.run_options import RunOptions
from imagenet_multilabel.eval_cli.score import (
    FULL_SPLIT,
    analyze_mistakes,
    chosen_splits,
    full_split_file_names,
    labels_provenance,
    real_labels_for,
    score_splits,
)
from imagenet_multilabel.metric.errors import ToolkitError, first_few
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from imagenet_multilabel.eval_cli.sweep import ModelSpec, Outcome

TOP_K = 5


class NonFiniteOutputError(ToolkitError):
    """The model's outputs cannot be ranked."""


@dataclass
class _Launch:
    """What the models of one launch share, prepared once: the processes, the labels, the
    images located in their source, and (on the main process) those whose headers passed."""

    accelerator: Accelerator
    options: RunOptions
    images: str
    source: ImageSource
    labels: Labels
    real_labels: RealLabels | None
    splits: tuple[str, ...]
    wanted: list[str]
    checked: set[str] = field(default_factory=set)


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
    a model that fails with a ToolkitError is reported on stderr and the next one runs (else the
    error is raised). What stops the launch (labels, missing images) is raised before any model
    is loaded."""
    if options.hub_repo_id is not None and len(specs) > 1:
        raise ToolkitError(
            f"hub_repo_id names one model's repository; it does not apply to {len(specs)} models"
        )
    _check_models(specs)
    if options.push_to_hub:
        for spec in specs:
            hub.check_target_repo(spec.model, options.hub_repo_id)
    accelerator = accelerator_for(options.mixed_precision, options.cpu)
    outcomes: list[Outcome] = []
    with exclusive_output_dirs(accelerator, output_dirs):
        launch = _start_launch(accelerator, images, labels, options)
        for spec, directory in zip(specs, output_dirs, strict=True):
            try:
                outcome: dict[str, Any] | ToolkitError | None = _evaluate_one(
                    launch, spec, directory
                )
            except ToolkitError as error:
                if not keep_going:
                    raise
                outcome = error
                if accelerator.is_main_process:
                    print(f"error: {spec.model}: {error}", file=sys.stderr)
            outcomes.append((spec, outcome))
            accelerator.free_memory()  # the model's memory, before the next one loads
    return outcomes


def _check_models(specs: Sequence[ModelSpec]) -> None:
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


def _start_launch(
    accelerator: Accelerator,
    images: str,
    labels: Labels | LabelSource | None,
    options: RunOptions,
) -> _Launch:
    """Labels loaded and every wanted image located, once for all the models of a launch; a
    missing image stops the launch before any model is loaded."""
    warn_about_the_setup(accelerator, options.mixed_precision)
    splits = chosen_splits(options.split)
    real = real_labels_for(splits, options.real_labels, options.allow_unverified_real_labels)
    # Downloads (labels, a Hub image dataset, the models) happen once per machine, on its first
    # process; the others then read the cache.
    with accelerator.local_main_process_first():
        labels = resolve_labels(labels)
    if options.push_to_hub and labels.provenance.get("verified") is not True:
        raise PushError(
            "--push-to-hub needs the published labels, but these are unverified (sha256 "
            f"{labels.provenance.get('sha256')}): only complete results on the published "
            "labels go to the Hub; nothing was run"
        )
    wanted = _wanted_file_names(labels, splits, options.limit)
    with accelerator.local_main_process_first():
        source = open_image_source(images, split=options.images_split)
    source.locate(wanted)
    return _Launch(accelerator, options, images, source, labels, real, splits, wanted)


def _evaluate_one(launch: _Launch, spec: ModelSpec, output_dir: Path) -> dict[str, Any] | None:
    """One model of a launch: load, resume, predict what is missing, score, write the results
    (and push them); the document on the main process, None on the others."""
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
    model_provenance = adapter.provenance()
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
    batches = prediction_batches(accelerator, located, feed, batch_size, options.num_workers)
    loop_started = time.perf_counter()
    cpu_fallbacks = _predict(accelerator, batches, forward, located, output_dir / PREDICTIONS_FILE)
    loop_seconds = time.perf_counter() - loop_started
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return None
    run = {
        "images_source": Path(launch.images).name
        if Path(launch.images).exists()
        else launch.images,
        "split": options.split,
        "limit": options.limit,
        "num_processes": accelerator.num_processes,
        "device": device_name(accelerator),
        "mixed_precision": options.mixed_precision,
        "batch_size_per_process": batch_size,
        "num_workers": options.num_workers,
        "channels_last": options.channels_last,
        "compile": options.compile,
        "preprocess_on": options.preprocess_place,
        "decode_on": options.decode_on,
        **feed.as_record(),
        "images_finished_on_the_cpu_path": cpu_fallbacks,
        "images_predicted_this_session": len(located),
        "images_resumed": len(done),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "images_per_second": round(len(located) / loop_seconds, 2) if len(located) else None,
    }
    document = _scored_document(launch, output_dir, model_provenance, run)
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
    launch: _Launch, output_dir: Path, model: Mapping[str, Any], run: Mapping[str, Any]
) -> dict[str, Any]:
    """Main process: the predictions file scored as `score` scores it, the results document and
    the model-card files written."""
    predictions_path = output_dir / PREDICTIONS_FILE
    predictions = read_predictions(predictions_path)
    metrics, num_outside = score_splits(
        predictions,
        launch.labels,
        launch.splits,
        limit=launch.options.limit,
        real_labels=launch.real_labels,
    )
    unpredicted = {
        split: split_metrics["num_missing_predictions"]
        for split, split_metrics in metrics.items()
        if split_metrics["num_missing_predictions"]
    }
    if unpredicted:  # an invariant of the loop; never scored as if complete
        raise ResumeError(f"{predictions_path} lacks predictions (per split: {unpredicted})")
    document = results.document(
        metrics,
        labels=labels_provenance(launch.labels, launch.real_labels),
        predictions={
            "file": PREDICTIONS_FILE,
            "sha256": sha256_of_file(predictions_path),
            "num_rows": len(predictions),
            "num_outside_chosen_splits": num_outside,
        },
        mistakes=analyze_mistakes(
            predictions, launch.labels, launch.splits, limit=launch.options.limit
        ).summary,
        model=model,
        run=run,
    )
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


def _check_headers(launch: _Launch, located: LocatedImages) -> None:
    """Main process: the header of every image not checked yet for an earlier model."""
    unchecked = [name for name in located.file_names if name not in launch.checked]
    check_images(launch.source.locate(unchecked), full_decode=False)  # decoded once, later
    launch.checked.update(unchecked)


def _wanted_file_names(labels: Labels, splits: Sequence[str], limit: int | None) -> list[str]:
    """Every image that a chosen split scores (the first ``limit`` of each), in id order."""
    label_splits = [split for split in splits if split != FULL_SPLIT]
    names = {name for split in label_splits for name in labels.split(split).file_names[:limit]}
    if FULL_SPLIT in splits:
        names.update(full_split_file_names(limit))
    return sorted(names, key=classes.image_id_from_file_name)


def _predict(
    accelerator: Accelerator,
    batches: Iterator[Batch],
    forward: Callable[[torch.Tensor], torch.Tensor],
    images: LocatedImages,
    predictions_path: Path,
) -> int:
    """Top-5 of every image, gathered and appended on the main process batch by batch; returns
    (on the main process) how many images a device path finished on the CPU path. Images
    that fail to decode are left out and, once every other image is predicted, raised together
    on every process; unrankable outputs stop the run at once, on every process alike (each
    judges the gathered batch), so that a sweep's processes stay in step."""
    total = len(images)
    progress = tqdm(
        total=total, unit="img", desc="Evaluating", disable=not accelerator.is_main_process
    )
    appender = (
        outputs.PredictionsAppender(predictions_path) if accelerator.is_main_process else None
    )
    undecodable: dict[str, str] = {}  # this process's share: file name -> problem
    cpu_fallbacks = 0
    try:
        with torch.inference_mode():
            for indices, pixel_values, num_bytes, blake2b, problems, on_cpu in batches:
                decoded = torch.tensor([not problem for problem in problems], device=indices.device)
                undecodable.update(
                    (images.file_names[index], problem)
                    for index, problem in zip(indices.tolist(), problems, strict=True)
                    if problem
                )
                logits = forward(pixel_values).float()
                top_probs, top_ids = logits.softmax(dim=-1).topk(TOP_K, dim=-1)
                flags = torch.stack((decoded, _rankable(logits), on_cpu), dim=1).long()  # gloo
                *gathered, flags = accelerator.gather_for_metrics(
                    (indices, top_ids, top_probs, num_bytes, blake2b, flags)
                )
                decoded, rankable, on_cpu = flags.bool().unbind(dim=1)
                cpu_fallbacks += int(on_cpu.sum())
                _check_finite(gathered[0][decoded & ~rankable], images)
                if appender is not None:
                    appender.append(
                        _prediction_line(
                            images.file_names[index],
                            ids,
                            probs,
                            ImageFingerprint.from_ints(size, digest),
                        )
                        for index, ids, probs, size, digest in zip(
                            *(column[decoded].tolist() for column in gathered), strict=True
                        )
                    )
                progress.update(len(decoded))
    finally:
        if appender is not None:
            appender.close()
        progress.close()
    _raise_if_undecodable(gather_object(sorted(undecodable.items())), predictions_path, total)
    return cpu_fallbacks


def _raise_if_undecodable(
    problems: Sequence[tuple[str, str]], predictions_path: Path, total: int
) -> None:
    """One error for every image that failed to decode (a padding duplicate counts once)."""
    unique = sorted(
        dict(problems).items(), key=lambda item: classes.image_id_from_file_name(item[0])
    )
    if unique:
        error = CorruptImageError.from_problems(unique, num_checked=total)
        raise CorruptImageError(
            f"{error}; the predictions of the other images are kept in {predictions_path}: "
            "replace these images and run the same command again to predict only them",
            problems=unique,
        )


def _prediction_line(
    file_name: str, top5: Sequence[int], top5_probs: Sequence[float], image: ImageFingerprint
) -> str:
    """The predictions file's line (`eval_cli.predictions.prediction_record`) plus the image's
    fingerprint, which readers other than resume ignore."""
    record = json.loads(prediction_record(file_name, top5, top5_probs))
    return json.dumps({**record, **image.as_record()}) + "\n"


def _rankable(logits: torch.Tensor) -> torch.Tensor:
    """Per image, whether its logits can be ranked: NaN or +inf (an fp16 overflow, say) would be
    ranked as if they meant something; -inf is fine (a class the head lacks) unless no logit of
    the image is finite."""
    unusable = torch.isnan(logits) | torch.isposinf(logits)
    return ~unusable.any(dim=-1) & torch.isfinite(logits).any(dim=-1)


def _check_finite(unrankable: torch.Tensor, images: LocatedImages) -> None:
    """Stop on the indices of images whose logits cannot be ranked (``_rankable``)."""
    if len(unrankable):
        names = [images.file_names[index] for index in unrankable.tolist()]
        raise NonFiniteOutputError(
            f"the model returned NaN, +inf or no finite logit for {len(names)} image(s), "
            f"first {names[:5]}; with --mixed-precision fp16 this is usually an overflow: try "
            "bf16 or no"
        )

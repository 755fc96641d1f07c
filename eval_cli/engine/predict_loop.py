"""The loop of one group of models: its batches through each model's forward pass, the top-5
gathered on the main process (padding duplicates dropped) and appended to each model's own
predictions file, batch by batch.

Each model predicts only the images it still needs; a model whose outputs cannot be ranked stops
on every process alike (each judges the gathered batch), so its group's other models go on in
step. Images that fail to decode are listed once every other image is predicted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from tqdm.auto import tqdm

from ...dataset_script import classes
from ...dataset_script.images.errors import CorruptImageError
from ...dataset_script.images.source import LocatedImages
from ...metric.errors import ToolkitError, named
from .. import outputs
from ..feed.fingerprint import ImageFingerprint
from ..feed.loader import Batch, model_pixels
from ..outputs import PREDICTIONS_FILE
from ..scores.predictions import prediction_record

if TYPE_CHECKING:
    from .run import ModelRun

TOP_K = 5


class NonFiniteOutputError(ToolkitError):
    """The model's outputs cannot be ranked."""


def predict_group(
    accelerator: Accelerator,
    batches: Iterator[Batch],
    group: Sequence[ModelRun],
    images: LocatedImages,
) -> None:
    """Top-5 of every image each model of ``group`` needs, gathered and appended to its
    predictions file on the main process batch by batch; sets each model's CPU-path count (on
    the main process) and failure. Images that fail to decode are left out and, once every other
    image is predicted, become the failure of each model that needs them; unrankable outputs
    stop that model at once, on every process alike (each judges the gathered batch), so that
    the processes stay in step while the group's other models go on."""
    progress = tqdm(
        total=len(images), unit="img", desc="Evaluating", disable=not accelerator.is_main_process
    )
    feeding = [_ModelFeed.of(model_run, images, accelerator) for model_run in group]
    undecodable: dict[str, str] = {}  # this process's share: file name -> problem
    try:
        with torch.inference_mode():
            for indices, pixel_values, num_bytes, blake2b, problems, on_cpu in batches:
                decoded = torch.tensor([not problem for problem in problems], device=indices.device)
                undecodable.update(
                    (images.file_names[index], problem)
                    for index, problem in zip(indices.tolist(), problems, strict=True)
                    if problem
                )
                for model_feed in feeding:
                    if model_feed.model_run.failure is None:
                        model_feed.predict(
                            accelerator,
                            indices,
                            pixel_values,
                            (num_bytes, blake2b),
                            decoded,
                            on_cpu,
                        )
                progress.update(len(decoded))
    finally:
        for model_feed in feeding:
            model_feed.close()
        progress.close()
    problems = gather_object(sorted(undecodable.items()))
    for model_feed in feeding:
        model_run = model_feed.model_run
        if model_run.failure is None:
            wanted = set(model_run.located.file_names)
            model_run.failure = _undecodable(
                [item for item in problems if item[0] in wanted],
                model_run.output_dir / PREDICTIONS_FILE,
                len(model_run.located),
            )


@dataclass
class _ModelFeed:
    """One model's share of a group's loop: which of the loop's images it needs (by position)
    and, on the main process, its predictions file open for appending."""

    model_run: ModelRun
    needs: torch.Tensor
    appender: outputs.PredictionsAppender | None
    file_names: Sequence[str]

    @classmethod
    def of(cls, model_run: ModelRun, images: LocatedImages, accelerator: Accelerator) -> _ModelFeed:
        wanted = set(model_run.located.file_names)
        needs = torch.tensor([name in wanted for name in images.file_names], dtype=torch.bool)
        appender = (
            outputs.PredictionsAppender(model_run.output_dir / PREDICTIONS_FILE)
            if accelerator.is_main_process
            else None
        )
        return cls(model_run, needs, appender, images.file_names)

    def predict(
        self,
        accelerator: Accelerator,
        indices: torch.Tensor,
        pixel_values: torch.Tensor,
        fingerprints: tuple[torch.Tensor, torch.Tensor],
        decoded: torch.Tensor,
        on_cpu: torch.Tensor,
    ) -> None:
        """The batch's images this model needs through its forward pass; the top-5 gathered
        at the batch's full size (the gather drops padding by position), rows it does not need
        marked and left out of its file."""
        wants = self.needs[indices.cpu()].to(indices.device)
        top_ids = torch.zeros((len(indices), TOP_K), dtype=torch.long, device=indices.device)
        top_probs = torch.zeros((len(indices), TOP_K), device=indices.device)
        rankable = torch.ones_like(wants)
        if wants.any():
            chosen = pixel_values if wants.all() else pixel_values[wants]
            logits = self.model_run.forward(model_pixels(self.model_run.feed, chosen)).float()
            probs, ids = logits.softmax(dim=-1).topk(TOP_K, dim=-1)
            top_probs[wants], top_ids[wants] = probs, ids.to(top_ids.device)
            rankable[wants] = _rankable(logits).to(rankable.device)
        flags = torch.stack((decoded, rankable, on_cpu, wants), dim=1).long()  # gloo: no bool
        *gathered, flags = accelerator.gather_for_metrics(
            (indices, top_ids, top_probs, *fingerprints, flags)
        )
        decoded, rankable, on_cpu, wants = flags.bool().unbind(dim=1)
        self.model_run.cpu_fallbacks += int((on_cpu & wants).sum())
        kept = decoded & wants
        try:
            _check_finite(gathered[0][kept & ~rankable], self.file_names)
        except NonFiniteOutputError as error:
            self.model_run.failure = error
            return
        if self.appender is not None:
            self.appender.append(
                _prediction_line(
                    self.file_names[index], ids, probs, ImageFingerprint.from_ints(size, digest)
                )
                for index, ids, probs, size, digest in zip(
                    *(column[kept].tolist() for column in gathered), strict=True
                )
            )

    def close(self) -> None:
        if self.appender is not None:
            self.appender.close()


def _undecodable(
    problems: Sequence[tuple[str, str]], predictions_path: Path, total: int
) -> CorruptImageError | None:
    """One error for every image that failed to decode (a padding duplicate counts once), or
    None when every image decoded."""
    unique = sorted(
        dict(problems).items(), key=lambda item: classes.image_id_from_file_name(item[0])
    )
    if not unique:
        return None
    error = CorruptImageError.from_problems(unique, num_checked=total)
    return CorruptImageError(
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


def _check_finite(unrankable: torch.Tensor, file_names: Sequence[str]) -> None:
    """Stop on the indices of images whose logits cannot be ranked (``_rankable``)."""
    if len(unrankable):
        names = [file_names[index] for index in unrankable.tolist()]
        raise NonFiniteOutputError(
            f"the model returned NaN, +inf or no finite logit for {len(names)} image(s), "
            f"first {names[:5]}; with {named('mixed_precision', 'fp16')} this is usually an "
            "overflow: try bf16 or no"
        )

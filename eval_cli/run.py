"""`imagenet-multilabel run`: a model over the ImageNet validation images, on one or many processes.

Data flow: labels (the split's file names) -> image source (every image located, and checked,
before the model runs) -> model adapter (the model's own preprocessing, outputs mapped to the 1,000
ImageNet classes) -> a DataLoader sharded by accelerate -> per batch, top-5 ids and probabilities
gathered on the main process with ``gather_for_metrics`` (padding duplicates dropped) and appended
to ``predictions.jsonl`` -> the predictions file scored exactly as `imagenet-multilabel score`
scores it ->
``results.json``, the model-card files and a summary table.

A killed run resumes: ``predictions.jsonl`` is appended and flushed per batch, and a restart with
the same arguments predicts only the images it lacks. ``run_identity.json`` records what the
predictions depend on, so that a restart with another model or labels is refused, not mixed in.
One run at a time per output directory: the main process holds an exclusive kernel lock on
``.run.lock`` for the whole run (released by the kernel when the process dies, so a killed run
never blocks the next); a second launch into the same directory is refused at once.

Each prediction records its image's fingerprint (byte count and a 64-bit BLAKE2b of the bytes,
computed where the DataLoader reads them): a resumed run reuses a prediction only if the image
source it is given now holds the same bytes under that file name, wherever they are read from.
A full disk or an unwritable directory stops the run with the path named; the predictions
written until then are whole batches, synced to disk, so a rerun resumes from them.

Each image is decoded once. Before the model runs, every image is read and its header checked
(format, size, pixel mode: a fraction of a decode), so a foreign or empty file stops the run at
once; an image that fails only when fully decoded (cut short, say) is met in the DataLoader, which
hands on a marker instead of raising: the run predicts every other image, then stops with the list
before writing results, and a rerun after the images are fixed predicts only those.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import broadcast_object_list, find_executable_batch_size, gather_object
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.annotations import SPLITS, sha256_of_file
from imagenet_multilabel.dataset_script.images import (
    CorruptImageError,
    LocatedImages,
    check_images,
    decode_image,
    open_image_source,
)
from imagenet_multilabel.dataset_script.labels import Labels, load_labels
from imagenet_multilabel.eval_cli import hub, results
from imagenet_multilabel.eval_cli.models import ZERO_SHOT_PROMPTS, load_model
from imagenet_multilabel.eval_cli.predictions import prediction_record, read_predictions
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
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

PREDICTIONS_FILE = "predictions.jsonl"
RESULTS_FILE = "results.json"
IDENTITY_FILE = "run_identity.json"
LOCK_FILE = ".run.lock"
TOP_K = 5


class ResumeError(ToolkitError):
    """The output directory holds predictions that this run cannot continue."""


class NonFiniteOutputError(ToolkitError):
    """The model's outputs cannot be ranked."""


class OutputDirectoryInUseError(ToolkitError):
    """Another run holds the output directory; two runs appending to one file would ruin it."""


class OutputWriteError(ToolkitError):
    """The output directory stopped taking writes (a full disk, say) during the run."""


@dataclass(frozen=True)
class ImageFingerprint:
    """What identifies an image's bytes, independent of the path they were read from: their
    count and a 64-bit BLAKE2b (~1 GB/s, next to nothing beside decoding)."""

    num_bytes: int
    blake2b: str  # 16 hex digits

    @classmethod
    def of(cls, data: bytes) -> ImageFingerprint:
        return cls(len(data), hashlib.blake2b(data, digest_size=8).hexdigest())

    @classmethod
    def from_ints(cls, num_bytes: int, blake2b: int) -> ImageFingerprint:
        """From the int64 pair that crosses the DataLoader and the gather (``as_ints``)."""
        return cls(num_bytes, blake2b.to_bytes(8, "big", signed=True).hex())

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ImageFingerprint | None:
        """The fingerprint a predictions line recorded; None in lines of older runs."""
        num_bytes, blake2b = record.get("image_bytes"), record.get("image_blake2b")
        if not isinstance(num_bytes, int) or not isinstance(blake2b, str):
            return None
        return cls(num_bytes, blake2b)

    def as_ints(self) -> tuple[int, int]:
        return self.num_bytes, int.from_bytes(bytes.fromhex(self.blake2b), "big", signed=True)

    def as_record(self) -> dict[str, Any]:
        return {"image_bytes": self.num_bytes, "image_blake2b": self.blake2b}

    def __str__(self) -> str:
        return f"{self.num_bytes:,} bytes, blake2b {self.blake2b}"


class _PreprocessedImages(Dataset):
    """Decode + the model's own preprocessing, in DataLoader workers. An item is ``(index,
    pixels, fingerprint as two ints, problem)``: ``problem`` is empty, or says why the image could
    not be read or decoded, and ``pixels`` is then a blank stand-in that is never predicted."""

    def __init__(self, images: LocatedImages, preprocess: Callable[[Image.Image], torch.Tensor]):
        self.images, self.preprocess = images, preprocess

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor, int, int, str]:
        try:
            file_name, data = self.images[index]
            pixels = self.preprocess(decode_image(data, file_name))
        except CorruptImageError as error:
            blank = self.preprocess(Image.new("RGB", (256, 256)))
            return index, blank, 0, 0, error.problems[0][1]
        return index, pixels, *ImageFingerprint.of(data).as_ints(), ""


def default_output_dir(model: str) -> Path:
    """``eval_results/<name>``: a local folder by its own name, a Hub id as ``ORG--NAME``."""
    local = Path(model)
    name = local.resolve().name if local.exists() else model.strip("/")
    return Path("eval_results") / re.sub(r"[^\w.-]+", "--", name)


def _identity(
    model: Mapping[str, Any], mixed_precision: str, labels: Mapping[str, Any]
) -> dict[str, Any]:
    """What the predictions depend on; a resumed run must match it exactly."""
    return {
        "model": model,
        "mixed_precision": mixed_precision,
        "labels_sha256": labels.get("sha256"),
    }


def _prepare_output_dir(output_dir: Path, identity: dict) -> None:
    """Main process: record the run's identity, or check it against an interrupted run's."""
    identity_path, predictions_path = output_dir / IDENTITY_FILE, output_dir / PREDICTIONS_FILE
    if not predictions_path.exists():
        try:
            results.write_json(identity_path, identity)
        except OSError as error:
            raise _output_write_error(identity_path, error, "nothing was run") from error
        return
    recorded = json.loads(identity_path.read_text()) if identity_path.exists() else None
    if recorded != identity:
        raise ResumeError(
            f"{str(output_dir)!r} holds predictions of a different run: "
            f"{_identity_difference(recorded, identity)}; choose another output directory or "
            "remove that one"
        )


def _identity_difference(recorded: Any, identity: dict[str, Any]) -> str:
    """The fields that differ, each with the recorded and the new value."""
    if not isinstance(recorded, dict):
        return f"{IDENTITY_FILE} is missing or unreadable"
    differences = [
        f"{path}: recorded {old!r}, now {new!r}"
        for path, old, new in _leaf_differences(recorded, identity, "")
    ]
    return "; ".join(differences[:5]) + (
        f" (+{len(differences) - 5} more)" if len(differences) > 5 else ""
    )


def _leaf_differences(old: Any, new: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            yield from _leaf_differences(
                old.get(key), new.get(key), f"{path}.{key}" if path else key
            )
    elif old != new:
        yield path, old, new


def _completed(predictions_path: Path) -> dict[str, ImageFingerprint | None]:
    """File names already predicted by an earlier, interrupted run of the same identity (for
    any split: a later run over more splits reuses them), with their images' fingerprints."""
    if not predictions_path.exists() or predictions_path.stat().st_size == 0:
        return {}
    records = _first_complete_record_per_image(predictions_path)
    read_predictions(predictions_path)  # every kept line as `score` reads it, or a clear error
    return {name: ImageFingerprint.from_record(record) for name, record in records.items()}


def _first_complete_record_per_image(path: Path) -> dict[str, dict[str, Any]]:
    """Repair what a kill or two concurrent runs (before runs took a lock) leave behind: a torn
    line, interleaved fragments, the same image predicted twice. The first complete line of each
    file name is kept; the rest is dropped (their images are predicted again if none is kept)
    and counted in one line on stderr. The file is replaced atomically, only if something
    was dropped."""
    kept: dict[str, tuple[bytes, dict[str, Any]]] = {}
    duplicates = incomplete = 0
    with open(path, "rb") as handle:
        for line in handle:
            record = _record_of_line(line)
            if record is None:
                incomplete += 1
            elif record["file_name"] in kept:
                duplicates += 1
            else:
                kept[record["file_name"]] = line, record
    if duplicates or incomplete:
        _replace_atomically(path, b"".join(line for line, _ in kept.values()))
        print(
            f"note: repaired {path}: dropped {duplicates} duplicate and {incomplete} incomplete "
            f"line(s), kept the first complete line of each of {len(kept)} images",
            file=sys.stderr,
        )
    return {name: record for name, (_, record) in kept.items()}


def _record_of_line(line: bytes) -> dict[str, Any] | None:
    """A whole JSON object line (ending in a newline) with a string file name, else None."""
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("file_name"), str):
        return None
    return record


def _check_same_images(
    recorded: Mapping[str, ImageFingerprint | None],
    reused: LocatedImages,
    predictions_path: Path,
) -> None:
    """Reuse predictions only of the same bytes, wherever they are read from now (another path,
    a tar instead of a folder): each reused image is read and hashed again, never decoded."""
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        now = pool.map(lambda index: ImageFingerprint.of(reused[index][1]), range(len(reused)))
        differing = [
            f"{name}: {recorded[name]} then, {fingerprint} now"
            for name, fingerprint in zip(reused.file_names, now, strict=True)
            if recorded[name] not in (None, fingerprint)
        ]
    if differing:
        raise ResumeError(
            f"{len(differing)} of the {len(reused)} images already predicted in "
            f"{str(predictions_path)!r} differ in {reused.source} (first: {first_few(differing)});"
            " those predictions were made from other images: evaluate this source into another "
            "--output-dir, or remove the directory to predict every image again"
        )
    unchecked = sum(recorded[name] is None for name in reused.file_names)
    if unchecked:
        print(
            f"note: {unchecked} reused prediction(s) in {predictions_path} were written before "
            f"runs recorded image fingerprints; they are not checked against {reused.source}",
            file=sys.stderr,
        )


def _replace_atomically(path: Path, data: bytes) -> None:
    """A kill or a full disk during the rewrite leaves the old file, never half of the new one."""
    temporary = path.with_name(f".{path.name}.repair")
    try:
        temporary.write_bytes(data)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise _output_write_error(path, error, "it is unchanged and nothing was run") from error


def _auto_batch_size(
    accelerator: Accelerator,
    forward: Callable[[torch.Tensor], torch.Tensor],
    preprocess: Callable[[Image.Image], torch.Tensor],
) -> int:
    """The largest batch that survives a forward pass, backing off on out-of-memory; the
    minimum over processes, since gathering needs equal batches."""
    sample = preprocess(Image.new("RGB", (256, 256)))

    @find_executable_batch_size(
        starting_batch_size=512 if accelerator.device.type == "cuda" else 64
    )
    def probe(batch_size: int) -> int:
        with torch.inference_mode():
            forward(sample.unsqueeze(0).expand(batch_size, *sample.shape).to(accelerator.device))
        return batch_size

    return int(accelerator.gather(torch.tensor([probe()], device=accelerator.device)).min())


def _wanted_file_names(labels: Labels, splits: Sequence[str], limit: int | None) -> list[str]:
    """Every image that a chosen split scores (the first ``limit`` of each), in id order."""
    label_splits = [split for split in splits if split != FULL_SPLIT]
    names = {name for split in label_splits for name in labels.split(split).file_names[:limit]}
    if FULL_SPLIT in splits:
        names.update(full_split_file_names(limit))
    return sorted(names, key=classes.image_id_from_file_name)


def _accelerator(mixed_precision: str, cpu: bool) -> Accelerator:
    """An Accelerator for this evaluation. accelerate keeps one global state per process; a
    second evaluation in the same process (another model, another precision) starts from a
    fresh state, keeping the process group that a launcher set up."""
    if AcceleratorState._shared_state:
        AcceleratorState._reset_state()
    return Accelerator(mixed_precision=mixed_precision, cpu=cpu)


def evaluate_model(
    model: str,
    images: str,
    *,
    split: str = "imagenet_m",
    labels: Labels | None = None,
    annotations: str | os.PathLike | None = None,
    labels_dataset: str | None = None,
    allow_unverified: bool = False,
    label_patches: Sequence[str | os.PathLike] = (),
    revision: str | None = None,
    model_kind: str | None = None,
    trust_remote_code: bool = False,
    images_split: str = "validation",
    skip_image_check: bool = False,
    limit: int | None = None,
    batch_size: int | str = 64,
    num_workers: int = 0,
    mixed_precision: str = "no",
    channels_last: bool = False,
    compile: bool = False,
    cpu: bool = False,
    output_dir: str | os.PathLike | None = None,
    push_to_hub: bool = False,
    hub_repo_id: str | None = None,
    dry_run: bool = False,
    real_labels: str | os.PathLike | None = None,
    allow_unverified_real_labels: bool = False,
    zero_shot_prompts: str = ZERO_SHOT_PROMPTS[0],
) -> dict[str, Any] | None:
    """Evaluate ``model`` (Hub id or local folder) on the validation ``images`` (tar, folder or
    Hugging Face dataset) and return the results document (on the main process; None on the
    others). Labels as in `eval_cli.score.score_predictions`; ``limit``: the first N images of
    each split only (results marked partial). Writes ``results.json``, ``predictions.jsonl``
    (resumable) and the model-card files into ``output_dir`` (default
    ``eval_results/<model name>``); ``push_to_hub`` opens a pull request with the results on the
    model's Hub page (``hub_repo_id`` for a local model; ``dry_run`` prints it instead).
    ``real_labels``, ``allow_unverified_real_labels``: the ReaL labels of split ``full``, as in
    `score_predictions`; ``zero_shot_prompts``: the prompt style of a zero-shot model
    (`eval_cli.models.ZERO_SHOT_PROMPTS`, default the 80-template ensemble).
    """
    started = time.perf_counter()
    if batch_size != "auto" and (not isinstance(batch_size, int) or batch_size < 1):
        raise ToolkitError(f"batch_size: expected a positive integer or 'auto', got {batch_size!r}")
    if push_to_hub:
        hub.check_target_repo(model, hub_repo_id)
    accelerator = _accelerator(
        mixed_precision, cpu or (_launched_processes() > 1 and not torch.cuda.is_available())
    )
    _warn_about_the_setup(accelerator, mixed_precision)
    output_dir = Path(output_dir) if output_dir else default_output_dir(model)
    lock = contextlib.nullcontext()
    if accelerator.is_main_process:
        _check_writable(output_dir)
        lock = _exclusive_output_dir(output_dir)
    with lock:
        splits = chosen_splits(split)
        real = real_labels_for(splits, real_labels, allow_unverified_real_labels)
        # Downloads (labels, a Hub image dataset, the model) happen once per machine, on its first
        # process; the others then read the cache.
        if labels is None:
            with accelerator.local_main_process_first():
                labels = load_labels(
                    SPLITS,  # all: the mistake analysis marks the ImageNet-M images
                    annotations=annotations,
                    dataset=labels_dataset,
                    allow_unverified=allow_unverified,
                    patches=label_patches,
                )
        elif label_patches:
            raise ToolkitError("pass label patches to load_labels(patches=...) with the labels")
        if push_to_hub and labels.provenance.get("verified") is not True:
            raise hub.HubResultsError(
                "--push-to-hub needs the published labels, but these are unverified (sha256 "
                f"{labels.provenance.get('sha256')}): only complete results on the published "
                "labels go to the Hub; nothing was run"
            )
        wanted = _wanted_file_names(labels, splits, limit)
        with accelerator.local_main_process_first():
            source = open_image_source(images, split=images_split)
        source.locate(wanted)  # a missing image stops the run before the model is loaded
        with accelerator.local_main_process_first():
            adapter = load_model(
                model,
                revision=revision,
                trust_remote_code=trust_remote_code,
                kind=model_kind,
                device=accelerator.device,
                zero_shot_prompts=zero_shot_prompts,
            )
        missing_classes = adapter.label_mapping.get("missing_classes")
        if missing_classes and accelerator.is_main_process:
            print(
                f"note: {model} has no output for {len(missing_classes)} ImageNet class(es) "
                f"({', '.join(missing_classes)}); they are never predicted",
                file=sys.stderr,
            )
        model_provenance = adapter.provenance()
        identity = _identity(model_provenance, mixed_precision, labels.provenance)
        # Only the main process reads the output directory, which other machines may not share;
        # every process then shards the same list of images.
        done_on_main = [None]
        if accelerator.is_main_process:
            _prepare_output_dir(output_dir, identity)
            recorded = _completed(output_dir / PREDICTIONS_FILE)
            reused = source.locate([name for name in wanted if name in recorded])
            _check_same_images(recorded, reused, output_dir / PREDICTIONS_FILE)
            done_on_main = [sorted(recorded)]
        done = set(broadcast_object_list(done_on_main)[0])
        todo = [name for name in wanted if name not in done]

        located = source.locate(todo)
        if not skip_image_check and accelerator.is_main_process:
            check_images(located, full_decode=False)  # decoded once, by the DataLoader
        accelerator.wait_for_everyone()

        module = adapter.module.eval()
        if channels_last:
            module = module.to(memory_format=torch.channels_last)
        module = accelerator.prepare_model(module, evaluation_mode=True)
        if compile:
            module = torch.compile(module)

        def forward(pixel_values: torch.Tensor) -> torch.Tensor:
            if channels_last:
                pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
            with accelerator.autocast():
                return adapter.logits(module, pixel_values)

        if batch_size == "auto":
            batch_size = _auto_batch_size(accelerator, forward, adapter.preprocess)
        dataset = _PreprocessedImages(located, adapter.preprocess)
        loader = accelerator.prepare_data_loader(
            DataLoader(
                dataset,
                batch_size=batch_size,
                num_workers=num_workers,
                pin_memory=accelerator.device.type == "cuda",
                persistent_workers=False,
            )
        )
        loop_started = time.perf_counter()
        _predict(accelerator, loader, forward, located, output_dir / PREDICTIONS_FILE, len(todo))
        loop_seconds = time.perf_counter() - loop_started
        accelerator.wait_for_everyone()
        if not accelerator.is_main_process:
            return None

        predictions_path = output_dir / PREDICTIONS_FILE
        predictions = read_predictions(predictions_path)
        metrics, num_outside = score_splits(
            predictions, labels, splits, limit=limit, real_labels=real
        )
        unpredicted = {
            split: split_metrics["num_missing_predictions"]
            for split, split_metrics in metrics.items()
            if split_metrics["num_missing_predictions"]
        }
        if unpredicted:  # an invariant of the loop above; never scored as if complete
            raise ResumeError(f"{predictions_path} lacks predictions (per split: {unpredicted})")
        document = results.document(
            metrics,
            labels=labels_provenance(labels, real),
            predictions={
                "file": PREDICTIONS_FILE,
                "sha256": sha256_of_file(predictions_path),
                "num_rows": len(predictions),
                "num_outside_chosen_splits": num_outside,
            },
            mistakes=analyze_mistakes(predictions, labels, splits, limit=limit).summary,
            model=model_provenance,
            run={
                "images_source": Path(images).name if Path(images).exists() else images,
                "split": split,
                "limit": limit,
                "num_processes": accelerator.num_processes,
                "device": _device_name(accelerator),
                "mixed_precision": mixed_precision,
                "batch_size_per_process": batch_size,
                "num_workers": num_workers,
                "channels_last": channels_last,
                "compile": compile,
                "images_predicted_this_session": len(todo),
                "images_resumed": len(wanted) - len(todo),
                "wall_seconds": round(time.perf_counter() - started, 3),
                "images_per_second": round(len(todo) / loop_seconds, 2) if todo else None,
            },
        )
        try:
            results.write_json(output_dir / RESULTS_FILE, document)
            hub.write_card_files(document, output_dir)
        except OSError as error:
            raise _output_write_error(
                output_dir / RESULTS_FILE,
                error,
                f"nothing was lost: every prediction is in {predictions_path}, and the rerun "
                "predicts nothing again before it writes the results",
            ) from error
        if push_to_hub:
            hub.push_results(document, output_dir, repo_id=hub_repo_id, dry_run=dry_run)
        return document


def _check_writable(output_dir: Path) -> None:
    """Fail before any work if the results could not be written."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=output_dir):
            pass
    except OSError as error:
        raise OutputWriteError(
            f"output directory {str(output_dir)!r} cannot be written ({error.strerror or error}); "
            "choose another with --output-dir; nothing was run and nothing in it was changed"
        ) from None


@contextlib.contextmanager
def _exclusive_output_dir(output_dir: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``output_dir/.run.lock`` while the run lasts; refuse at once
    if another process holds it. The kernel drops the lock when its holder dies (even by
    ``kill -9``), so a stale lock file never blocks; the holder's pid, host and start time are
    written into it for the refusal message."""
    lock_path = output_dir / LOCK_FILE
    try:
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise _output_write_error(lock_path, error, "nothing was run") from error
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 4096, 0).decode("utf-8", "replace").strip()
            raise OutputDirectoryInUseError(
                f"output directory {str(output_dir)!r} is in use by another run "
                f"({holder or 'holder not yet recorded'}); wait for it to end or choose another "
                "--output-dir; nothing was run"
            ) from None
        holder = (
            f"pid {os.getpid()} on host {socket.gethostname()}, started "
            f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}"
        )
        try:
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, f"{holder}\n".encode(), 0)
        except OSError as error:
            raise _output_write_error(lock_path, error, "nothing was run") from error
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _warn_about_the_setup(accelerator: Accelerator, mixed_precision: str) -> None:
    """Settings that run but not as the user likely expects."""
    if not accelerator.is_main_process:
        return
    if accelerator.device.type == "cpu" and mixed_precision != "no":
        supported = {
            "bf16": torch.ops.mkldnn._is_mkldnn_bf16_supported,
            "fp16": torch.ops.mkldnn._is_mkldnn_fp16_supported,
        }[mixed_precision]()
        if not supported:
            print(
                f"warning: this CPU has no native {mixed_precision} support; "
                f"--mixed-precision {mixed_precision} will be emulated and slow (try 'no')",
                file=sys.stderr,
            )
    if _cpu_launch_collapsed_to_one_process(accelerator):
        print(
            "warning: the launcher asked for several processes (MASTER_ADDR is set), but one "
            "runs: `accelerate launch --cpu --num_processes N` starts a single process; for N "
            "CPU processes use `torchrun --nproc_per_node N -m imagenet_multilabel run ...`",
            file=sys.stderr,
        )


def _predict(
    accelerator: Accelerator,
    loader: DataLoader,
    forward: Callable[[torch.Tensor], torch.Tensor],
    images: LocatedImages,
    predictions_path: Path,
    total: int,
) -> None:
    """Top-5 of every image, gathered and appended on the main process batch by batch. Images
    that fail to decode are left out and, once every other image is predicted, raised together
    on every process."""
    progress = tqdm(
        total=total, unit="img", desc="Evaluating", disable=not accelerator.is_main_process
    )
    appender = _PredictionsAppender(predictions_path) if accelerator.is_main_process else None
    undecodable: dict[str, str] = {}  # this process's share: file name -> problem
    try:
        with torch.inference_mode():
            for indices, pixel_values, num_bytes, blake2b, problems in loader:
                decoded = torch.tensor([not problem for problem in problems], device=indices.device)
                undecodable.update(
                    (images.file_names[index], problem)
                    for index, problem in zip(indices.tolist(), problems, strict=True)
                    if problem
                )
                logits = forward(pixel_values).float()
                _check_finite(logits[decoded], indices[decoded], images)
                probabilities = logits.softmax(dim=-1)
                top_probs, top_ids = probabilities.topk(TOP_K, dim=-1)
                gathered = accelerator.gather_for_metrics(
                    (indices, top_ids, top_probs, num_bytes, blake2b, decoded.long())
                )
                if appender is not None:
                    appender.append(
                        _prediction_line(
                            images.file_names[index],
                            ids,
                            probs,
                            ImageFingerprint.from_ints(size, digest),
                        )
                        for index, ids, probs, size, digest, ok in zip(
                            *(column.tolist() for column in gathered), strict=True
                        )
                        if ok
                    )
                progress.update(len(gathered[0]))
    finally:
        if appender is not None:
            appender.close()
        progress.close()
    _raise_if_undecodable(gather_object(sorted(undecodable.items())), predictions_path, total)


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


class _PredictionsAppender:
    """Appends whole batches of lines, each synced to disk before the next batch runs. A write
    that fails (a full disk, a directory turned read-only) is cut back to the last whole batch,
    so the file stays readable and a rerun resumes from it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.num_appended = 0
        try:
            self._descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as error:
            raise _output_write_error(path, error, "nothing was run") from error

    def append(self, lines: Iterator[str] | Sequence[str]) -> None:
        lines = list(lines)
        end = os.lseek(self._descriptor, 0, os.SEEK_END)
        try:
            _write_all(self._descriptor, "".join(lines).encode())
            os.fsync(self._descriptor)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.ftruncate(self._descriptor, end)
            raise _output_write_error(
                self.path,
                error,
                f"nothing was lost: the {self.num_appended:,} predictions of this session's "
                "earlier batches (and any of earlier runs) are kept in it, synced to disk, and the "
                "rerun predicts only the images still missing",
            ) from error
        self.num_appended += len(lines)

    def close(self) -> None:
        os.close(self._descriptor)


def _write_all(descriptor: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a write may take only part)."""
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def _output_write_error(path: Path, error: OSError, consequence: str) -> OutputWriteError:
    """The one message of a failed write into the output directory: which path, why, what it
    means for the work done, and what to do."""
    return OutputWriteError(
        f"cannot write {str(path)!r} ({error.strerror or error}); {consequence}; free space on "
        "that disk (or make the directory writable) and run the same command again"
    )


def _check_finite(logits: torch.Tensor, indices: torch.Tensor, images: LocatedImages) -> None:
    """NaN or +inf logits (an fp16 overflow, say) would be ranked as if they meant something;
    -inf is fine (a class the head lacks) unless no logit of an image is finite."""
    unusable = torch.isnan(logits) | torch.isposinf(logits)
    bad_rows = (unusable.any(dim=-1) | ~torch.isfinite(logits).any(dim=-1)).nonzero()
    if len(bad_rows):
        names = [images.file_names[indices[row]] for row in bad_rows.flatten().tolist()]
        raise NonFiniteOutputError(
            f"the model returned NaN, +inf or no finite logit for {len(names)} image(s), "
            f"first {names[:5]}; with --mixed-precision fp16 this is usually an overflow: try "
            "bf16 or no"
        )


def _cpu_launch_collapsed_to_one_process(accelerator: Accelerator) -> bool:
    """accelerate's simple CPU launcher sets MASTER_ADDR for N > 1 processes but starts one,
    with no WORLD_SIZE (torchrun and accelerate's multi-process launchers set it)."""
    return (
        accelerator.num_processes == 1
        and os.environ.get("ACCELERATE_USE_CPU", "").lower() == "true"
        and "MASTER_ADDR" in os.environ
        and "WORLD_SIZE" not in os.environ
    )


def _launched_processes() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _device_name(accelerator: Accelerator) -> str:
    if accelerator.device.type == "cuda":
        return torch.cuda.get_device_name(accelerator.device)
    return accelerator.device.type

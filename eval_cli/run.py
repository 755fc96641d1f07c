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

Several models in one launch (`evaluate_models`, ``run --model A --model B``, ``--models FILE``)
share what `_start_launch` prepares (the processes, labels, located images and their header
check); each model then runs through `_evaluate_one`, the same code as a single run, into its own
folder. Whatever only the main process decides (resume, checks) reaches the others through
`_on_main`, so that a failing model stops every process at the same point and the next one starts
in step.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import broadcast_object_list, find_executable_batch_size, gather_object
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.annotations import sha256_of_file
from imagenet_multilabel.dataset_script.hub_access import PushError
from imagenet_multilabel.dataset_script.images import (
    CorruptImageError,
    ImageSource,
    LocatedImages,
    check_images,
    decode_image,
    open_image_source,
)
from imagenet_multilabel.dataset_script.labels import Labels, given_or_loaded
from imagenet_multilabel.dataset_script.real import RealLabels
from imagenet_multilabel.eval_cli import hub, outputs, results
from imagenet_multilabel.eval_cli.models import (
    KINDS,
    ZERO_SHOT_PROMPTS,
    ModelLoadError,
    load_model,
    local_model_folder,
    model_problem,
)
from imagenet_multilabel.eval_cli.predictions import prediction_record, read_predictions
from imagenet_multilabel.eval_cli.results import OFFICIAL_KEY, format_cell
from imagenet_multilabel.eval_cli.score import (
    FULL_SPLIT,
    analyze_mistakes,
    chosen_splits,
    full_split_file_names,
    labels_provenance,
    real_labels_for,
    score_splits,
)
from imagenet_multilabel.metric.errors import (
    ToolkitError,
    brief_repr,
    first_few,
    not_a_regular_file,
    shorten,
)
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

PREDICTIONS_FILE = "predictions.jsonl"
RESULTS_FILE = "results.json"
IDENTITY_FILE = "run_identity.json"
TOP_K = 5


class ResumeError(ToolkitError):
    """The output directory holds predictions that this run cannot continue."""


class NonFiniteOutputError(ToolkitError):
    """The model's outputs cannot be ranked."""


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
    return _model_folder(
        Path("eval_results"),
        _model_folder_name(model),
        model,
        "choose its output folder with --output-dir DIR (output_dir=)",
    )


def _model_folder_name(model: str) -> str:
    folder = local_model_folder(model)
    return _folder_name(folder.resolve().name if folder is not None else model.strip("/"))


def _folder_name(text: str) -> str:
    """``text`` as one path component: every run of other characters than ``\\w.-`` is ``--``."""
    return re.sub(r"[^\w.-]+", "--", text)


def _model_folder(parent: Path, name: str, model: str, advice: str) -> Path:
    """``parent / name``, refused before any work when ``name``, made from the model's name, is
    longer than the file system allows a name to be."""
    limit = _longest_name(parent)
    if len(name.encode()) > limit:
        raise outputs.OutputWriteError(
            f"the output folder of model {brief_repr(model)} would be named {brief_repr(name)}, "
            f"{len(name.encode()):,} bytes, longer than the {limit} this file system allows in a "
            f"name; {advice}; nothing was run"
        )
    return parent / name


def _longest_name(directory: Path) -> int:
    """The longest file name (in bytes) allowed where ``directory`` is or would be created."""
    for folder in (directory, *directory.absolute().parents):
        with contextlib.suppress(OSError, ValueError):
            return os.pathconf(folder, "PC_NAME_MAX")
    return 255


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
            outputs.write_json(identity_path, identity)
        except OSError as error:
            raise outputs.write_error(identity_path, error, "nothing was run") from error
        return
    recorded, unreadable = _recorded_identity(identity_path)
    if unreadable is not None:
        raise ResumeError(
            f"{str(output_dir)!r} holds predictions, but {IDENTITY_FILE}, which says which run "
            f"made them, {unreadable}; they cannot be resumed: choose another output directory "
            "or remove that one"
        )
    if recorded != identity:
        raise ResumeError(
            f"{str(output_dir)!r} holds predictions of a different run: "
            f"{_identity_difference(recorded, identity)}; choose another output directory or "
            "remove that one"
        )


def _recorded_identity(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The identity an earlier run recorded, or why it cannot be read (missing, not UTF-8 JSON,
    not an object, nested too deep to compare)."""
    what = not_a_regular_file(path)
    if what is not None:
        return None, what
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(recorded, dict):
            return None, f"holds {type(recorded).__name__}, not an object"
        repr(recorded)  # nested too deep for Python to print, it could not be compared either
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        return None, f"cannot be read as JSON ({shorten(str(error))})"
    return recorded, None


def _identity_difference(recorded: dict[str, Any], identity: dict[str, Any]) -> str:
    """The fields that differ, each with the recorded and the new value."""
    differences = [
        f"{path}: recorded {brief_repr(old)}, now {brief_repr(new)}"
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
        outputs.write_bytes(
            path, b"".join(line for line, _ in kept.values()), mode=path.stat().st_mode & 0o777
        )
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
    """An Accelerator for this launch. accelerate keeps one global state per process; a second
    launch in the same process (another precision, say) starts from a fresh state, keeping the
    process group that a launcher set up."""
    if AcceleratorState._shared_state:
        AcceleratorState._reset_state()
    return Accelerator(
        mixed_precision=mixed_precision,
        cpu=cpu or (_launched_processes() > 1 and not torch.cuda.is_available()),
    )


@dataclass(frozen=True)
class ModelSpec:
    """One model to evaluate: a Hub id or local folder, with an optional revision and kind
    (one of `eval_cli.models.KINDS`; detected from the model's config when None)."""

    model: str
    revision: str | None = None
    kind: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ModelLoadError(
                f"model: expected a Hub model id or a local folder, got {brief_repr(self.model)}"
            )
        if self.revision is not None and (not isinstance(self.revision, str) or not self.revision):
            raise ModelLoadError(
                f"revision of {brief_repr(self.model)}: expected a branch, tag or commit, got "
                f"{brief_repr(self.revision)}"
            )
        if self.kind is not None and self.kind not in KINDS:
            raise ModelLoadError(
                f"kind of {brief_repr(self.model)}: expected one of {', '.join(KINDS)} or None "
                f"(detected), got {brief_repr(self.kind)}"
            )

    def output_dir(self, parent: str | os.PathLike | None) -> Path:
        """Its folder in a sweep: ``parent/<model name>`` (parent default ``eval_results``), with
        ``@<revision>`` when one is given, so that two revisions never share a folder."""
        name = _model_folder_name(self.model)
        if self.revision:
            name = f"{name}@{_folder_name(self.revision)}"
        return _model_folder(
            Path(parent or "eval_results"),
            name,
            self.model,
            "evaluate that model on its own, naming its output folder with --output-dir DIR",
        )


Outcome = tuple[ModelSpec, "dict[str, Any] | ToolkitError | None"]
_MODELS_FILE_LINE = f"MODEL [revision=REVISION] [kind={'|'.join(KINDS)}]"


def read_models_file(path: str | os.PathLike) -> list[ModelSpec]:
    """The models of a ``--models`` file: one a line, ``MODEL [revision=REV] [kind=KIND]``
    (e.g. ``timm/resnet50.a1_in1k revision=main kind=timm``); ``#`` starts a comment."""
    path = Path(path)
    what = not_a_regular_file(path)
    if what is not None:
        raise ToolkitError(f"models file {str(path)!r} {what}; expected a text file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ToolkitError(f"cannot read models file {str(path)!r}: {error}") from error
    specs, problems = [], []
    for number, line in enumerate(lines, start=1):
        words = line.split("#", 1)[0].split()
        spec = _model_line(words) if words else None
        if spec is not None:
            specs.append(spec)
        elif words:
            problems.append(f"line {number}: {line.strip()}")
    if problems:
        raise ToolkitError(
            f"models file {str(path)!r}: {len(problems)} line(s) not of the form "
            f"{_MODELS_FILE_LINE!r} (first: {first_few(problems)})"
        )
    if not specs:
        raise ToolkitError(
            f"models file {str(path)!r} names no model; expected {_MODELS_FILE_LINE}"
        )
    return specs


def _as_specs(models: Sequence[str | ModelSpec]) -> list[ModelSpec]:
    """``evaluate_models``' list of models as specs; one string is not a list of characters."""
    if isinstance(models, str | bytes | os.PathLike) or not isinstance(models, Sequence):
        raise ModelLoadError(
            f"models: expected a list of Hub model ids, local folders or ModelSpec, got "
            f"{type(models).__name__} {brief_repr(models)}; for one model pass [model] or call "
            "evaluate_model"
        )
    wrong = [model for model in models if not isinstance(model, str | ModelSpec)]
    if wrong:
        raise ModelLoadError(
            f"models: expected Hub model ids, local folders or ModelSpec, got {len(wrong)} other "
            f"value(s): {first_few(map(brief_repr, wrong))}"
        )
    specs = [model if isinstance(model, ModelSpec) else ModelSpec(model) for model in models]
    if not specs:
        raise ModelLoadError("no model to evaluate; expected at least one")
    return specs


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


def _model_line(words: Sequence[str]) -> ModelSpec | None:
    """``MODEL [revision=REV] [kind=KIND]``, split into words; None for anything else."""
    model, *options = words
    given: dict[str, str] = {}
    for option in options:
        key, equals, value = option.partition("=")
        if not equals or not value or key not in ("revision", "kind") or key in given:
            return None
        given[key] = value
    if given.get("kind", KINDS[0]) not in KINDS:
        return None
    return ModelSpec(model, given.get("revision"), given.get("kind"))


@dataclass(frozen=True)
class _Compute:
    """How the models of a launch run."""

    batch_size: int | str
    num_workers: int
    mixed_precision: str
    channels_last: bool
    compile: bool
    skip_image_check: bool
    trust_remote_code: bool
    zero_shot_prompts: str

    def __post_init__(self) -> None:
        size = self.batch_size
        if size != "auto" and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise ToolkitError(f"batch_size: expected a positive integer or 'auto', got {size!r}")


@dataclass
class _Launch:
    """What the models of one launch share, prepared once: the processes, the labels, the
    images located in their source, and (on the main process) those whose headers passed."""

    accelerator: Accelerator
    compute: _Compute
    images: str
    source: ImageSource
    labels: Labels
    real_labels: RealLabels | None
    split: str
    splits: tuple[str, ...]
    limit: int | None
    wanted: list[str]
    checked: set[str] = field(default_factory=set)


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
    compute = _Compute(
        batch_size=batch_size,
        num_workers=num_workers,
        mixed_precision=mixed_precision,
        channels_last=channels_last,
        compile=compile,
        skip_image_check=skip_image_check,
        trust_remote_code=trust_remote_code,
        zero_shot_prompts=zero_shot_prompts,
    )
    spec = ModelSpec(model, revision, model_kind)
    _check_models([spec])
    output_dir = Path(output_dir) if output_dir else default_output_dir(model)
    if push_to_hub:
        hub.check_target_repo(model, hub_repo_id)
    accelerator = _accelerator(mixed_precision, cpu)
    with _exclusive_output_dirs(accelerator, [output_dir]):
        launch = _start_launch(
            accelerator,
            compute,
            images,
            split=split,
            labels=labels,
            annotations=annotations,
            labels_dataset=labels_dataset,
            allow_unverified=allow_unverified,
            label_patches=label_patches,
            images_split=images_split,
            limit=limit,
            real_labels=real_labels,
            allow_unverified_real_labels=allow_unverified_real_labels,
            published_labels_only=push_to_hub,
        )
        return _evaluate_one(
            launch,
            spec,
            output_dir,
            push_to_hub=push_to_hub,
            hub_repo_id=hub_repo_id,
            dry_run=dry_run,
        )


def evaluate_models(
    models: Sequence[str | ModelSpec],
    images: str,
    *,
    split: str = "imagenet_m",
    labels: Labels | None = None,
    annotations: str | os.PathLike | None = None,
    labels_dataset: str | None = None,
    allow_unverified: bool = False,
    label_patches: Sequence[str | os.PathLike] = (),
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
    dry_run: bool = False,
    real_labels: str | os.PathLike | None = None,
    allow_unverified_real_labels: bool = False,
    zero_shot_prompts: str = ZERO_SHOT_PROMPTS[0],
) -> list[Outcome]:
    """Evaluate several models (ids, folders or `ModelSpec`) in one launch: labels loaded and
    images located once, then each model exactly as `evaluate_model` runs it (resume and lock
    included) into its own folder ``ModelSpec.output_dir(output_dir)``. A model that fails
    with a ToolkitError (it does not load, its label space is not ImageNet's, its folder holds
    another run, images fail to decode) is reported on stderr and the others go on; labels that
    do not load or images missing from the source stop the launch before any model runs.

    Returns ``(model, outcome)`` per model, in order, on every process: the results document
    (None on processes other than the main one) or the error.
    """
    specs = _as_specs(models)
    output_dirs = [spec.output_dir(output_dir) for spec in specs]
    shared = sorted(str(path) for path, count in Counter(output_dirs).items() if count > 1)
    if shared:
        raise ToolkitError(
            f"{len(shared)} output folder(s) would be written by several models (first: "
            f"{first_few(shared)}); expected each model, or each revision of it, once"
        )
    _check_models(specs)
    compute = _Compute(
        batch_size=batch_size,
        num_workers=num_workers,
        mixed_precision=mixed_precision,
        channels_last=channels_last,
        compile=compile,
        skip_image_check=skip_image_check,
        trust_remote_code=trust_remote_code,
        zero_shot_prompts=zero_shot_prompts,
    )
    if push_to_hub:
        for spec in specs:
            hub.check_target_repo(spec.model, None)
    accelerator = _accelerator(mixed_precision, cpu)
    outcomes: list[Outcome] = []
    with _exclusive_output_dirs(accelerator, output_dirs):
        launch = _start_launch(
            accelerator,
            compute,
            images,
            split=split,
            labels=labels,
            annotations=annotations,
            labels_dataset=labels_dataset,
            allow_unverified=allow_unverified,
            label_patches=label_patches,
            images_split=images_split,
            limit=limit,
            real_labels=real_labels,
            allow_unverified_real_labels=allow_unverified_real_labels,
            published_labels_only=push_to_hub,
        )
        for spec, directory in zip(specs, output_dirs, strict=True):
            try:
                outcome = _evaluate_one(
                    launch,
                    spec,
                    directory,
                    push_to_hub=push_to_hub,
                    hub_repo_id=None,
                    dry_run=dry_run,
                )
            except ToolkitError as error:
                outcome = error
                if accelerator.is_main_process:
                    print(f"error: {spec.model}: {error}", file=sys.stderr)
            outcomes.append((spec, outcome))
            accelerator.free_memory()  # the model's memory, before the next one loads
    return outcomes


def _start_launch(
    accelerator: Accelerator,
    compute: _Compute,
    images: str,
    *,
    split: str,
    labels: Labels | None,
    annotations: str | os.PathLike | None,
    labels_dataset: str | None,
    allow_unverified: bool,
    label_patches: Sequence[str | os.PathLike],
    images_split: str,
    limit: int | None,
    real_labels: str | os.PathLike | None,
    allow_unverified_real_labels: bool,
    published_labels_only: bool,
) -> _Launch:
    """Labels loaded and every wanted image located, once for all the models of a launch; a
    missing image stops the launch before any model is loaded."""
    _warn_about_the_setup(accelerator, compute.mixed_precision)
    splits = chosen_splits(split)
    real = real_labels_for(splits, real_labels, allow_unverified_real_labels)
    # Downloads (labels, a Hub image dataset, the models) happen once per machine, on its first
    # process; the others then read the cache.
    with accelerator.local_main_process_first():
        labels = given_or_loaded(
            labels,
            annotations=annotations,
            dataset=labels_dataset,
            allow_unverified=allow_unverified,
            patches=label_patches,
        )
    if published_labels_only and labels.provenance.get("verified") is not True:
        raise PushError(
            "--push-to-hub needs the published labels, but these are unverified (sha256 "
            f"{labels.provenance.get('sha256')}): only complete results on the published "
            "labels go to the Hub; nothing was run"
        )
    wanted = _wanted_file_names(labels, splits, limit)
    with accelerator.local_main_process_first():
        source = open_image_source(images, split=images_split)
    source.locate(wanted)
    return _Launch(accelerator, compute, images, source, labels, real, split, splits, limit, wanted)


def _evaluate_one(
    launch: _Launch,
    spec: ModelSpec,
    output_dir: Path,
    *,
    push_to_hub: bool,
    hub_repo_id: str | None,
    dry_run: bool,
) -> dict[str, Any] | None:
    """One model of a launch: load, resume, predict what is missing, score, write the results
    (and push them); the document on the main process, None on the others."""
    started = time.perf_counter()
    accelerator, compute = launch.accelerator, launch.compute
    adapter = _loaded_in_step(
        accelerator,
        lambda: load_model(
            spec.model,
            revision=spec.revision,
            trust_remote_code=compute.trust_remote_code,
            kind=spec.kind,
            device=accelerator.device,
            zero_shot_prompts=compute.zero_shot_prompts,
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
    identity = _identity(model_provenance, compute.mixed_precision, launch.labels.provenance)
    done = set(_on_main(accelerator, lambda: _predicted_before(launch, output_dir, identity)))
    located = launch.source.locate([name for name in launch.wanted if name not in done])
    if not compute.skip_image_check:
        _on_main(accelerator, lambda: _check_headers(launch, located))

    module = adapter.module.eval()
    if compute.channels_last:
        module = module.to(memory_format=torch.channels_last)
    module = accelerator.prepare_model(module, evaluation_mode=True)
    if compute.compile:
        module = torch.compile(module)

    def forward(pixel_values: torch.Tensor) -> torch.Tensor:
        if compute.channels_last:
            pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        with accelerator.autocast():
            return adapter.logits(module, pixel_values)

    batch_size = compute.batch_size
    if batch_size == "auto":
        batch_size = _auto_batch_size(accelerator, forward, adapter.preprocess)
    loader = accelerator.prepare_data_loader(
        DataLoader(
            _PreprocessedImages(located, adapter.preprocess),
            batch_size=batch_size,
            num_workers=compute.num_workers,
            pin_memory=accelerator.device.type == "cuda",
            persistent_workers=False,
        )
    )
    loop_started = time.perf_counter()
    _predict(accelerator, loader, forward, located, output_dir / PREDICTIONS_FILE, len(located))
    loop_seconds = time.perf_counter() - loop_started
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return None
    run = {
        "images_source": Path(launch.images).name
        if Path(launch.images).exists()
        else launch.images,
        "split": launch.split,
        "limit": launch.limit,
        "num_processes": accelerator.num_processes,
        "device": _device_name(accelerator),
        "mixed_precision": compute.mixed_precision,
        "batch_size_per_process": batch_size,
        "num_workers": compute.num_workers,
        "channels_last": compute.channels_last,
        "compile": compute.compile,
        "images_predicted_this_session": len(located),
        "images_resumed": len(done),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "images_per_second": round(len(located) / loop_seconds, 2) if len(located) else None,
    }
    document = _scored_document(launch, output_dir, model_provenance, run)
    if push_to_hub:
        hub.push_results(document, output_dir, repo_id=hub_repo_id, dry_run=dry_run)
    return document


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
        limit=launch.limit,
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
            predictions, launch.labels, launch.splits, limit=launch.limit
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


def _predicted_before(launch: _Launch, output_dir: Path, identity: dict[str, Any]) -> list[str]:
    """Main process: the wanted images that an interrupted run of the same identity predicted
    into ``output_dir``, their bytes checked against the launch's image source."""
    _prepare_output_dir(output_dir, identity)
    predictions_path = output_dir / PREDICTIONS_FILE
    recorded = _completed(predictions_path)
    reused = launch.source.locate([name for name in launch.wanted if name in recorded])
    _check_same_images(recorded, reused, predictions_path)
    return list(reused.file_names)


def _check_headers(launch: _Launch, located: LocatedImages) -> None:
    """Main process: the header of every image not checked yet for an earlier model."""
    unchecked = [name for name in located.file_names if name not in launch.checked]
    check_images(launch.source.locate(unchecked), full_decode=False)  # decoded once, later
    launch.checked.update(unchecked)


Result = TypeVar("Result")


def _on_main(accelerator: Accelerator, work: Callable[[], Result]) -> Result:
    """Run ``work`` on the main process only (it alone reads the output directory, which other
    machines may not share) and hand its result, or its ToolkitError, to every process: all go
    on, or all stop, together."""
    outcome: list[Any] = [None]
    if accelerator.is_main_process:
        try:
            outcome = [work()]
        except ToolkitError as error:
            outcome = [error]
    (result,) = broadcast_object_list(outcome)
    if isinstance(result, ToolkitError):
        raise result
    return result


def _loaded_in_step(accelerator: Accelerator, load: Callable[[], Result]) -> Result:
    """``load`` on each machine's first process (it downloads), then on the others (they read
    the cache). Unlike ``local_main_process_first``, a failure there keeps the processes in
    step: every process meets the one barrier, then raises its own error."""
    first, failure = accelerator.is_local_main_process, None
    if first:
        try:
            loaded = load()
        except ToolkitError as error:
            failure = error
    accelerator.wait_for_everyone()
    if failure is not None:
        raise failure
    return loaded if first else load()


def sweep_report(outcomes: Sequence[Outcome], parent: str | os.PathLike | None) -> str:
    """The table a sweep ends with: each model's status, main numbers and folder, then the
    errors in full."""
    rows, errors = [], []
    for spec, outcome in outcomes:
        name = f"{spec.model}@{spec.revision}" if spec.revision else spec.model
        metrics = outcome["metrics"] if isinstance(outcome, dict) else {}
        cells = [
            format_cell(metrics[split], key) if split in metrics else "-"
            for split, key in (("validation", OFFICIAL_KEY), ("imagenet_m", "imagenet_m_correct"))
        ]
        status = "ok" if isinstance(outcome, dict) else f"failed ({type(outcome).__name__})"
        rows.append([name, status, *cells, str(spec.output_dir(parent))])
        if isinstance(outcome, ToolkitError):
            errors.append(f"{name}: {outcome}")
    header = ["Model", "Status", "Multi-label accuracy", "ImageNet-M", "Output"]
    return "\n".join([*results._table(header, rows), *errors])


@contextlib.contextmanager
def _exclusive_output_dirs(accelerator: Accelerator, output_dirs: Sequence[Path]) -> Iterator[None]:
    """The main process checks that each output directory can be written and locks it for the
    whole launch, before any work: a second launch into any of them is refused at once."""
    with contextlib.ExitStack() as locks:
        if accelerator.is_main_process:
            for output_dir in output_dirs:
                locks.enter_context(outputs.exclusive_directory(output_dir))
        yield


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
    on every process; unrankable outputs stop the run at once, on every process alike (each
    judges the gathered batch), so that a sweep's processes stay in step."""
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
                top_probs, top_ids = logits.softmax(dim=-1).topk(TOP_K, dim=-1)
                flags = torch.stack((decoded, _rankable(logits)), dim=1).long()  # gloo: no bool
                *gathered, flags = accelerator.gather_for_metrics(
                    (indices, top_ids, top_probs, num_bytes, blake2b, flags)
                )
                decoded, rankable = flags.bool().unbind(dim=1)
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
            raise outputs.write_error(path, error, "nothing was run") from error

    def append(self, lines: Iterator[str] | Sequence[str]) -> None:
        lines = list(lines)
        end = os.lseek(self._descriptor, 0, os.SEEK_END)
        try:
            _write_all(self._descriptor, "".join(lines).encode())
            os.fsync(self._descriptor)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.ftruncate(self._descriptor, end)
            raise outputs.write_error(
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

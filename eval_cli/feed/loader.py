"""The images a model sees: read and decoded in DataLoader workers, sharded across the processes,
and finished on the model's device batch by batch.

How far the workers go is the run's ``Feed`` (`choose_feed`):

- ``FLOAT_PATH``: decode + the model's own preprocessing, float32 to the device (a model whose
  preprocessing has no exact split, `preprocess_plan.UnsupportedPreprocessingError`);
- ``UINT8_PATH`` (``preprocess_on="cpu"``): decode + the model's own resize and crop, uint8 to the
  device (a quarter of float32's bytes), rescaled and normalised there in float32;
- ``DEVICE_GEOMETRY_PATH`` (``preprocess_on="device"``): decode only; Pillow-exact resize, crop
  and normalisation on the device (`preprocess_plan.Geometry.finish_batch`);
- ``DEVICE_DECODE_PATH`` (``decode_on="device"``): the workers only read bytes; the main process
  decodes each batch at once (`jpeg_decode.decode_batch`: nvJPEG on CUDA, approximate).

On the device paths an image that is not an RGB JPEG (grayscale, CMYK, PNG) is decoded by PIL and
finished by the CPU path in its worker, flagged per image, so results count them. Each image is
decoded once; one that fails becomes a marker (its problem), not an exception, so the run
predicts every other image before it names the failures. Each item carries its image's
fingerprint, computed where the bytes are read, for resume. With a decoded cache
(`decoded_cache`) the workers read the pixels PIL decoded once, and their fingerprint, from it
instead, and go on exactly as after their own decode.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from accelerate import Accelerator
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ...dataset_script.images.decode import decode_image
from ...dataset_script.images.errors import CorruptImageError
from ...dataset_script.images.source import LocatedImages
from .decoded_cache import DecodedImages
from .fingerprint import ImageFingerprint
from .jpeg_decode import ImageDecodeError, decode_batch, decoder_label, is_rgb_jpeg
from .preprocess_plan import PreprocessPlan, UnsupportedPreprocessingError

FLOAT_PATH = "float32 from the workers (the model's own preprocessing)"
UINT8_PATH = "uint8 from the workers (the model's own resize and crop), normalised on the device"
DEVICE_GEOMETRY_PATH = "decoded in the workers; resized, cropped and normalised on the device"
DEVICE_DECODE_PATH = "decoded, resized, cropped and normalised on the device"
WORKER_DECODER = "PIL (libjpeg-turbo)"
_BLANK = Image.new("RGB", (256, 256))  # the stand-in pixels of an image that failed to decode


class Batch(NamedTuple):
    """One step of the loop, on the model's device: positions in the located images, the pixels
    (float32 on the float path, else the uint8 that `model_pixels` normalises per model), each
    image's fingerprint as two int64 columns, per image its decode problem
    or '', and whether a device path finished it on the CPU path instead (not an RGB JPEG)."""

    indices: torch.Tensor
    pixel_values: torch.Tensor
    num_bytes: torch.Tensor
    blake2b: torch.Tensor
    problems: list[str]
    cpu_fallbacks: torch.Tensor


@dataclass(frozen=True)
class Feed:
    """How images reach the model: the path (one of the ``*_PATH`` names), the decoder, the
    model's float preprocessing and its exact split, and why a requested path was not taken."""

    path: str
    decoder: str
    preprocess: Callable[[Image.Image], torch.Tensor]
    plan: PreprocessPlan | None
    note: str | None = None

    def as_record(self) -> dict[str, Any]:
        return {"preprocessing_path": self.path, "decode": self.decoder, "feed_note": self.note}


def choose_feed(
    preprocess: Callable[[Image.Image], torch.Tensor],
    plan: PreprocessPlan | None,
    plan_problem: str | None,
    *,
    preprocess_on: str,
    decode_on: str,
    device: torch.device,
) -> Feed:
    """The path ``preprocess_on``/``decode_on`` ask for, or the nearest exact one this model's
    preprocessing allows on ``device``, with the reason in ``note``."""
    if plan is None:
        note = f"the float32 path: {plan_problem}"
        return Feed(FLOAT_PATH, WORKER_DECODER, preprocess, None, note)
    if preprocess_on == "cpu":
        return Feed(UINT8_PATH, WORKER_DECODER, preprocess, plan)
    try:  # a step the device cannot run (torchvision's LANCZOS off the CPU) shows at once
        probe = plan.geometry.split_work(Image.new("RGB", (64, 48)))
        plan.geometry.finish_batch([probe], device)
    except UnsupportedPreprocessingError as error:
        note = f"resized on the CPU: {error}"
        return Feed(UINT8_PATH, WORKER_DECODER, preprocess, plan, note)
    if decode_on == "device":
        return Feed(DEVICE_DECODE_PATH, decoder_label(device), preprocess, plan)
    return Feed(DEVICE_GEOMETRY_PATH, WORKER_DECODER, preprocess, plan)


class WorkerImages(Dataset):
    """The workers' share of ``feed``. An item is ``(index, payload, fingerprint as two ints,
    problem, finished)``: ``payload`` is the finished image (``finished``), or what the main
    process finishes (decoded pixels, or the bytes on the device-decode path); ``problem`` is
    empty, or says why the image could not be read or decoded (the payload is then a blank
    stand-in that is never predicted). ``decoded``: the images' pixels decoded once, read
    instead of decoding (never on the device-decode path)."""

    def __init__(self, images: LocatedImages, feed: Feed, decoded: DecodedImages | None = None):
        self.images, self.feed, self.decoded = images, feed, decoded

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[int, Any, int, int, str, bool]:
        if self.decoded is not None:
            return self._cached_item(index)
        try:
            file_name, data = self.images[index]
            payload, finished = self._work(data, file_name)
        except CorruptImageError as error:
            return index, self.finished(_BLANK), 0, 0, error.problems[0][1], True
        return index, payload, *ImageFingerprint.of(data).as_ints(), "", finished

    def finished(self, image: Image.Image) -> torch.Tensor:
        """``image`` through the CPU path: float32 on the float path, else uint8."""
        if self.feed.path == FLOAT_PATH:
            return self.feed.preprocess(image)
        return self.feed.plan.geometry.apply_pil(image)

    def _cached_item(self, index: int) -> tuple[int, Any, int, int, str, bool]:
        """The item from the decoded cache: the same pixels as ``decode_image`` gives, the
        same split of work as ``_work`` (an image whose bytes were not RGB is finished here)."""
        pixels, fingerprint, rgb, problem = self.decoded.read(index)
        if problem:
            return index, self.finished(_BLANK), 0, 0, problem, True
        if self.feed.path == DEVICE_GEOMETRY_PATH and rgb:
            return index, torch.from_numpy(pixels.copy()).permute(2, 0, 1), *fingerprint, "", False
        return index, self.finished(Image.fromarray(pixels)), *fingerprint, "", True

    def _work(self, data: bytes, file_name: str) -> tuple[Any, bool]:
        path = self.feed.path
        if path == DEVICE_DECODE_PATH and is_rgb_jpeg(data):
            return data, False
        image = decode_image(data, file_name)
        if path == DEVICE_GEOMETRY_PATH and _is_rgb(data):
            pixels, _ = self.feed.plan.geometry.split_work(image)
            return pixels, False
        return self.finished(image), True


def _is_rgb(data: bytes) -> bool:
    """Whether the file holds RGB pixels (its header; decode_image has converted the rest)."""
    with Image.open(io.BytesIO(data)) as image:
        return image.mode == "RGB"


def _collate(items: Sequence[tuple], *, stack: bool) -> tuple:
    indices, payloads, sizes, digests, problems, finished = zip(*items, strict=True)
    return (
        torch.tensor(indices),
        torch.stack(payloads) if stack else list(payloads),
        torch.tensor(sizes),
        torch.tensor(digests),
        list(problems),
        torch.tensor(finished),
    )


def prediction_batches(
    accelerator: Accelerator,
    images: LocatedImages,
    feed: Feed,
    batch_size: int,
    num_workers: int,
    decoded: DecodedImages | None = None,
) -> Iterator[Batch]:
    """``images`` through ``feed`` in ``num_workers`` workers per process, this process's
    share, each batch's geometry finished on ``accelerator.device`` (accelerate pads the last
    shard; the gather drops it); normalisation is left to each model (`model_pixels`), so that
    models of equal geometry share one pass. ``decoded``: their pixels, decoded once."""
    dataset = WorkerImages(images, feed, decoded)
    stacked = feed.path in (FLOAT_PATH, UINT8_PATH)
    loader = accelerator.prepare_data_loader(
        DataLoader(
            dataset,
            batch_size=batch_size,
            num_workers=num_workers,
            collate_fn=functools.partial(_collate, stack=stacked),
            pin_memory=accelerator.device.type == "cuda" and feed.path != DEVICE_DECODE_PATH,
            persistent_workers=False,
        )
    )
    device = accelerator.device
    for indices, payloads, num_bytes, blake2b, problems, finished in loader:
        on_cpu = [False] * len(problems)  # by design on the float and uint8 paths
        if stacked:
            pixels = payloads
        else:
            on_cpu = finished.tolist()
            if feed.path == DEVICE_DECODE_PATH:
                names = [images.file_names[index] for index in indices.tolist()]
                payloads, on_cpu = _decoded_on_device(
                    dataset, payloads, on_cpu, names, problems, device
                )
            items = [(p.to(device), not cpu) for p, cpu in zip(payloads, on_cpu, strict=True)]
            pixels, _ = feed.plan.geometry.finish_batch(items, device)
        fallbacks = [cpu and not problem for cpu, problem in zip(on_cpu, problems, strict=True)]
        yield Batch(
            indices, pixels, num_bytes, blake2b, problems, torch.tensor(fallbacks, device=device)
        )


def model_pixels(feed: Feed, pixels: torch.Tensor) -> torch.Tensor:
    """A batch's pixels (`Batch.pixel_values`, or some of its rows) as the model of ``feed``
    takes them: the uint8 normalised on their device; the float path's as they are. Models with
    equal geometry share the uint8 and differ here only."""
    if feed.path == FLOAT_PATH:
        return pixels
    return feed.plan.normalization.apply(pixels)


def _decoded_on_device(
    dataset: WorkerImages,
    payloads: list[Any],
    finished: list[bool],
    names: list[str],
    problems: list[str],
    device: torch.device,
) -> tuple[list[torch.Tensor], list[bool]]:
    """A batch's bytes decoded at once on ``device`` (`decode_batch`). An image the batched
    decoder refuses is decoded by PIL and finished on the CPU path or, if PIL refuses it too,
    gets its problem (written into ``problems``) and a blank. Returns the pixels and which
    images are finished."""
    pending = [index for index, done in enumerate(finished) if not done]
    pixels, finished = list(payloads), list(finished)
    try:
        decoded = decode_batch([payloads[i] for i in pending], [names[i] for i in pending], device)
        by_image: list[torch.Tensor | None] = list(decoded.pixels)
    except ImageDecodeError:  # each image alone below, so that only the culprits fall back
        by_image = [None] * len(pending)
    for index, image in zip(pending, by_image, strict=True):
        if image is None:
            try:
                image = decode_batch([payloads[index]], [names[index]], device).pixels[0]
            except ImageDecodeError:
                try:
                    image = dataset.finished(decode_image(payloads[index], names[index]))
                except CorruptImageError as error:
                    problems[index] = error.problems[0][1]
                    image = dataset.finished(_BLANK)
                finished[index] = True
        pixels[index] = image
    return pixels, finished

"""The images a model sees: decoded and preprocessed in DataLoader workers, sharded across the
processes, and handed to the loop batch by batch on the model's device.

Each image is decoded once, here; one that fails to decode becomes a marker (its problem), not an
exception, so the run predicts every other image before it names the failures. Each item carries
its image's fingerprint, computed where the bytes are read, for resume.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
from accelerate import Accelerator
from imagenet_multilabel.dataset_script.image_decode import decode_image
from imagenet_multilabel.dataset_script.image_errors import CorruptImageError
from imagenet_multilabel.dataset_script.image_source import LocatedImages
from imagenet_multilabel.eval_cli.resume import ImageFingerprint
from PIL import Image
from torch.utils.data import DataLoader, Dataset


class Batch(NamedTuple):
    """One step of the loop, on the model's device: positions in the located images, pixels,
    each image's fingerprint as two int64 columns, and per image its decode problem or ''."""

    indices: torch.Tensor
    pixel_values: torch.Tensor
    num_bytes: torch.Tensor
    blake2b: torch.Tensor
    problems: list[str]


class PreprocessedImages(Dataset):
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


def prediction_batches(
    accelerator: Accelerator,
    images: LocatedImages,
    preprocess: Callable[[Image.Image], torch.Tensor],
    batch_size: int,
    num_workers: int,
) -> Iterator[Batch]:
    """``images`` preprocessed in ``num_workers`` workers per process, this process's share, each
    batch moved to ``accelerator.device`` (accelerate pads the last shard; the gather drops it)."""
    loader = accelerator.prepare_data_loader(
        DataLoader(
            PreprocessedImages(images, preprocess),
            batch_size=batch_size,
            num_workers=num_workers,
            pin_memory=accelerator.device.type == "cuda",
            persistent_workers=False,
        )
    )
    for indices, pixel_values, num_bytes, blake2b, problems in loader:
        yield Batch(indices, pixel_values, num_bytes, blake2b, list(problems))

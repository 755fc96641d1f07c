"""Feeding the device: how close each preprocessing/decoding path comes to the forward pass.

Synthetic 500x375 JPEGs (~ImageNet's size), random-weight ResNet-50 and ViT-B/16 configured as
microsoft/resnet-50 and google/vit-base-patch16-224, with transformers' PIL-backend processors
(so the device path exercises ``resample.pil_resize``). For each model, images/s of:

(forward)   the forward pass alone on pre-made batches;
(float)     DataLoader workers decode + the processor -> float32 to the device (today's ``run``);
(uint8)     workers decode + the model's own geometry -> uint8 to the device, normalised there;
(geometry)  workers decode only -> uint8 RGB to the device; resize/crop (Pillow-exact) and
            normalise there;
(decode)    workers only read bytes; batched ``decode_jpeg`` on the device (nvJPEG on CUDA,
            approximate; libjpeg-turbo on CPU), geometry and normalisation there.

Then the ``run`` command itself (through ``evaluate_model``, the models saved and reloaded as
``run`` loads them, so transformers' default torchvision-backend processors) for each
``--preprocess-on``/``--decode-on`` choice: its loop images/s (results.json), run/forward ratio,
and the fixed cost (the whole call minus the loop: imports done, labels, image index and header
check, model load, workers, scoring, writing). bf16 on CUDA, fp32 on CPU.
Run: ``python benchmarks/bench_gpu.py`` (GPU defaults: 2,048 images,
batch 256) or ``--images 64 --batch-size 16`` on a CPU (a couple of minutes).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from imagenet_multilabel.eval_cli.feed.jpeg_decode import decode_batch, decoder_label
from imagenet_multilabel.eval_cli.feed.preprocess_plan import PreprocessPlan, plan_for_processor
from PIL import Image
from timing import Rounds, timed
from torch.utils.data import DataLoader, Dataset


def make_jpegs(count: int, seed: int = 0) -> list[bytes]:
    """Photo-sized JPEGs: a gradient, noise and a random tint, quality 90 (~80 KB each)."""
    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 255, 500, dtype=np.float32)[None, :, None]
    encoded = []
    for _ in range(count):
        noise = rng.normal(0, 40, (375, 500, 3)).astype(np.float32)
        pixels = np.clip(gradient + noise + rng.integers(0, 128, 3), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
        encoded.append(buffer.getvalue())
    return encoded


def make_models() -> dict[str, tuple[torch.nn.Module, object]]:
    from transformers import (
        ResNetConfig,
        ResNetForImageClassification,
        ViTConfig,
        ViTForImageClassification,
    )
    from transformers.models.convnext.image_processing_pil_convnext import (
        ConvNextImageProcessorPil,
    )
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    torch.manual_seed(0)
    resnet = ResNetForImageClassification(
        ResNetConfig(layer_type="bottleneck", depths=[3, 4, 6, 3], num_labels=1000)
    )
    resnet_processor = ConvNextImageProcessorPil(
        size={"shortest_edge": 224}, crop_pct=0.875, resample=Image.Resampling.BILINEAR
    )
    vit = ViTForImageClassification(ViTConfig(num_labels=1000))
    vit_processor = ViTImageProcessorPil(size={"height": 224, "width": 224})
    return {"ResNet-50": (resnet, resnet_processor), "ViT-B/16": (vit, vit_processor)}


class _Images(Dataset):
    def __init__(self, encoded: list[bytes], work: Callable[[bytes], object]) -> None:
        self.encoded, self.work = encoded, work

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, index: int):
        return self.work(self.encoded[index])


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


class FloatWork:
    def __init__(self, processor) -> None:
        self.processor = processor

    def __call__(self, data: bytes) -> torch.Tensor:
        image = _open(data).convert("RGB")
        return self.processor(images=image, return_tensors="pt")["pixel_values"][0]


class Uint8Work:
    def __init__(self, plan: PreprocessPlan) -> None:
        self.plan = plan

    def __call__(self, data: bytes) -> torch.Tensor:
        return self.plan.geometry.apply_pil(_open(data))


class SplitWork:
    def __init__(self, plan: PreprocessPlan) -> None:
        self.plan = plan

    def __call__(self, data: bytes):
        return self.plan.geometry.split_work(_open(data))


def _as_list(batch):
    return batch


def _identity(data: bytes) -> bytes:
    return data


def time_loop(loader: DataLoader, to_input: Callable[[object], torch.Tensor], forward) -> float:
    """Images/s of the whole loop: loader -> device input -> forward, synchronised."""
    images = 0
    with timed() as timing:
        for batch in loader:
            pixel_values = to_input(batch)
            forward(pixel_values)
            images += pixel_values.shape[0]
        if torch.cuda.is_available():
            torch.cuda.synchronize()
    return images / timing.wall_s


def bench_model(name: str, module, processor, encoded: list[bytes], args, device) -> float:
    """The loops above for one model; returns its forward-only images/s."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    module = module.eval().to(device=device, dtype=dtype)
    plan = plan_for_processor(processor)
    geometry, normalization = plan.geometry, plan.normalization

    @torch.inference_mode()
    def forward(pixel_values: torch.Tensor) -> None:
        module(pixel_values=pixel_values.to(device=device, dtype=dtype)).logits.float().cpu()

    def loader(work, collate=None) -> DataLoader:
        return DataLoader(
            _Images(encoded, work),
            batch_size=args.batch_size,
            num_workers=args.workers,
            collate_fn=collate,
            pin_memory=device.type == "cuda",
            persistent_workers=False,
        )

    fixed = torch.randn(args.batch_size, 3, 224, 224)
    forward(fixed)  # warm-up
    batches = max(1, len(encoded) // args.batch_size)
    with timed() as timing:
        for _ in range(batches):
            forward(fixed)
        if device.type == "cuda":
            torch.cuda.synchronize()
    forward_rate = batches * args.batch_size / timing.wall_s

    fallbacks = {"geometry": 0, "decode": 0}

    def device_geometry(items) -> torch.Tensor:
        batch, cpu_fallbacks = geometry.finish_batch(items, device)
        fallbacks["geometry"] += cpu_fallbacks
        return normalization.apply(batch)

    def device_decode(encoded_batch) -> torch.Tensor:
        names = [f"image {i}" for i in range(len(encoded_batch))]
        decoded = decode_batch(encoded_batch, names, device)
        fallbacks["decode"] += decoded.pil_fallbacks
        batch, _ = geometry.finish_batch([(p, True) for p in decoded.pixels], device)
        return normalization.apply(batch)

    rates = {
        "float (today)": time_loop(loader(FloatWork(processor)), lambda b: b.to(device), forward),
        "uint8 cpu geometry": time_loop(
            loader(Uint8Work(plan)), lambda b: normalization.apply(b.to(device)), forward
        ),
        "device geometry (exact)": time_loop(
            loader(SplitWork(plan), _as_list), device_geometry, forward
        ),
        f"device decode ({decoder_label(device)})": time_loop(
            loader(_identity, _as_list), device_decode, forward
        ),
    }
    print(
        f"\n{name} ({dtype}, batch {args.batch_size}, {len(encoded)} images, "
        f"{args.workers} workers, geometry resampler: {geometry.resampler})"
    )
    print(f"  {'forward only':<40} {forward_rate:9.1f} images/s")
    for label, rate in rates.items():
        print(f"  {label:<40} {rate:9.1f} images/s   {rate / forward_rate:5.2f}x forward")
    print(f"  CPU-path fallbacks: {fallbacks}")
    return forward_rate


RUN_CHOICES = (("cpu", "cpu"), ("device", "cpu"), ("device", "device"))


def bench_run_command(name: str, module, processor, args, device, forward_rate: float) -> None:
    """``run`` (``evaluate_model``) of ``module`` for each (preprocess_on, decode_on) choice."""
    from bench_run import make_images
    from imagenet_multilabel.dataset_script import classes

    from imagenet_multilabel import LabelSource, evaluate_model

    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        tar, annotations, _ = make_images(directory, args.images)
        model_dir = directory / "model"
        module.config.id2label = dict(enumerate(classes.WNIDS))
        module.config.label2id = {wnid: i for i, wnid in enumerate(classes.WNIDS)}
        module.save_pretrained(model_dir)
        processor.save_pretrained(model_dir)
        print(f"\n{name}: the run command ({args.images} images, batch {args.batch_size})")
        for preprocess_on, decode_on in RUN_CHOICES:
            output = directory / f"out-{preprocess_on}-{decode_on}"
            with timed() as timing:
                evaluate_model(
                    str(model_dir),
                    str(tar),
                    split="validation",
                    labels=LabelSource(annotations, allow_unverified=True),
                    batch_size=args.batch_size,
                    num_workers=args.workers,
                    mixed_precision="bf16" if device.type == "cuda" else "no",
                    preprocess_on=preprocess_on,
                    decode_on=decode_on,
                    output_dir=output,
                )
            wall = timing.wall_s
            run = json.loads((output / "results.json").read_text())["run"]
            rate = run["images_per_second"]
            fixed = wall - run["images_predicted_this_session"] / rate
            label = f"--preprocess-on {preprocess_on} --decode-on {decode_on}"
            print(
                f"  {label:<40} {rate:9.1f} images/s   {rate / forward_rate:5.2f}x forward   "
                f"whole call {wall:6.1f} s, fixed cost {fixed:5.1f} s   [{run['decode']}; "
                f"{run['images_finished_on_the_cpu_path']} on the CPU path]"
            )


def resample_speed(repeats: int = 20) -> None:
    """One 500x375 -> 298x224 bilinear resize: PIL vs pil_resize on the CPU (and CUDA)."""
    from imagenet_multilabel.eval_cli.feed.resample import pil_resize

    pixels = np.asarray(Image.open(io.BytesIO(make_jpegs(1)[0])).convert("RGB"))
    image = Image.fromarray(pixels)
    tensor = torch.from_numpy(pixels.copy()).permute(2, 0, 1)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print("\none 500x375 -> 298x224 resize, ms (median of", repeats, "):")
    for resample in (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC):
        pil_ms = _median_ms(lambda r=resample: image.resize((298, 224), r), repeats)
        print(f"  {resample.name:<9} PIL {pil_ms:7.3f}", end="")
        for device in devices:
            on_device = tensor.to(device)
            ms = _median_ms(
                lambda x=on_device, r=resample: pil_resize(x, 224, 298, r), repeats, device
            )
            print(f"   pil_resize[{device}] {ms:7.3f}", end="")
        print()


def _median_ms(call: Callable[[], object], repeats: int, device: str = "cpu") -> float:
    call()
    rounds = Rounds()
    for _ in range(repeats):
        with rounds.measure("call"):
            call()
            if device == "cuda":
                torch.cuda.synchronize()
    return rounds.median("call").wall_s * 1e3


def main() -> None:
    on_gpu = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2048 if on_gpu else 64)
    parser.add_argument("--batch-size", type=int, default=256 if on_gpu else 16)
    parser.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1))
    parser.add_argument("--models", nargs="*", default=["ResNet-50", "ViT-B/16"])
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    device = torch.device("cuda" if on_gpu else "cpu")
    print(
        f"device: {torch.cuda.get_device_name() if on_gpu else 'CPU'}; {os.cpu_count()} CPU cores"
    )
    resample_speed()
    encoded = make_jpegs(args.images)
    models = make_models()
    for name in args.models:
        forward_rate = bench_model(name, *models[name], encoded, args, device)
        bench_run_command(name, *models[name], args, device, forward_rate)


if __name__ == "__main__":
    main()

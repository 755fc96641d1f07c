"""`imagenet-multilabel run` end to end against the forward pass alone and `evaluate`'s evaluator.

One run, one model (ResNet-50-sized, random weights, microsoft/resnet-50's configuration and
preprocessing), the same synthetic 500x375 JPEGs and the same batch size:

(a) `imagenet-multilabel run` end to end (labels, image index and check, model load, decode,
    preprocess, forward, gather, predictions file, scoring, outputs), wall time of the whole call;
(b) the model's forward pass alone on pre-made tensors;
(c) `evaluate.evaluator("image-classification")` with a transformers pipeline on the same images.

Goals (issue 3): on this 2-core CPU (a) >= 0.7x the throughput of (b) and (a) >= 3x faster than
(c); on a GPU (a) >= 0.9x of (b). Run: ``python benchmarks/bench_run.py [--images 128]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from timing import Rounds, Timing, timed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the synthetic annotation file of the test suite

from annotation_fixtures import synthetic_annotations, write_annotation_file  # noqa: E402
from imagenet_multilabel.dataset_script import classes  # noqa: E402


def make_images(directory: Path, count: int, seed: int = 0) -> tuple[Path, Path, list[int]]:
    """A val tar of ``count`` photo-sized JPEGs and an annotation file that covers them."""
    data = synthetic_annotations(images_per_class=2, seed=seed)
    names = sorted(n for n in data["initial_annots"] if n.startswith("ILSVRC"))[:count]
    data["initial_annots"] = {n: data["initial_annots"][n] for n in names}
    data["imagenet_m"] = names[:68]
    annotations = directory / "annotations.json"
    write_annotation_file(annotations, data)
    rng = np.random.default_rng(seed)
    tar_path = directory / "ILSVRC2012_img_val.tar"
    gradient = np.linspace(0, 255, 500, dtype=np.float32)[None, :, None]
    with tarfile.open(tar_path, "w") as tar:
        for name in names:
            noise = rng.normal(0, 40, (375, 500, 3)).astype(np.float32)
            pixels = np.clip(gradient + noise + rng.integers(0, 128, 3), 0, 255).astype(np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
            member = tarfile.TarInfo(name)
            member.size = buffer.tell()
            buffer.seek(0)
            tar.addfile(member, buffer)
    return tar_path, annotations, [classes.image_id_from_file_name(n) for n in names]


def make_model(directory: Path) -> Path:
    """ResNet-50 as microsoft/resnet-50 is configured, random weights, wnid labels."""
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetForImageClassification

    torch.manual_seed(0)
    config = ResNetConfig(
        layer_type="bottleneck",
        depths=[3, 4, 6, 3],
        hidden_sizes=[256, 512, 1024, 2048],
        embedding_size=64,
        id2label=dict(enumerate(classes.WNIDS)),
    )
    ResNetForImageClassification(config).save_pretrained(directory)
    ConvNextImageProcessor(
        size={"shortest_edge": 224}, crop_pct=0.875, resample=Image.Resampling.BILINEAR
    ).save_pretrained(directory)
    return directory


def time_eval_cli(
    model: Path, tar: Path, annotations: Path, out: Path, args, precision: str
) -> Timing:
    """(a): the whole evaluation through the API the command calls."""
    from imagenet_multilabel import LabelSource, evaluate_model

    with timed() as timing:
        evaluate_model(
            str(model),
            str(tar),
            split="validation",
            labels=LabelSource(annotations, allow_unverified=True),
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            mixed_precision=precision,
            output_dir=out,
        )
    return timing


def time_forward(model: Path, count: int, batch_size: int, precision: str) -> Timing:
    """The forward pass alone, on tensors made before the clock starts, in the same precision."""
    from transformers import ResNetForImageClassification

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    module = ResNetForImageClassification.from_pretrained(model).eval().to(device)
    batches = [
        torch.randn(min(batch_size, count - i), 3, 224, 224, device=device)
        for i in range(0, count, batch_size)
    ]
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    with torch.inference_mode(), autocast:
        module(pixel_values=batches[0])  # warm-up outside the clock
        _synchronize(device)
        with timed() as timing:
            for batch in batches:
                top5 = module(pixel_values=batch).logits.softmax(-1).topk(5)
            top5.indices.cpu()  # like the run, which brings every batch's top-5 to the host
            _synchronize(device)
    return timing


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_evaluator(model: Path, tar: Path, directory: Path) -> Timing:
    """`evaluate.evaluator("image-classification")` with its default pipeline settings."""
    import datasets
    import evaluate
    import transformers
    from transformers import pipeline

    if not hasattr(transformers, "TFPreTrainedModel"):
        # evaluate 0.4.6's evaluator still names TensorFlow models, which transformers 5 removed;
        # an empty stand-in class lets its isinstance check run (nothing else is affected).
        transformers.TFPreTrainedModel = type("TFPreTrainedModel", (), {})

    with tarfile.open(tar) as archive:
        members = archive.getmembers()
        images = [Image.open(io.BytesIO(archive.extractfile(m).read())) for m in members]
    labels = classes.validation_labels()
    ids = [classes.image_id_from_file_name(m.name) for m in members]
    data = datasets.Dataset.from_dict(
        {"image": images, "label": [int(labels[i - 1]) for i in ids]},
        features=datasets.Features(
            {"image": datasets.Image(), "label": datasets.ClassLabel(names=list(classes.WNIDS))}
        ),
    )
    metric_dir = directory / "plain_accuracy"  # the Hub's "accuracy" is out of reach offline
    metric_dir.mkdir(parents=True)
    (metric_dir / "plain_accuracy.py").write_text(_ACCURACY_MODULE)
    metric = evaluate.load(str(metric_dir / "plain_accuracy.py"))
    with timed() as timing:  # like (a), the clock includes loading the model
        pipe = pipeline(
            "image-classification", model=str(model), device=0 if torch.cuda.is_available() else -1
        )
        evaluator = evaluate.evaluator("image-classification")
        evaluator.compute(
            model_or_pipeline=pipe,
            data=data,
            metric=metric,
            label_mapping={wnid: index for index, wnid in enumerate(classes.WNIDS)},
        )
    return timing


_ACCURACY_MODULE = """
import datasets
import evaluate


class PlainAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="accuracy", citation="", inputs_description="",
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references):
        hits = sum(int(p == r) for p, r in zip(predictions, references))
        return {"accuracy": hits / len(references)}
"""


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8, help="8 is fastest on this CPU")
    parser.add_argument("--num-workers", type=int, default=1)
    parser.add_argument("--precisions", nargs="+", default=["no", "bf16"], choices=["no", "bf16"])
    parser.add_argument("--repeats", type=int, default=3, help="rounds; medians are reported")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rounds = Rounds()
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        os.environ["HF_HOME"] = str(directory / "hf_home")
        tar, annotations, _ = make_images(directory, args.images)
        model = make_model(directory / "resnet50")
        for round_index in range(args.repeats):  # rounds interleave the three measurements
            rounds.add(
                "evaluator", time_evaluator(model, tar, directory / f"evaluator-{round_index}")
            )
            for precision in args.precisions:
                out = directory / f"out-{precision}-{round_index}"
                rounds.add(
                    f"run-{precision}", time_eval_cli(model, tar, annotations, out, args, precision)
                )
                rounds.add(
                    f"forward-{precision}",
                    time_forward(model, args.images, args.batch_size, precision),
                )
    median = {name: rounds.median(name).wall_s for name in rounds.timings}
    evaluator = median["evaluator"]
    summary: dict = {
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "torch_threads": torch.get_num_threads(),
        "images": args.images,
        "batch_size": args.batch_size,
        "num_workers": args.num_workers,
        "repeats": args.repeats,
        "seconds": rounds.wall_seconds(),
        "evaluator_fp32_median_s": round(evaluator, 3),
    }
    print(f"medians of {args.repeats} rounds, {args.images} images:")
    print(f"(c) evaluate evaluator (fp32, its defaults): {evaluator:7.2f} s")
    for precision in args.precisions:
        end_to_end, forward = median[f"run-{precision}"], median[f"forward-{precision}"]
        summary[precision] = {
            "eval_cli_run_median_s": round(end_to_end, 3),
            "forward_only_median_s": round(forward, 3),
            "run_vs_forward_throughput": round(forward / end_to_end, 3),
            "run_speedup_vs_evaluator": round(evaluator / end_to_end, 3),
        }
        print(f"mixed precision {precision!r}:")
        for label, seconds in (("(a) run", end_to_end), ("(b) forward", forward)):
            print(f"  {label:<18} {seconds:7.2f} s ({args.images / seconds:.1f} img/s)")
        print(f"  (a)/(b) throughput {forward / end_to_end:.2f} (goal >= 0.7 on CPU)")
        print(f"  (a) vs (c) speed-up {evaluator / end_to_end:.2f}x (goal >= 3)")
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()

"""The taxonomy's image rules (`eval_cli.models.categorizer`): each decision on embeddings made by
hand (a stand-in model whose image and text embeddings the test sets), then the mechanics on
tiny random CLIP and SigLIP models and real photos (batching, each image embedded once, evidence,
device, one load per process), and bad input: a model that is not CLIP-like refused before any
weight is read, images missing or corrupt not judged and counted. Tiny random models cannot test
quality; docs/TAXONOMY.md says the rules' agreement with the experts is not measured."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from image_fixtures import image_colour, make_jpeg, make_val_folder
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.images.choose import open_image_source
from imagenet_multilabel.dataset_script.taxonomy import class_relations
from imagenet_multilabel.dataset_script.taxonomy.categories import CATEGORIES, categorize_mistakes
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.eval_cli.models import ModelLoadError
from imagenet_multilabel.eval_cli.models import categorizer as categorizer_module
from imagenet_multilabel.eval_cli.models.categorizer import (
    NON_PROTOTYPICAL_MIN_RANK,
    ImageCategorizer,
)
from imagenet_multilabel.eval_cli.models.zero_shot_prompts import ZERO_SHOT_TEMPLATE
from mistake_fixtures import write_loop_inputs
from model_fixtures import save_clip, save_config_only, save_siglip
from photo_fixtures import photo_like_jpeg, real_photo_jpeg
from test_taxonomy_categories import make_references

LEMON, ORANGE, GOLDFISH = 951, 950, 1
MANDARIN = "mandarin"  # an out-of-vocabulary WordNet relative of lemon (a sibling)
DIMENSION = 1024  # one axis per class, the rest for relatives' names


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("categorizer_models")
    return {"clip": save_clip(folder / "clip"), "siglip": save_siglip(folder / "siglip")}


def png(image_id: int) -> bytes:
    """A solid-colour image whose colour survives encoding exactly (it names the image)."""
    return make_jpeg(image_id, image_format="PNG")


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def axis(index: int) -> np.ndarray:
    vector = np.zeros(DIMENSION, dtype=np.float32)
    vector[index] = 1.0
    return vector


class StandIn:
    """A stand-in for a loaded zero-shot adapter: class ``i``'s prototype is axis ``i``, a
    relative's name has its own axis (1000 + its place in ``names``), an image's embedding is
    what ``images`` (image id -> vector) says, found by its colour."""

    def __init__(self, images: dict[int, np.ndarray], names: list[str]) -> None:
        self.names = names
        by_colour = {image_colour(i): torch.tensor(unit(v)) for i, v in images.items()}
        self.encoded: list[list[str]] = []
        self.embedded_batches: list[int] = []
        stand_in = self

        class Module:
            text_embeds = torch.eye(classes.NUM_CLASSES, DIMENSION)
            model = type("Model", (), {"config": type("Config", (), {"model_type": "clip"})})

            @staticmethod
            def image_embeddings(pixels: torch.Tensor) -> torch.Tensor:
                stand_in.embedded_batches.append(len(pixels))
                return torch.stack([by_colour[tuple(p.tolist())] for p in pixels])

        self.module = Module

    @staticmethod
    def preprocess(image) -> torch.Tensor:
        return torch.tensor(image.getpixel((0, 0)))

    def text_encoder(self, prompts: list[str], *, truncate: bool = False) -> torch.Tensor:
        self.encoded.append(prompts)
        vectors = []
        for prompt in prompts:
            name = prompt.removeprefix("a photo of a ").removesuffix(".")
            place = self.names.index(name) if name in self.names else len(self.names)
            vectors.append(torch.tensor(axis(classes.NUM_CLASSES + place)))
        return torch.stack(vectors)


def stand_in_rules(tmp_path, monkeypatch, tiny_models, images: dict[int, np.ndarray], **kwargs):
    """The image rules of a categorizer whose model is a ``StandIn``, on a folder of the images."""
    stand_in = StandIn(images, [MANDARIN])
    monkeypatch.setattr(categorizer_module, "_loaded", lambda *args: stand_in)
    folder = make_val_folder(tmp_path / "images", images, False, {i: png(i) for i in images})
    categorizer = ImageCategorizer(str(tiny_models["clip"]), device="cpu", **kwargs)
    return categorizer.image_rules(open_image_source(str(folder))), stand_in


def test_oov_is_decided_when_a_relative_of_the_prediction_is_the_closest_name(
    tmp_path, monkeypatch, tiny_models
):
    assert MANDARIN in [
        class_relations.wordnet_nodes()[wnid].lemmas[0]
        for wnid in class_relations.relatives()[LEMON]["siblings"]
    ]
    mandarin_axis = classes.NUM_CLASSES  # StandIn: the first name's axis
    images = {
        1: unit(0.9 * axis(mandarin_axis) + 0.4 * axis(LEMON)),  # a mandarin, predicted lemon
        2: unit(0.4 * axis(mandarin_axis) + 0.9 * axis(LEMON)),  # looks most like a lemon
        3: unit(0.4 * axis(mandarin_axis) + 0.9 * axis(GOLDFISH)),  # most like its label
    }
    rules, _ = stand_in_rules(tmp_path, monkeypatch, tiny_models, images)
    # Lemon for a goldfish: no image-free rule holds.
    references = make_references(
        [{"id": i, "original": GOLDFISH, "correct": [GOLDFISH]} for i in images]
    )
    auto = categorize_mistakes([LEMON] * 3, references, image_rules=rules.rules)
    assert auto.categories[0] == "fine-grained-oov"
    assert auto.evidence[0] == (
        "CLIP preferred 'mandarin' (not an ImageNet class; cosine 0.914) to the closest "
        "ImageNet class involved, 951 lemon (0.406)"
    )
    assert auto.categories[1:] == ["model-failure", "model-failure"]


def test_non_prototypical_needs_a_far_label_and_a_closer_prediction(
    tmp_path, monkeypatch, tiny_models
):
    others = list(range(10, 10 + NON_PROTOTYPICAL_MIN_RANK + 1))  # classes closer than the label

    def image(label: float, prediction: float, closer: int) -> np.ndarray:
        vector = label * axis(GOLDFISH) + prediction * axis(LEMON)
        return unit(vector + sum(0.5 * axis(other) for other in others[:closer]))

    images = {
        1: image(0.4, 0.9, len(others)),  # label ranks 1 + 7: far; prediction closer: decided
        2: image(0.4, 0.9, NON_PROTOTYPICAL_MIN_RANK - 2),  # label ranks 5: not far enough
        3: image(0.4, 0.3, len(others)),  # far, but the prediction is farther still
    }
    rules, _ = stand_in_rules(tmp_path, monkeypatch, tiny_models, images)
    references = make_references(
        [{"id": i, "original": GOLDFISH, "correct": [GOLDFISH]} for i in images]
    )
    auto = categorize_mistakes([LEMON] * 3, references, image_rules=rules.rules)
    assert auto.categories == ["non-prototypical", "model-failure", "model-failure"]
    assert re.fullmatch(
        r"CLIP ranks its closest label 1 goldfish #8 of the 1,000 class prototypes \(cosine "
        r"0\.\d{3}\) and the prediction above it \(0\.\d{3}\): the image is far from its "
        r"labels' prototypes",
        auto.evidence[0],
    )


def test_each_image_is_embedded_once_in_batches_for_both_rules(tmp_path, monkeypatch, tiny_models):
    images = {i: unit(axis(GOLDFISH) + axis(i)) for i in range(1, 6)}
    rules, stand_in = stand_in_rules(tmp_path, monkeypatch, tiny_models, images, batch_size=2)
    references = make_references([{"id": i, "original": GOLDFISH, "correct": []} for i in images])
    categorize_mistakes([LEMON] * 5, references, image_rules=rules.rules)  # both rules see all
    assert stand_in.embedded_batches == [2, 2, 1]
    assert len(stand_in.encoded) == 1  # the relatives' names, once
    categorize_mistakes([LEMON] * 5, references, image_rules=rules.rules)
    assert stand_in.embedded_batches == [2, 2, 1] and len(stand_in.encoded) == 1


def test_missing_and_corrupt_images_are_not_judged_and_counted(tmp_path, monkeypatch, tiny_models):
    images = {1: unit(axis(classes.NUM_CLASSES) + 0.1 * axis(LEMON))}
    rules, _ = stand_in_rules(tmp_path, monkeypatch, tiny_models, images)
    (tmp_path / "images" / classes.file_name_from_image_id(2)).write_bytes(b"not an image")
    references = make_references(
        [{"id": i, "original": GOLDFISH, "correct": [GOLDFISH]} for i in (1, 2, 3)]  # 3: absent
    )
    auto = categorize_mistakes([LEMON] * 3, references, image_rules=rules.rules)
    assert auto.categories == ["fine-grained-oov", "model-failure", "model-failure"]
    assert auto.summary()["not_judged"] == {"fine-grained-oov": 2, "non-prototypical": 2}
    assert auto.evidence[2].endswith(
        " (fine-grained-oov and non-prototypical could not look at the image)"
    )
    # Lemon for an orange is fine-grained before any image rule: it never needs the image.
    orange = make_references([{"id": 3, "original": ORANGE, "correct": [ORANGE]}])
    auto = categorize_mistakes([LEMON], orange, image_rules=rules.rules)
    assert auto.categories == ["fine-grained"]
    assert auto.summary()["not_judged"] == {"fine-grained-oov": 0, "non-prototypical": 0}


@pytest.mark.parametrize(
    "config, said",
    [
        ({"model_type": "vit", "architectures": ["ViTForImageClassification"]}, "'vit'"),
        ({"architecture": "resnet50", "pretrained_cfg": {}}, "a timm or unknown model"),
        ({"model_type": "siglip2"}, "'siglip2'"),
        ({"model_type": "clip", "architectures": ["CLIPForImageClassification"]}, "'clip'"),
    ],
)
def test_a_model_that_is_not_clip_like_is_refused_before_its_weights_are_read(
    tmp_path, config, said
):
    folder = save_config_only(tmp_path / "model", config)  # no weights: nothing else is read
    with pytest.raises(ModelLoadError) as caught:
        ImageCategorizer(str(folder))
    message = str(caught.value)
    assert message.startswith("`categorizer_model` 'model' cannot judge the image rules: it is ")
    assert said in message and message.endswith("nothing was run")


def test_a_missing_model_is_refused_at_once(tmp_path):
    with pytest.raises(ModelLoadError, match="is not a model folder"):
        ImageCategorizer(str(tmp_path / "absent"))
    with pytest.raises(ModelLoadError, match="batch_size"):
        ImageCategorizer(str(tmp_path / "absent"), batch_size=0)


DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_tiny_models_judge_real_photos_on_the_device(tmp_path, tiny_models, kind, device):
    photos = {
        1: real_photo_jpeg(),
        2: photo_like_jpeg(500, 375, seed=1),
        3: photo_like_jpeg(37, 51, seed=2),
        4: photo_like_jpeg(224, 224, seed=3),
        5: photo_like_jpeg(375, 500, seed=4, mode="L"),
    }
    folder = make_val_folder(tmp_path / "images", photos, True, photos)
    categorizer = ImageCategorizer(str(tiny_models[kind]), device=device, batch_size=2)
    rules = categorizer.image_rules(open_image_source(str(folder)))
    references = make_references(
        [{"id": i, "original": GOLDFISH, "correct": [GOLDFISH]} for i in (*photos, 6)]
    )
    auto = categorize_mistakes([LEMON] * 6, references, image_rules=rules.rules)
    adapter = categorizer_module._loaded(categorizer.model_id, None, device)
    assert next(adapter.module.parameters()).device.type == device
    assert auto.summary()["not_judged"] == {"fine-grained-oov": 1, "non-prototypical": 1}
    family = {"clip": "CLIP", "siglip": "SigLIP"}[kind]
    relatives = class_relations.relatives()[LEMON]["siblings"]
    names = {class_relations.wordnet_nodes()[wnid].lemmas[0] for wnid in relatives}
    for category, evidence in zip(auto.categories, auto.evidence, strict=True):
        if category == "fine-grained-oov":
            preferred = re.match(rf"{family} preferred '([^']+)' \(not an ImageNet class", evidence)
            assert preferred and preferred.group(1) in names
        elif category == "non-prototypical":
            assert evidence.startswith(f"{family} ranks its closest label 1 goldfish #")
    assert rules.provenance == {
        "model": kind,  # a local model: its folder's name only
        "revision": None,
        "local": True,
        "device": device,
        "prompt": ZERO_SHOT_TEMPLATE,
        "non_prototypical_min_rank": NON_PROTOTYPICAL_MIN_RANK,
    }


def test_the_model_is_loaded_once_per_process(tmp_path, tiny_models, monkeypatch):
    loads = []
    original = categorizer_module.load_model
    monkeypatch.setattr(
        categorizer_module, "load_model", lambda *a, **k: loads.append(a) or original(*a, **k)
    )
    categorizer_module._loaded.cache_clear()
    folder = make_val_folder(tmp_path / "images", [1], False)
    source = open_image_source(str(folder))
    for _ in range(2):
        ImageCategorizer(str(tiny_models["clip"]), device="cpu").image_rules(source)
    assert len(loads) == 1


# ---------------------------------------------------------------------------------------------
# analyze with the image rules


@pytest.fixture(scope="module")
def loop_inputs(tmp_path_factory) -> dict:
    """ViT-3B's mistakes and a few outside the label set (`mistake_fixtures`), and a folder with
    the image of every mistake."""
    root = tmp_path_factory.mktemp("loop")
    inputs = write_loop_inputs(root)
    inputs["images"] = make_val_folder(root / "images", inputs["mistake_image_ids"], False)
    return inputs


def analyze_args(inputs: dict, *extra: str) -> list[str]:
    labels = ["--annotations", str(inputs["annotations"]), "--allow-unverified-annotations"]
    return ["analyze", "--predictions", str(inputs["predictions"]), *labels, *extra]


def test_analyze_judges_every_mistake_with_the_image_rules(
    loop_inputs, tiny_models, tmp_path, capsys
):
    output = tmp_path / "analysis"
    given = ["--images", str(loop_inputs["images"]), "--output-dir", str(output)]
    assert (
        main(analyze_args(loop_inputs, *given, "--categorizer-model", str(tiny_models["clip"])))
        == 0
    )
    auto = json.loads((output / "results.json").read_text())["mistakes"]["auto_categories"]
    assert auto["rules_run"] == list(CATEGORIES) and auto["not_available"] == {}
    assert auto["not_judged"] == {"fine-grained-oov": 0, "non-prototypical": 0}
    assert auto["image_rules"]["model"] == "clip"
    records = [json.loads(line) for line in (output / "mistakes.jsonl").read_text().splitlines()]
    assert len(records) == auto["num_mistakes"] == sum(auto["categories"].values())
    assert all(record["auto_category"] in CATEGORIES for record in records)
    printed = capsys.readouterr().out
    assert "Image rules judged by clip on " in printed and "Not available" not in printed


def test_analyze_refuses_a_categorizer_that_is_not_clip_like_before_any_work(
    loop_inputs, tmp_path, capsys
):
    vit = save_config_only(tmp_path / "vit", {"model_type": "vit"})
    output = tmp_path / "analysis"
    given = ["--images", str(loop_inputs["images"]), "--output-dir", str(output)]
    assert main(analyze_args(loop_inputs, *given, "--categorizer-model", str(vit))) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: `--categorizer-model` 'vit' cannot judge the image rules")
    assert error.count("\n") == 1 and not output.exists()  # one line; nothing written
    assert main(analyze_args(loop_inputs, "--categorizer-model")) == 2
    assert "error: --categorizer-model needs --images: the" in capsys.readouterr().err


def test_compare_judges_what_images_it_has_and_says_what_it_could_not(
    loop_inputs, tiny_models, tmp_path, capsys
):
    """compare --images with only the queue's images: the image rules judge those, the other
    mistakes are counted as not judged and said, and nothing fails."""
    second = tmp_path / "second.jsonl"
    lines = loop_inputs["predictions"].read_text().splitlines()
    second.write_text("\n".join(lines[len(lines) // 2 :] + lines[: len(lines) // 2]) + "\n")
    queue_ids = [
        classes.image_id_from_file_name(name) for name, _ in loop_inputs["outside_label_set"]
    ]
    images = make_val_folder(tmp_path / "queue_images", queue_ids, False)
    output = tmp_path / "comparison"
    labels = ["--annotations", str(loop_inputs["annotations"]), "--allow-unverified-annotations"]
    argv = ["compare", str(loop_inputs["predictions"]), str(second), "--output-dir", str(output)]
    categorizer = ["--categorizer-model", str(tiny_models["siglip"])]
    assert main([*argv, *labels, "--images", str(images), *categorizer]) == 0
    auto = json.loads((output / "compare.json").read_text())["solved_auto"]
    assert auto["not_available"] == {} and auto["image_rules"]["model"] == "siglip"
    not_judged = auto["not_judged"]["fine-grained-oov"]
    assert 0 < not_judged <= auto["num_pairs"] - len(queue_ids)
    printed = capsys.readouterr().out
    assert f"fine-grained-oov: {not_judged:,} mistake(s) without a usable image" in printed

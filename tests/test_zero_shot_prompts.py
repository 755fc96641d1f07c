"""Zero-shot models as the field scores them: OpenAI's curated names and 80-template ensemble by
default, the single WordNet-lemma prompt on request, and which one was used in the provenance."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import model_fixtures as fixtures
import pytest
import torch
from imagenet_multilabel.dataset_script.classes import CLASS_NAMES, NUM_CLASSES, WNIDS
from imagenet_multilabel.eval_cli.models import (
    ZERO_SHOT_PROMPTS,
    ZERO_SHOT_TEMPLATE,
    ModelAdapter,
    ModelLoadError,
    load_model,
    load_zero_shot_prompts,
    zero_shot_class_names,
)
from transformers import AutoProcessor

PROMPTS_FOLDER = resources.files("imagenet_multilabel.dataset_script").joinpath(
    "data", "clip_prompts"
)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("zero_shot_models")
    return {
        "clip": fixtures.save_clip(root / "clip"),
        "siglip": fixtures.save_siglip(root / "siglip"),
    }


@pytest.fixture(scope="module")
def ensemble_adapters(model_dirs) -> dict[str, ModelAdapter]:
    """Loaded once: 80,000 prompts through even a tiny text tower take seconds."""
    return {family: load_model(str(path)) for family, path in model_dirs.items()}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def test_curated_names_and_templates_ship_with_their_source_and_licence():
    prompts = load_zero_shot_prompts("ensemble")
    assert len(prompts.class_names) == NUM_CLASSES and len(prompts.templates) == 80
    assert len(set(prompts.templates)) == 80
    assert prompts.of_class(0)[:2] == ["a bad photo of a tench.", "a photo of many tench."]
    # Index order: 134 and 517 are the two "crane" classes (bird, machine).
    assert (prompts.class_names[134], WNIDS[134]) == ("crane bird", "n02012849")
    assert (prompts.class_names[517], WNIDS[517]) == ("construction crane", "n03126707")
    assert "open_clip_torch" in PROMPTS_FOLDER.joinpath("SOURCE.md").read_text()
    licence = PROMPTS_FOLDER.joinpath("LICENSE").read_text()
    assert "Permission is hereby granted, free of charge" in licence
    data = json.loads(PROMPTS_FOLDER.joinpath("imagenet_prompts.json").read_text())
    assert data["license"].startswith("MIT")


def test_curated_names_are_in_imagenet_index_order():
    """Most curated names share a word with the class's WordNet lemmas at the same index (960
    of 1,000); shifted by one class, almost none do: a misaligned list would fail."""
    names = load_zero_shot_prompts("ensemble").class_names
    aligned = sum(bool(_words(a) & _words(b)) for a, b in zip(names, CLASS_NAMES, strict=True))
    shifted = sum(
        bool(_words(a) & _words(b)) for a, b in zip(names[1:], CLASS_NAMES[:-1], strict=True)
    )
    assert aligned >= 950 and shifted < 200


@pytest.mark.slow
@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_ensemble_is_the_default_and_recorded(ensemble_adapters, family):
    mapping = ensemble_adapters[family].label_mapping
    assert ZERO_SHOT_PROMPTS[0] == "ensemble"
    assert mapping["prompts"] == "ensemble"
    assert mapping["templates"] == list(load_zero_shot_prompts("ensemble").templates)
    assert "OpenAI's curated ImageNet class names" in mapping["class_names"]
    assert "80 prompt(s) per ImageNet class" in mapping["source"]
    assert {"class_name": "missile", "wnids": [WNIDS[657], WNIDS[744]]} in mapping[
        "classes_with_identical_prompts"
    ]
    json.dumps(mapping)


def _reference_class_embedding(
    model_dir: Path, model: torch.nn.Module, prompts: list[str], padding: str, max_length: int
) -> torch.Tensor:
    """The CLIP paper's ensemble for one class, written out: normalise each prompt's text
    embedding, average, normalise again."""
    tokenizer = AutoProcessor.from_pretrained(model_dir).tokenizer
    tokens = tokenizer(prompts, padding=padding, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        features = model.get_text_features(
            input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
        )
    features = features if isinstance(features, torch.Tensor) else features.pooler_output
    normalised = features / features.norm(dim=-1, keepdim=True)
    mean = normalised.mean(dim=0)
    return mean / mean.norm()


@pytest.mark.slow
@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_ensemble_embedding_is_the_renormalised_mean_of_normalised_prompts(
    model_dirs, ensemble_adapters, family
):
    adapter = ensemble_adapters[family]
    mapping = adapter.label_mapping
    prompts = load_zero_shot_prompts("ensemble")
    for index in (0, 134, 517, 999):
        expected = _reference_class_embedding(
            model_dirs[family],
            adapter.module.model,
            prompts.of_class(index),
            mapping["prompt_padding"],
            mapping["prompt_max_length"],
        )
        assert torch.allclose(adapter.module.text_embeds[index], expected, atol=1e-5)
    # Not a single prompt in disguise: the ensemble differs from the first template alone.
    single = _reference_class_embedding(
        model_dirs[family],
        adapter.module.model,
        prompts.of_class(0)[:1],
        mapping["prompt_padding"],
        mapping["prompt_max_length"],
    )
    assert not torch.allclose(adapter.module.text_embeds[0], single, atol=1e-3)


@pytest.mark.slow
def test_single_keeps_one_wordnet_prompt_per_class(model_dirs, ensemble_adapters):
    adapter = load_model(str(model_dirs["clip"]), zero_shot_prompts="single")
    mapping = adapter.label_mapping
    assert (mapping["prompts"], mapping["templates"]) == ("single", [ZERO_SHOT_TEMPLATE])
    assert mapping["class_names"].startswith("first WordNet lemma")
    assert {"class_name": "crane", "wnids": [WNIDS[134], WNIDS[517]]} in mapping[
        "classes_with_identical_prompts"
    ]
    expected = _reference_class_embedding(
        model_dirs["clip"],
        adapter.module.model,
        [ZERO_SHOT_TEMPLATE.format(zero_shot_class_names()[7])],
        mapping["prompt_padding"],
        mapping["prompt_max_length"],
    )
    assert torch.allclose(adapter.module.text_embeds[7], expected, atol=1e-5)
    ensemble = ensemble_adapters["clip"].module.text_embeds
    assert not torch.allclose(ensemble, adapter.module.text_embeds, atol=1e-3)


def test_unknown_prompt_style_is_refused_before_loading(tmp_path):
    with pytest.raises(ModelLoadError, match="unknown zero-shot prompt style 'many'"):
        load_model(str(tmp_path / "absent"), zero_shot_prompts="many")


def test_other_kinds_take_the_option_and_have_no_prompts(tmp_path):
    adapter = load_model(str(fixtures.save_vit(tmp_path / "vit")), zero_shot_prompts="single")
    assert adapter.kind == "transformers" and "prompts" not in adapter.label_mapping

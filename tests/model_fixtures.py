"""Tiny random models saved in the Hugging Face Hub folder layouts, for offline tests.

Every ``save_*`` function writes one model folder (``config.json``, weights, preprocessing config
and, for zero-shot models, a tokenizer) exactly as ``from_pretrained`` / ``timm.create_model``
expect it on the Hub, and returns the folder. Models are 32x32-pixel, 1-2 layers and random, so
each loads in well under a second; their predictions are meaningless, only their plumbing is real.

``install_in_hub_cache`` copies such a folder into a Hub cache directory as a snapshot of a fake
commit, so code that takes Hub ids can be tested with ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import timm
import torch
from imagenet_multilabel.dataset_script.classes import CLASS_NAMES, WNIDS
from imagenet_multilabel.eval_cli.models import load_zero_shot_prompts
from PIL import Image
from safetensors.torch import save_file
from timm.models._hub import save_for_hf
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPProcessor,
    ConvNextConfig,
    ConvNextForImageClassification,
    ConvNextImageProcessor,
    MobileNetV2Config,
    MobileNetV2ForImageClassification,
    MobileNetV2ImageProcessor,
    PreTrainedTokenizerFast,
    ResNetConfig,
    ResNetForImageClassification,
    SiglipConfig,
    SiglipImageProcessor,
    SiglipModel,
    SiglipProcessor,
    TimmWrapperConfig,
    TimmWrapperForImageClassification,
    ViTConfig,
    ViTForImageClassification,
    ViTImageProcessor,
)

IMAGE_SIZE = 32
TEXT_LENGTH = 16
FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"

# The readable names as transformers' ImageNet checkpoints spell them in ``id2label``: the WordNet
# lemma lists, with the two "crane" classes both plain "crane" (our table disambiguates them).
HUB_CLASS_NAMES: tuple[str, ...] = tuple(name.split(" (n")[0] for name in CLASS_NAMES)

_TINY_VIT = dict(
    image_size=IMAGE_SIZE,
    patch_size=8,
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
)


def random_image(seed: int = 0, width: int = 50, height: int = 40) -> Image.Image:
    """A random RGB image; not square, so resize and crop rules matter."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def permuted_indices(seed: int = 0, size: int = len(WNIDS)) -> list[int]:
    """A fixed random permutation; entry ``j`` is the ImageNet class at model output ``j``."""
    return [int(i) for i in np.random.default_rng(seed).permutation(size)]


def _id2label(labels: Sequence[str] | None) -> dict[int, str]:
    """One output per label; transformers' default ``LABEL_i`` names of a 1,000-way head when
    ``labels`` is None."""
    if labels is None:
        return {i: f"LABEL_{i}" for i in range(len(WNIDS))}
    return dict(enumerate(labels))


def _save_transformers(model: torch.nn.Module, processor, directory: Path) -> Path:
    directory = Path(directory)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def save_vit(directory: Path, labels: Sequence[str] | None = HUB_CLASS_NAMES) -> Path:
    """transformers ViT, ``ViTImageProcessor`` (plain resize to 32x32); labels default to names."""
    torch.manual_seed(0)
    config = ViTConfig(**_TINY_VIT, id2label=_id2label(labels))
    processor = ViTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    return _save_transformers(ViTForImageClassification(config), processor, directory)


def save_convnext(directory: Path, labels: Sequence[str] | None = WNIDS) -> Path:
    """transformers ConvNeXt with ``crop_pct`` resize-then-crop; labels default to wnids."""
    torch.manual_seed(1)
    config = ConvNextConfig(
        num_channels=3,
        patch_size=4,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        num_stages=2,
        image_size=IMAGE_SIZE,
        id2label=_id2label(labels),
    )
    processor = ConvNextImageProcessor(size={"shortest_edge": IMAGE_SIZE}, crop_pct=0.875)
    return _save_transformers(ConvNextForImageClassification(config), processor, directory)


def save_resnet(directory: Path, labels: Sequence[str] | None = None) -> Path:
    """transformers ResNet, processor laid out as microsoft/resnet-50's; ``LABEL_i`` names."""
    torch.manual_seed(2)
    config = ResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        layer_type="basic",
        id2label=_id2label(labels),
    )
    processor = ConvNextImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_pct=0.875, resample=Image.Resampling.BILINEAR
    )
    return _save_transformers(ResNetForImageClassification(config), processor, directory)


def save_mobilenet_v2_with_background(directory: Path) -> Path:
    """A TF-ported-MobileNet-style 1,001-way head: ``background`` at output 0, then the 1,000."""
    torch.manual_seed(3)
    config = MobileNetV2Config(
        image_size=IMAGE_SIZE,
        depth_multiplier=0.25,
        finegrained_output=False,
        id2label=_id2label(("background", *HUB_CLASS_NAMES)),
    )
    processor = MobileNetV2ImageProcessor(
        size={"shortest_edge": 36}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    return _save_transformers(MobileNetV2ForImageClassification(config), processor, directory)


def save_timm_model(
    directory: Path,
    num_classes: int = len(WNIDS),
    label_names: Sequence[str] | None = None,
    architecture: str = "test_resnet",
) -> Path:
    """A timm model in timm's own Hub layout (``timm.models._hub.save_for_hf``).

    ``label_names`` (wnids, output order) go into ``config.json`` like timm's newer Hub exports;
    without them timm infers the label set from ``num_classes``.
    """
    torch.manual_seed(4)
    model = timm.create_model(architecture, num_classes=num_classes)
    model_config = {"label_names": list(label_names)} if label_names is not None else None
    save_for_hf(
        model,
        directory,
        model_config=model_config,
        data_config={"input_size": (3, IMAGE_SIZE, IMAGE_SIZE), "crop_pct": 0.875},
        safe_serialization=True,
    )
    return Path(directory)


def save_timm_wrapper(directory: Path) -> Path:
    """transformers' ``TimmWrapperForImageClassification`` (model_type ``timm_wrapper``).

    Its processor config is timm's ``pretrained_cfg`` inside ``config.json``; its ``id2label``
    comes from timm's ImageNet tables, saved back as readable ``label_names``.
    """
    torch.manual_seed(5)
    config = TimmWrapperConfig.from_dict(
        {
            "architecture": "test_vit",
            "num_classes": len(WNIDS),
            "model_args": {"img_size": IMAGE_SIZE},
            "pretrained_cfg": {
                "input_size": [3, IMAGE_SIZE, IMAGE_SIZE],
                "interpolation": "bicubic",
                "crop_pct": 0.875,
                "crop_mode": "center",
                "mean": [0.5, 0.5, 0.5],
                "std": [0.5, 0.5, 0.5],
            },
        }
    )
    TimmWrapperForImageClassification(config).save_pretrained(directory)
    return Path(directory)


def _word_level_tokenizer(
    texts: Sequence[str], *, eos: str, pad: str, unk: str, bos: str | None = None
) -> PreTrainedTokenizerFast:
    """A word-level tokenizer trained on ``texts``: no download, enough for tiny text towers."""
    specials = list(dict.fromkeys(token for token in (pad, eos, unk, bos) if token))
    tokenizer = Tokenizer(models.WordLevel(unk_token=unk))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=specials))
    template = f"{bos} $A {eos}" if bos else f"$A {eos}"
    tokenizer.post_processor = processors.TemplateProcessing(
        single=template,
        special_tokens=[(token, tokenizer.token_to_id(token)) for token in (bos, eos) if token],
    )
    extra = {"bos_token": bos} if bos else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=eos,
        pad_token=pad,
        unk_token=unk,
        model_max_length=TEXT_LENGTH,
        **extra,
    )


def _prompt_vocabulary() -> list[str]:
    """Texts covering every word of the zero-shot prompts of both styles: all lemmas of all
    classes, and the curated class names and templates of the default ensemble."""
    ensemble = load_zero_shot_prompts("ensemble")
    return ["a photo of a", *CLASS_NAMES, *ensemble.class_names, *ensemble.templates]


def _tiny_text_config(tokenizer: PreTrainedTokenizerFast) -> dict:
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=TEXT_LENGTH,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )


def save_clip(directory: Path) -> Path:
    """A zero-shot CLIP (model_type ``clip``) with ``CLIPProcessor`` and an offline tokenizer."""
    torch.manual_seed(6)
    tokenizer = _word_level_tokenizer(
        _prompt_vocabulary(),
        bos="<|startoftext|>",
        eos="<|endoftext|>",
        pad="<|endoftext|>",
        unk="<|unk|>",
    )
    config = CLIPConfig(
        text_config=_tiny_text_config(tokenizer),
        vision_config=dict(_TINY_VIT),
        projection_dim=16,
    )
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    return _save_transformers(CLIPModel(config), processor, directory)


def save_siglip(directory: Path) -> Path:
    """A zero-shot SigLIP (model_type ``siglip``, with ``logit_bias``) and an offline tokenizer."""
    torch.manual_seed(7)
    tokenizer = _word_level_tokenizer(_prompt_vocabulary(), eos="</s>", pad="<pad>", unk="<unk>")
    config = SiglipConfig(
        text_config={**_tiny_text_config(tokenizer), "projection_size": 32},
        vision_config=dict(_TINY_VIT),
    )
    image_processor = SiglipImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor = SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer)
    model = SiglipModel(config)
    with torch.no_grad():  # random init leaves the bias at 0; a visible bias makes tests meaningful
        model.logit_bias.fill_(-2.5)
    return _save_transformers(model, processor, directory)


def save_config_only(directory: Path, config: dict) -> Path:
    """Just a ``config.json``: enough for code that must reject a model before loading weights."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    return directory


_REMOTE_CONFIGURATION = """
from transformers import PretrainedConfig


class TinyRemoteConfig(PretrainedConfig):
    model_type = "tiny_remote_classifier"
"""

_REMOTE_MODELING = """
import torch
from transformers import PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutput

from .configuration_tiny_remote import TinyRemoteConfig


class TinyRemoteClassifier(PreTrainedModel):
    config_class = TinyRemoteConfig
    main_input_name = "pixel_values"

    def __init__(self, config):
        super().__init__(config)
        self.head = torch.nn.Linear(3, config.num_labels)
        self.post_init()

    def forward(self, pixel_values, **kwargs):
        return ImageClassifierOutput(logits=self.head(pixel_values.mean(dim=(2, 3))))
"""


def save_remote_code_model(directory: Path) -> Path:
    """A 1,000-class classifier whose model class lives in the folder (``auto_map``): loading it
    needs ``trust_remote_code=True``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "configuration_tiny_remote.py").write_text(_REMOTE_CONFIGURATION)
    (directory / "modeling_tiny_remote.py").write_text(_REMOTE_MODELING)
    config = {
        "model_type": "tiny_remote_classifier",
        "architectures": ["TinyRemoteClassifier"],
        "auto_map": {
            "AutoConfig": "configuration_tiny_remote.TinyRemoteConfig",
            "AutoModelForImageClassification": "modeling_tiny_remote.TinyRemoteClassifier",
        },
        "id2label": {str(i): wnid for i, wnid in enumerate(WNIDS)},
        "label2id": {wnid: i for i, wnid in enumerate(WNIDS)},
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    torch.manual_seed(8)
    head = torch.nn.Linear(3, len(WNIDS))
    save_file(
        {"head.weight": head.weight.detach(), "head.bias": head.bias.detach()},
        directory / "model.safetensors",
    )
    ViTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(directory)
    return directory


def install_in_hub_cache(
    model_dir: Path, cache_dir: Path, repo_id: str, commit: str = FAKE_COMMIT
) -> str:
    """Copy ``model_dir`` into ``cache_dir`` (a ``HF_HUB_CACHE``) as ``repo_id``'s ``main`` at
    ``commit``, laid out as ``huggingface_hub`` caches downloads; returns the commit."""
    repo_folder = Path(cache_dir) / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(model_dir, repo_folder / "snapshots" / commit)
    (repo_folder / "refs").mkdir(parents=True)
    (repo_folder / "refs" / "main").write_text(commit)
    return commit

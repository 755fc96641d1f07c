"""A model's family and pretraining data, read from its name by the two documented rules."""

from __future__ import annotations

import pytest
from imagenet_multilabel.eval_cli.leaderboard.families import (
    UNKNOWN,
    ModelFacts,
    family_of,
    model_facts,
    pretraining_of,
)


@pytest.mark.parametrize(
    ("name", "family", "pretraining"),
    [
        ("timm/resnet50.a1_in1k", "ResNet", "ImageNet-1k"),
        ("timm/resnext101_32x8d.fb_swsl_ig1b_ft_in1k", "ResNeXt", "Instagram-1B"),
        ("timm/resnetv2_50x1_bit.goog_in21k_ft_in1k", "ResNet-v2 (BiT)", "ImageNet-21k"),
        ("timm/convnext_base.fb_in22k_ft_in1k", "ConvNeXt", "ImageNet-22k"),
        ("timm/convnextv2_tiny.fcmae_ft_in22k_in1k", "ConvNeXt", "ImageNet-22k"),
        ("timm/convnext_base.clip_laion2b_augreg_ft_in12k_in1k", "ConvNeXt", "LAION-2B"),
        ("timm/vit_base_patch16_clip_224.openai_ft_in1k", "ViT", "OpenAI WIT-400M"),
        ("timm/vitamin_small_224.datacomp1b_clip", "ViTamin", "DataComp-1B"),
        ("timm/tf_efficientnet_b0.ns_jft_in1k", "EfficientNet", "JFT-300M"),
        ("timm/eva02_base_patch14_448.mim_in22k_ft_in22k_in1k", "EVA", "ImageNet-22k"),
        ("timm/seresnext50_32x4d.racm_in1k", "ResNeXt", "ImageNet-1k"),
        ("timm/ecaresnetlight.miil_in1k", "ResNet", "ImageNet-1k"),
        ("timm/legacy_senet154.in1k", "SENet", "ImageNet-1k"),
        ("microsoft/resnet-50", "ResNet", UNKNOWN),  # the name does not say: never guessed
        ("facebook/convnext-base-224-22k-1k", "ConvNeXt", "ImageNet-22k"),
        ("microsoft/beit-base-patch16-224-pt22k-ft22k", "BEiT", "ImageNet-22k"),
        ("laion/CLIP-ViT-H-14-laion2B-s32B-b79K", "CLIP", "LAION-2B"),
        ("google/siglip-base-patch16-224", "SigLIP", UNKNOWN),
        ("my-finetune", UNKNOWN, UNKNOWN),  # a local folder's name
        ('<img src=x onerror="x()">', UNKNOWN, UNKNOWN),
    ],
)
def test_family_and_pretraining_data_from_the_name(name, family, pretraining):
    assert model_facts(name) == ModelFacts(family, pretraining)


def test_a_prefix_continued_by_a_letter_is_another_family():
    assert family_of("timm/resnext50_32x4d.a1h_in1k") == "ResNeXt"  # not ResNet
    assert family_of("timm/resnetrs50.tf_in1k") == "ResNet"  # listed itself
    assert family_of("natural_model") == UNKNOWN  # "nat" (NAT) followed by a letter
    assert family_of("nat-mini-in1k-224") == "NAT"


def test_the_installed_timm_classifiers_have_a_family_and_their_data():
    """Every ImageNet-1k classifier timm ships but its test models has a family; the name of
    nearly all of them says its pretraining data."""
    timm = pytest.importorskip("timm")
    names = [n for n in timm.list_pretrained() if n.endswith("in1k") and not n.startswith("test_")]
    assert len(names) > 1000
    no_family = [name for name in names if family_of(f"timm/{name}") == UNKNOWN]
    assert no_family == []
    no_data = [name for name in names if pretraining_of(f"timm/{name}") == UNKNOWN]
    assert no_data == []

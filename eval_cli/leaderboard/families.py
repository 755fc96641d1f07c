"""A model's family and pretraining data, read from its name as results record it, so that the
leaderboard page can filter 1,300 results by them.

Results record a model by its Hub id (``timm/convnext_base.fb_in22k_ft_in1k``,
``microsoft/resnet-50``), a local model by its folder name, a `score` result by its predictions
file's name; nothing else in a results document names the architecture reliably (a transformers
ResNet records ``ConvNextImageProcessor``). So both facts come from the name, by two fixed rules
(the installed timm is never asked: the page must not depend on what is installed):

- **Family**: the name after the last ``/``, up to its first ``.`` (timm's architecture; the whole
  name for others), lower-cased with ``-`` read as ``_`` and a vendor prefix (``tf_``,
  ``legacy_``, ``gluon_``, ``dm_``, ``ens_adv_``, ``adv_``) dropped, is looked up by its longest
  prefix in `FAMILIES` that is followed by no letter (``resnet50d`` is ResNet; ``resnext50`` is
  not ResNet but ResNeXt). No prefix: ``unknown``.
- **Pretraining data**: the name's words (split at ``.``, ``_``, ``-``; timm's pretrained tag
  comes after the architecture) are read in order, and the first that names a data set in
  `PRETRAINING_DATA` wins: ``.fb_in22k_ft_in1k`` is ImageNet-22k, ``.laion2b_ft_in12k_in1k``
  LAION-2B, ``.a1_in1k`` ImageNet-1k, ``convnext-base-224-22k-1k`` ImageNet-22k. A name that
  names none (``microsoft/resnet-50``) is ``unknown``: the data the model saw first is what the
  name says first, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNKNOWN = "unknown"
_VENDOR_PREFIXES = ("tf_", "legacy_", "gluon_", "dm_", "ens_adv_", "adv_")
# Architecture-name prefix -> family. Prefixes continued by a letter that mean the same family
# (``convnextv2``) are listed themselves; the longest listed prefix wins.
FAMILIES: dict[str, str] = {
    **dict.fromkeys(
        (
            "resnet",
            "resnetrs",
            "resnetaa",
            "resnetblur",
            "resnetc",
            "resnetd",
            "seresnet",
            "ecaresnet",
            "ecaresnetlight",
            "eca_resnet",
            "skresnet",
            "gcresnet",
            "wide_resnet",
        ),
        "ResNet",
    ),
    **dict.fromkeys(
        (
            "resnext",
            "seresnext",
            "seresnextaa",
            "skresnext",
            "gcresnext",
            "eca_resnext",
            "ig_resnext",
            "ssl_resnext",
            "swsl_resnext",
            "bat_resnext",
        ),
        "ResNeXt",
    ),
    **dict.fromkeys(("resnetv2", "bit"), "ResNet-v2 (BiT)"),
    "resnest": "ResNeSt",
    **dict.fromkeys(("res2net", "res2next"), "Res2Net"),
    "senet": "SENet",
    **dict.fromkeys(("regnet", "regnetx", "regnety", "regnetz", "regnetv"), "RegNet"),
    **dict.fromkeys(("nfnet", "eca_nfnet", "nf_regnet", "nf_resnet"), "NFNet"),
    **dict.fromkeys(("efficientnet", "efficientnetv2", "gc_efficientnetv2"), "EfficientNet"),
    **dict.fromkeys(
        ("mobilenet", "mobilenetv1", "mobilenetv2", "mobilenetv3", "mobilenetv4", "mobilenetv5"),
        "MobileNet",
    ),
    **dict.fromkeys(
        (
            "mnasnet",
            "semnasnet",
            "spnasnet",
            "fbnet",
            "fbnetc",
            "fbnetv3",
            "mixnet",
            "tinynet",
            "lcnet",
            "lcnetv2",
            "hardcorenas",
        ),
        "NAS mobile (MnasNet, MixNet, FBNet, LCNet)",
    ),
    **dict.fromkeys(("ghostnet", "ghostnetv2", "ghostnetv3", "repghostnet"), "GhostNet"),
    **dict.fromkeys(
        (
            "vit",
            "flexivit",
            "naflexvit",
            "samvit",
            "aimv2",
            "dinov2",
            "ijepa",
            "deepseek_vit",
            "gemma4_vit",
            "qwen3_vit",
        ),
        "ViT",
    ),
    "vitamin": "ViTamin",
    **dict.fromkeys(("deit", "deit3"), "DeiT"),
    **dict.fromkeys(("beit", "beitv2", "beit3"), "BEiT"),
    **dict.fromkeys(("eva", "eva02"), "EVA"),
    **dict.fromkeys(("swin", "swinv2"), "Swin"),
    **dict.fromkeys(("convnext", "convnextv2"), "ConvNeXt"),
    **dict.fromkeys(("coatnet", "coatnext", "maxvit", "maxxvit", "maxxvitv2"), "MaxViT / CoAtNet"),
    "cait": "CaiT",
    "coat": "CoaT",
    "convit": "ConViT",
    "convmixer": "ConvMixer",
    "crossvit": "CrossViT",
    **dict.fromkeys(
        (
            "cspresnet",
            "cspresnext",
            "cspdarknet",
            "cs3darknet",
            "cs3edgenet",
            "cs3se_edgenet",
            "cs3sedarknet",
            "cspnext",
            "darknet",
            "darknetaa",
        ),
        "CSPNet / DarkNet",
    ),
    "davit": "DaViT",
    **dict.fromkeys(("densenet", "densenetblur"), "DenseNet"),
    "dla": "DLA",
    "dpn": "DPN",
    "edgenext": "EdgeNeXt",
    **dict.fromkeys(("efficientformer", "efficientformerv2"), "EfficientFormer"),
    "efficientvit": "EfficientViT",
    "efficientvim": "EfficientViM",
    "fasternet": "FasterNet",
    "fastvit": "FastViT",
    "focalnet": "FocalNet",
    "gcvit": "GCViT",
    "gernet": "GENet",
    **dict.fromkeys(("hgnet", "hgnetv2"), "HGNet"),
    **dict.fromkeys(("hiera", "sam2_hiera"), "Hiera"),
    "hrnet": "HRNet",
    "iformer": "iFormer",
    **dict.fromkeys(("inception", "xception"), "Inception / Xception"),
    "inception_next": "InceptionNeXt",
    "levit": "LeViT",
    "lowformer": "LowFormer",
    "mambaout": "MambaOut",
    **dict.fromkeys(
        ("poolformer", "poolformerv2", "caformer", "convformer"),
        "MetaFormer (PoolFormer, CAFormer)",
    ),
    **dict.fromkeys(("mixer", "gmixer", "gmlp", "resmlp"), "MLP-Mixer"),
    "mobileone": "MobileOne",
    **dict.fromkeys(("mobilevit", "mobilevitv2"), "MobileViT"),
    "mvitv2": "MViTv2",
    **dict.fromkeys(("nasnetalarge", "pnasnet"), "NASNet"),
    "nest": "NesT",
    "nextvit": "Next-ViT",
    "pit": "PiT",
    "pvt": "PVT",
    "rdnet": "RDNet",
    "repvgg": "RepVGG",
    "repvit": "RepViT",
    **dict.fromkeys(("rexnet", "rexnetr"), "ReXNet"),
    "selecsls": "SelecSLS",
    "sequencer": "Sequencer",
    "shvit": "SHViT",
    "starnet": "StarNet",
    "swiftformer": "SwiftFormer",
    "tiny_vit": "TinyViT",
    "tnt": "TNT",
    "tresnet": "TResNet",
    "twins": "Twins",
    "vgg": "VGG",
    "visformer": "Visformer",
    "volo": "VOLO",
    **dict.fromkeys(("vovnet", "ese_vovnet"), "VoVNet"),
    "xcit": "XCiT",
    **dict.fromkeys(
        (
            "botnet",
            "sebotnet",
            "eca_botnext",
            "halonet",
            "sehalonet",
            "halo2botnet",
            "lamhalobotnet",
            "eca_halonext",
            "haloregnetz",
            "lambda_resnet",
        ),
        "BoTNet / HaloNet",
    ),
    "cpubone": "CPUBone",
    "csatv2": "CSATv2",
    "cvt": "CvT",
    "nat": "NAT",
    "dinat": "DiNAT",
    "clip": "CLIP",
    **dict.fromkeys(("siglip", "siglip2"), "SigLIP"),
}
# A word of a model's name -> the data set it names.
PRETRAINING_DATA: dict[str, str] = {
    **dict.fromkeys(("in1k", "1k", "ft1k"), "ImageNet-1k"),
    "in12k": "ImageNet-12k",
    **dict.fromkeys(("in21k", "inw21k", "21k"), "ImageNet-21k"),
    **dict.fromkeys(("in22k", "22k", "pt22k", "ft22k"), "ImageNet-22k"),
    **dict.fromkeys(("jft", "jft300m"), "JFT-300M"),
    "jft3b": "JFT-3B",
    "laion2b": "LAION-2B",
    "laion400m": "LAION-400M",
    "laiona": "LAION-Aesthetics",
    "openai": "OpenAI WIT-400M",
    "webli": "WebLI",
    **dict.fromkeys(("datacomp1b", "datacompxl"), "DataComp-1B"),
    "dfn2b": "DFN-2B",
    "dfn5b": "DFN-5B",
    "dfndr2b": "DFN-DR-2B",
    **dict.fromkeys(("metaclip", "metaclip2"), "MetaCLIP"),
    "merged2b": "Merged-2B",
    "m38m": "Merged-38M",
    "m30m": "Merged-30M",
    "lvd142m": "LVD-142M",
    "lvd1689m": "LVD-1689M",
    "sat493m": "SAT-493M",
    "ig1b": "Instagram-1B",
    "swag": "Instagram-3.6B (SWAG)",
    "seer": "Instagram (SEER)",
    "yfcc100m": "YFCC-100M",
    "yfcc15m": "YFCC-15M",
    "cc12m": "CC-12M",
    "sa1b": "SA-1B",
}
_FAMILY_PATTERN = re.compile(
    "^(?:" + "|".join(map(re.escape, _VENDOR_PREFIXES)) + ")?"
    "(" + "|".join(map(re.escape, sorted(FAMILIES, key=len, reverse=True))) + ")(?![a-z])"
)
_WORD = re.compile(r"[._\-]+")


@dataclass(frozen=True)
class ModelFacts:
    """What the leaderboard page filters by; `UNKNOWN` where the name does not say."""

    family: str = UNKNOWN
    pretraining: str = UNKNOWN


def model_facts(name: str) -> ModelFacts:
    """The family and pretraining data of the model named ``name`` (a Hub id, a local folder's
    name or a predictions file's stem), by the module's two rules."""
    return ModelFacts(family=family_of(name), pretraining=pretraining_of(name))


def family_of(name: str) -> str:
    """The family whose longest prefix starts the architecture name (see the module)."""
    architecture = name.rsplit("/", 1)[-1].split(".", 1)[0].lower().replace("-", "_")
    match = _FAMILY_PATTERN.match(architecture)
    return FAMILIES[match.group(1)] if match else UNKNOWN


def pretraining_of(name: str) -> str:
    """The data set named by the first word of the name that names one (see the module)."""
    words = _WORD.split(name.rsplit("/", 1)[-1].lower())
    return next((PRETRAINING_DATA[word] for word in words if word in PRETRAINING_DATA), UNKNOWN)

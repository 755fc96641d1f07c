"""The multi-label labels' ``imagenet_m`` split: the 68 ImageNet-M images on which top models make
major mistakes (Vasudevan et al. 2022). `labels.loading` loads, verifies and patches them and
records their provenance."""

from . import multilabel_split

load = multilabel_split

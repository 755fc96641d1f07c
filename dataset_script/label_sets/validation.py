"""The multi-label labels' ``validation`` split: every annotated validation image (Shankar et al.
2020, corrected as version 3.0.0 by Vasudevan et al. 2022; the annotation file under CC BY 4.0).
`labels.loading` loads, verifies and patches them and records their provenance."""

from . import multilabel_split

load = multilabel_split

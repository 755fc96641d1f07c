"""The original labels: the ILSVRC-2012 devkit's one class per validation image, as `classes`
reads them from the package (``data/ilsvrc2012_validation_wnids.txt``, one wnid a line), judged
by exact match over all 50,000 images: the top-1/top-5 that timm's tables and model cards report."""

from __future__ import annotations

from pathlib import Path

from .. import classes
from . import LoadedLabelSet, LoadRequest, provenance, read_file, validation_images

WNIDS_FILE = Path(classes.__file__).with_name("data") / "ilsvrc2012_validation_wnids.txt"
PUBLISHED_SHA256 = "313fc3f23c864dde9183c9a368809065765dd1b657a6904fded44e3e46d34604"
PUBLISHED = "the ILSVRC-2012 devkit's validation labels (ILSVRC2012_validation_ground_truth.txt)"
LICENCE = "ImageNet's terms of access (ILSVRC-2012 devkit)"


def load(request: LoadRequest) -> LoadedLabelSet:
    read = read_file(
        WNIDS_FILE, "the original labels", PUBLISHED_SHA256, name=request.label_set.name
    )
    return LoadedLabelSet(
        request.label_set,
        validation_images(),
        classes.validation_labels(),
        provenance(read, PUBLISHED, LICENCE),
    )

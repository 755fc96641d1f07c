"""Main object (Tsipras et al. 2020, "From ImageNet to Image Classification: Contextualizing
Progress on Benchmarks"): for 6,761 validation images, about nine annotators each named the
image's main object among ImageNet classes; ``main_top`` is the class most of them chose.
*Main-object top-1*: the top-1 prediction is that class, over those images (the others are left
out).

``data/main_object/main_object.csv`` (``image_id,main_top``, class ids in the ILSVRC-2012 index)
was converted once by ``scripts/convert_label_sets.py`` from the pandas pickle
``data/annotations_classify_task.pkl`` of github.com/MadryLab/ImageNetMultiLabel (MIT;
``LICENSE`` and ``SOURCE.md`` beside it): classes mapped through their id -> wnid table to this
package's class index, images by file name (checked against their loader positions). Nothing is
unpickled at run time.
"""

from __future__ import annotations

from . import LoadedLabelSet, LoadRequest, over_validation_images, shipped_table

PUBLISHED_SHA256 = "f9ad909f9a13cbc5939f936b99f046844c82c9c193c153ea3d75abef96020f37"
SOURCE_REPOSITORY = "https://github.com/MadryLab/ImageNetMultiLabel"
SOURCE_COMMIT = "f939d1f4d4d40ce5e2d77dd82fddd58028781a50"
LICENCE = "MIT"
COLUMNS = ("image_id", "main_top")


def load(request: LoadRequest) -> LoadedLabelSet:
    table = shipped_table(
        "main_object", "main_object.csv", "the main-object labels", PUBLISHED_SHA256, COLUMNS
    )
    published = (
        f"{SOURCE_REPOSITORY} data/annotations_classify_task.pkl (main_top) at {SOURCE_COMMIT}"
    )
    return over_validation_images(
        request, table.image_rows(), table.class_ids(1), table.provenance(published, LICENCE)
    )

"""The review page: a static ``review/index.html`` to look at the mistakes and record verdicts.

It works from ``file://`` with no server and no network: the script and style ship as package
data (``review_assets/``) and are inlined into the page, and the mistakes are embedded as JSON in
a ``<script type="application/json">`` block with every ``<`` written as ``\\u003c``, so no text
from the labels, the model or a file name can close the block or open a tag. The page builds its
DOM with ``textContent`` only. Thumbnails (JPEG, long side at most ``THUMBNAIL_SIZE``) lie in
``review/thumbnails/``; each is written once, so a second ``analyze`` reuses them without opening
the image source. Verdicts live in the browser's ``localStorage`` and leave as a label patch
(``dataset_script.patches``) through the page's "Download label patch" button.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

from imagenet_multilabel.dataset_script import classes, mistakes
from imagenet_multilabel.dataset_script.patches import (
    PATCH_FORMAT,
    PATCH_FORMAT_VERSION,
    PATCH_VERDICTS,
)

REVIEW_FOLDER = "review"
PAGE_FILE = "index.html"
THUMBNAIL_FOLDER = "thumbnails"
THUMBNAIL_SIZE = 256
_THUMBNAIL_QUALITY = 85
# The fields of a mistake record (``eval_cli.analysis``) that the page shows.
PAGE_FIELDS = (
    "file_name",
    "original_label",
    "prediction",
    "top5",
    "top5_probs",
    "correct",
    "unclear",
    "wrong",
    "source",
    "category",
    "severity",
    "in_imagenet_m",
)
_ASSETS = "review_assets"


def page_path(output_dir: str | os.PathLike) -> Path:
    return Path(output_dir) / REVIEW_FOLDER / PAGE_FILE


def thumbnail_name(file_name: str) -> str:
    return f"{THUMBNAIL_FOLDER}/{Path(file_name).stem}.jpg"


def write_thumbnails(
    folder: Path, file_names: Sequence[str], images: str, *, images_split: str | None = None
) -> int:
    """Write the missing thumbnails of ``file_names`` under ``folder``; returns how many.

    The image source is opened only when a thumbnail is missing. Each file is written to a
    temporary name and renamed, so an interrupted run leaves no half image to be reused.
    """
    target = folder / THUMBNAIL_FOLDER
    missing = [name for name in file_names if not (folder / thumbnail_name(name)).is_file()]
    if not missing:
        return 0
    # Imported here: image sources bring in `datasets`, which reused thumbnails never need.
    from imagenet_multilabel.dataset_script.images import decode_image, open_image_source

    target.mkdir(parents=True, exist_ok=True)
    located = open_image_source(images, split=images_split).locate(missing)

    def write(index: int) -> None:
        file_name, data = located[index]
        image = decode_image(data, file_name)
        image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        path = folder / thumbnail_name(file_name)
        with tempfile.NamedTemporaryFile(dir=target, suffix=".tmp", delete=False) as handle:
            image.save(handle, format="JPEG", quality=_THUMBNAIL_QUALITY)
        os.replace(handle.name, path)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(write, range(len(located))))
    return len(missing)


def page_data(
    records: Sequence[Mapping[str, Any]],
    *,
    labels: Mapping[str, Any],
    title: str,
    folder: Path,
) -> dict[str, Any]:
    """What the page's script reads: the mistakes (ids only), class names and vocabularies."""
    thumbnails = folder / THUMBNAIL_FOLDER
    written = {f"{THUMBNAIL_FOLDER}/{path.name}" for path in thumbnails.glob("*.jpg")}
    page_records = []
    for record in records:
        entry = {key: record.get(key) for key in PAGE_FIELDS}
        thumbnail = thumbnail_name(record["file_name"])
        entry["thumbnail"] = thumbnail if thumbnail in written else None
        page_records.append(entry)
    return {
        "title": title,
        "base": labels["sha256"],
        "labels_version": labels["version"],
        "class_names": list(classes.CLASS_NAMES),
        "categories": list(mistakes.CATEGORIES),
        "severities": list(mistakes.SEVERITIES),
        "verdicts": list(PATCH_VERDICTS),
        "patch_format": PATCH_FORMAT,
        "patch_format_version": PATCH_FORMAT_VERSION,
        "mistakes": page_records,
    }


def embedded_json(data: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<`` at all, so no ``</``."""
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")


def write_review_page(
    output_dir: str | os.PathLike,
    records: Sequence[Mapping[str, Any]],
    *,
    labels: Mapping[str, Any],
    title: str,
    images: str | None = None,
    images_split: str | None = None,
) -> Path:
    """Write ``review/index.html`` (and thumbnails, with ``images``) and return its path.

    ``labels`` is the results' labels provenance: its ``sha256`` is the base of the patches the
    page exports.
    """
    path = page_path(output_dir)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    if images is not None:
        write_thumbnails(
            folder, [r["file_name"] for r in records], images, images_split=images_split
        )
    assets = resources.files(__package__).joinpath(_ASSETS)
    template = assets.joinpath("index.html").read_text(encoding="utf-8")
    page = (
        template.replace("/*STYLE*/", assets.joinpath("review.css").read_text(encoding="utf-8"))
        .replace("/*SCRIPT*/", assets.joinpath("review.js").read_text(encoding="utf-8"))
        .replace(
            "/*DATA*/",
            embedded_json(page_data(records, labels=labels, title=title, folder=folder)),
        )
    )
    path.write_text(page, encoding="utf-8")
    return path

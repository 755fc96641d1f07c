"""The review page: a static ``review/index.html`` to look at predictions and record verdicts.

One page for two kinds of records: ``analyze``'s mistakes of one model, and ``compare``'s
novel-prediction queue, whose records also carry their queue ``rank`` and every model's top-1 on
the image (``model_predictions``). Both get the same filters, sort (page order, confidence, class,
automatic category, file), each card's automatic category with its evidence, keyboard review
(j/k or the arrows, 1/2/3 for correct/unclear/wrong), progress and patch download.

It works from ``file://`` with no server and no network: the script and style ship as package data
(``review_assets/``) and are inlined into the page, and the mistakes are embedded as JSON in a
``<script type="application/json">`` block by `writers.html_page`, every ``<`` written as
``\\u003c`` (`escape.html_json`), so no text from the labels, the model or a file name can close the
block or open a tag. The page builds its DOM with ``textContent`` only. Thumbnails (JPEG, long side
at most ``THUMBNAIL_SIZE``) and the larger copies a click on one shows (``ENLARGED_SIZE``) lie in
``review/thumbnails/``, each named by the fingerprint of the image bytes it was made from, so a
second ``analyze`` reuses them only for the very same bytes (another image source with other bytes
gets new ones) and an image that does not decode leaves its card the reason instead of aborting the
page. Verdicts live in the browser's ``localStorage`` (the page says so) and leave as a label patch
(``dataset_script.patches``) through the page's "Download label patch" button.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

from ...dataset_script import classes, escape, writers
from ...dataset_script.json_input import JsonInputError, read_json
from ...dataset_script.labels.patches import PATCH_FORMAT, PATCH_FORMAT_VERSION, PATCH_VERDICTS
from ...dataset_script.taxonomy import experts
from ...dataset_script.taxonomy.categories import FAMILIES
from .. import outputs

REVIEW_FOLDER = "review"
PAGE_FILE = "index.html"
THUMBNAIL_FOLDER = "thumbnails"
THUMBNAILS_FILE = "thumbnails.json"  # file name -> its thumbnail, or why there is none
THUMBNAIL_SIZE = 256
ENLARGED_SIZE = 640  # a click on a thumbnail shows this copy (most validation images: whole)
_PROBLEM_SHOWN = 300  # characters of a decoding error shown on a card
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
    "outside_label_set",
    "category",
    "severity",
    "in_imagenet_m",
    "auto_category",  # the automatic taxonomy (dataset_script.taxonomy.categories)
    "auto_family",
    "auto_evidence",
    "rank",  # queue records: their place in the queue
    "model_predictions",  # queue records: [{model, class_id, probability}] per compared model
)
# What each kind of page calls its records, and the command that adds thumbnails to it.
PAGE_KINDS = {
    "mistakes": {
        "noun": "mistakes",
        "summary": "rejected predictions",
        "command": "analyze",
        "order": "as in mistakes.jsonl",
    },
    "queue": {
        "noun": "queued predictions",
        "order": "queue order",
        "summary": "novel predictions (outside the label set) in queue order",
        "command": "compare",
    },
}
_ASSETS = "review_assets"


def page_path(output_dir: str | os.PathLike) -> Path:
    return Path(output_dir) / REVIEW_FOLDER / PAGE_FILE


def image_fingerprint(data: bytes) -> str:
    """What names a thumbnail: the image bytes' count and 64-bit BLAKE2b, as `run`'s
    ``ImageFingerprint``; another image source with other bytes for a file name gets its own."""
    return f"{len(data)}-{hashlib.blake2b(data, digest_size=8).hexdigest()}"


def thumbnail_name(file_name: str, fingerprint: str, *, enlarged: bool = False) -> str:
    suffix = f"-{ENLARGED_SIZE}" if enlarged else ""
    return f"{THUMBNAIL_FOLDER}/{Path(file_name).stem}-{fingerprint}{suffix}.jpg"


def write_thumbnails(
    folder: Path, file_names: Sequence[str], images: str, *, images_split: str | None = None
) -> dict[str, dict[str, str]]:
    """The thumbnail and the enlarged copy of each of ``file_names`` (repeats made once) under
    ``folder``, as the page finds them: file name -> ``{"thumbnail": path, "enlarged": path}``,
    or ``{"problem": why}`` for an image that does not decode.

    Every image is read from the source to take its fingerprint; a thumbnail of those very bytes
    is reused, any other is made. The map is written to ``THUMBNAILS_FILE`` and returned, so a
    page written later without ``images`` shows the thumbnails of the last source.
    """
    # Imported here: image sources bring in `datasets`, which a page without thumbnails never needs.
    from ...dataset_script.images.choose import open_image_source
    from ...dataset_script.images.decode import decode_image
    from ...dataset_script.images.errors import CorruptImageError

    # A queue shows an image once per queued class; its thumbnail is made once.
    located = open_image_source(images, split=images_split).locate(list(dict.fromkeys(file_names)))

    def thumbnail(index: int) -> tuple[str, dict[str, str]]:
        file_name, data = located[index]
        fingerprint = image_fingerprint(data)
        names = {
            "thumbnail": thumbnail_name(file_name, fingerprint),
            "enlarged": thumbnail_name(file_name, fingerprint, enlarged=True),
        }
        if all((folder / name).is_file() for name in names.values()):
            return file_name, names
        try:
            image = decode_image(data, file_name)
        except CorruptImageError as error:
            return file_name, {"problem": str(error)[:_PROBLEM_SHOWN]}
        for kind, size in (("enlarged", ENLARGED_SIZE), ("thumbnail", THUMBNAIL_SIZE)):
            image.thumbnail((size, size))  # the larger first: one decode makes both
            encoded = io.BytesIO()
            image.save(encoded, format="JPEG", quality=_THUMBNAIL_QUALITY)
            outputs.write_bytes(folder / names[kind], encoded.getvalue())
        return file_name, names

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        written = dict(pool.map(thumbnail, range(len(located))))
    outputs.write_json(folder / THUMBNAILS_FILE, written)
    return written


def _written_thumbnails(folder: Path) -> dict[str, Any]:
    """``THUMBNAILS_FILE`` as the last ``write_thumbnails`` left it; empty when there is none (or
    it cannot be read: the page then shows no pictures rather than wrong ones)."""
    try:
        return read_json(folder / THUMBNAILS_FILE, THUMBNAILS_FILE, "a JSON object", top=dict)
    except JsonInputError:
        return {}


def confidence(record: Mapping[str, Any]) -> float | None:
    """What the page sorts by confidence: the highest known probability of the record's
    prediction (a queue record: among the models predicting it; a mistake: its top-1's)."""
    predictions = record.get("model_predictions")
    if predictions:
        known = [
            entry["probability"]
            for entry in predictions
            if entry["class_id"] == record["prediction"] and entry["probability"] is not None
        ]
        return max(known, default=None)
    top5, probs = record.get("top5"), record.get("top5_probs")
    if top5 and probs and top5[0] == record["prediction"]:
        return probs[0]
    return None


def page_data(
    records: Sequence[Mapping[str, Any]],
    *,
    labels: Mapping[str, Any],
    title: str,
    folder: Path,
    kind: str = "mistakes",
) -> dict[str, Any]:
    """What the page's script reads: the records (ids only), class names and vocabularies."""
    thumbnails = _written_thumbnails(folder)
    page_records = []
    for record in records:
        entry = {key: record.get(key) for key in PAGE_FIELDS}
        written = thumbnails.get(record["file_name"])
        written = written if isinstance(written, dict) else {}
        thumbnail, enlarged = written.get("thumbnail"), written.get("enlarged")
        shown = isinstance(thumbnail, str) and (folder / thumbnail).is_file()
        entry["thumbnail"] = thumbnail if shown else None
        # A map written before enlarged copies existed: the thumbnail is what a click shows.
        has_enlarged = shown and isinstance(enlarged, str) and (folder / enlarged).is_file()
        entry["enlarged"] = enlarged if has_enlarged else entry["thumbnail"]
        entry["thumbnail_problem"] = written.get("problem") if not shown else None
        entry["confidence"] = confidence(record)
        page_records.append(entry)
    return {
        "title": title,
        "kind": PAGE_KINDS[kind],
        "base": labels["sha256"],
        "labels_version": labels["version"],
        "class_names": list(classes.CLASS_NAMES),
        "categories": list(experts.CATEGORIES),
        "severities": list(experts.SEVERITIES),
        "auto_families": {family: list(members) for family, members in FAMILIES.items()},
        "verdicts": list(PATCH_VERDICTS),
        "patch_format": PATCH_FORMAT,
        "patch_format_version": PATCH_FORMAT_VERSION,
        "records": page_records,
    }


def page_script(script: str) -> str:
    """A page's own script with the DOM helpers every page shares (``dom.js``) before it: what
    the page inlines."""
    shared = resources.files(__package__).joinpath(_ASSETS, "dom.js")
    return shared.read_text(encoding="utf-8") + script


def write_review_page(
    output_dir: str | os.PathLike,
    records: Sequence[Mapping[str, Any]],
    *,
    labels: Mapping[str, Any],
    title: str,
    kind: str = "mistakes",
) -> Path:
    """Write ``review/index.html`` and return its path; it shows the thumbnails that
    ``write_thumbnails`` last wrote there.

    ``labels`` is the results' labels provenance: its ``sha256`` is the base of the patches the
    page exports. ``kind``: one of ``PAGE_KINDS``, what the records are.
    """
    path = page_path(output_dir)
    folder = path.parent
    assets = resources.files(__package__).joinpath(_ASSETS)
    template = assets.joinpath("index.html").read_text(encoding="utf-8")
    page = writers.html_page(
        template,
        escape.html_json(page_data(records, labels=labels, title=title, folder=folder, kind=kind)),
        data_marker="/*DATA*/",
        assets={
            "/*STYLE*/": assets.joinpath("review.css").read_text(encoding="utf-8"),
            "/*SCRIPT*/": page_script(assets.joinpath("review.js").read_text(encoding="utf-8")),
        },
    )
    outputs.write_text(path, page)
    return path

"""The Hub dataset's card and benchmark registration: README.md (YAML metadata for the Hub plus
the prose of ``cards/dataset_card.md``), ``eval.yaml`` and the annotations' provenance as the card
shows it (`public_provenance`: no local path; every text escaped).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from datasets import DatasetInfo, SplitDict, SplitInfo
from datasets.info import DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from ..cards import read_template
from . import escape
from .annotations.published import PUBLISHED_URL, Annotations
from .dataset_rows import PROVENANCE_KEY, SplitFiles, image_features, label_features
from .hub.names import EVAL_TASKS, IMAGES_CONFIG, LABELS_CONFIG, PRETTY_NAME

ANNOTATIONS_LICENSE = "cc-by-4.0"


IMAGENET_TERMS_URL = "https://image-net.org/download.php"


def public_provenance(annotations: Annotations) -> dict[str, Any]:
    """Provenance fit to publish: a verified file is the published one, so name its URL.

    A local path says nothing to a reader of the Hub card (and may reveal a home directory), so
    an unverified local file is named by its file name only; its sha256 identifies it.
    """
    provenance = annotations.provenance()
    source = provenance["source"]
    if annotations.verified:
        provenance["source"] = PUBLISHED_URL
    elif not source.startswith(("http://", "https://")):
        provenance["source"] = f"local file {Path(source).name}"
    return provenance


def size_category(num_rows: int) -> str:
    """The Hub's ``size_categories`` bucket of a row count."""
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if num_rows < bound:
            return label
    return "100K<n<1M"


def eval_yaml() -> str:
    """``eval.yaml``: the Hub's benchmark registration (https://huggingface.co/docs/hub/eval-results).

    ``evaluation_framework`` is left out: it must name a framework from the Hub's own list
    (huggingface.js ``packages/tasks/src/eval.ts``) and none of those runs this metric.
    """
    document = {
        "name": PRETTY_NAME,
        "description": (
            "ImageNet classifiers scored against the corrected multi-label annotations of the "
            "ILSVRC-2012 validation set (Shankar et al. 2020; version 3.0.0, Vasudevan et al. "
            "2022). Problematic images are skipped and a top-1 prediction is correct when it is "
            "among the correct or unclear labels. "
            + " ".join(f"Task {task['id']}: {task['scale']}." for task in EVAL_TASKS)
        ),
        "tasks": [
            {"id": task["id"], "config": LABELS_CONFIG, "split": task["split"]}
            for task in EVAL_TASKS
        ],
    }
    header = (
        "# Hub benchmark registration: https://huggingface.co/docs/hub/eval-results\n"
        "# Model repos report results in .eval_results/*.yaml with dataset.task_id set to a task "
        "id below.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def render_card(
    written: Mapping[str, Mapping[str, SplitFiles]], provenance: Mapping[str, Any], *, repo_id: str
) -> str:
    """README.md from ``cards/dataset_card.md``: YAML metadata for the Hub plus the prose."""
    has_images = IMAGES_CONFIG in written
    card_data = DatasetCardData(
        pretty_name=PRETTY_NAME,
        license="other" if has_images else ANNOTATIONS_LICENSE,
        language=["en"],
        annotations_creators=["expert-generated"],
        source_datasets=["extended|imagenet-1k"],
        task_categories=["image-classification"],
        task_ids=["multi-label-image-classification"],
        size_categories=[size_category(written[LABELS_CONFIG]["validation"].num_examples)],
        tags=["imagenet", "imagenet-m", "multi-label", "label-noise", "benchmark"],
        **(_image_terms_fields() if has_images else {}),
    )
    infos = DatasetInfosDict(
        {config: _dataset_info(config, splits) for config, splits in written.items()}
    )
    infos.to_dataset_card_data(card_data)
    MetadataConfigs(
        {config: _config_entry(config, splits) for config, splits in written.items()}
    ).to_dataset_card_data(card_data)
    card = DatasetCard.from_template(
        card_data,
        template_str=read_template("dataset_card.md"),
        splits={
            config: {split: {"num_examples": files.num_examples} for split, files in splits.items()}
            for config, splits in written.items()
        },
        provenance=_shown_provenance(provenance),
        provenance_key=PROVENANCE_KEY,
        has_images=has_images,
        repo_id=repo_id,
        eval_tasks=EVAL_TASKS,
        imagenet_terms_url=IMAGENET_TERMS_URL,
    )
    return str(card)


def _shown_provenance(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """The provenance as the card shows it: every text (the annotation file's name, its version,
    each patch's file name, reviewer, created and note: the patch author's own words) escaped by
    `escape.markdown_text`, so that none of them adds a link, emphasis, code, raw HTML, a line
    break or a table cell to the card."""

    def shown(record: Mapping[str, Any]) -> dict[str, Any]:
        return {
            key: escape.markdown_text(value) if isinstance(value, str) else value
            for key, value in record.items()
        }

    return {
        **shown(provenance),
        "patches": [shown(patch) for patch in provenance.get("patches") or ()],
    }


def _image_terms_fields() -> dict[str, Any]:
    """Card metadata of a repository that holds ImageNet images: their licence and a gate."""
    return {
        "license_name": "imagenet-terms-of-access",
        "license_link": IMAGENET_TERMS_URL,
        "extra_gated_prompt": (
            "The `images` config holds ImageNet validation images. ImageNet grants access to them "
            f"only under its terms of access ({IMAGENET_TERMS_URL}): non-commercial research and "
            "educational use, no redistribution. The annotations are CC BY 4.0."
        ),
        "extra_gated_fields": {
            "Name": "text",
            "Affiliation": "text",
            "I have accepted the ImageNet terms of access and will use the images only under "
            "them": "checkbox",
        },
    }


def _dataset_info(config: str, splits: Mapping[str, SplitFiles]) -> DatasetInfo:
    split_dict = SplitDict()
    for split, files in splits.items():
        split_dict.add(
            SplitInfo(name=split, num_bytes=files.num_bytes, num_examples=files.num_examples)
        )
    return DatasetInfo(
        features=image_features() if config == IMAGES_CONFIG else label_features(),
        splits=split_dict,
        download_size=sum(files.file_bytes for files in splits.values()),
        dataset_size=sum(files.num_bytes for files in splits.values()),
    )


def _config_entry(config: str, splits: Mapping[str, SplitFiles]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "data_files": [{"split": split, "path": f"{config}/{split}-*"} for split in splits]
    }
    if config == LABELS_CONFIG:
        entry["default"] = True
    return entry

"""Build the Hub dataset folder: parquet splits, dataset card and benchmark ``eval.yaml``.

Layout (what ``datasets.load_dataset(folder)`` and the Hub read)::

    README.md                                   card; YAML ``configs`` + ``dataset_info``
    eval.yaml                                   benchmark tasks (Hub "Eval results" format)
    labels/validation-00000-of-00001.parquet    config ``labels`` (default)
    labels/imagenet_m-00000-of-00001.parquet
    images/validation-00000-of-000NN.parquet    config ``images``, only with ``--images``
    images/imagenet_m-00000-of-000NN.parquet

Every parquet file carries the ``huggingface`` features metadata once (so ClassLabel, List and
Image round-trip) and, under ``imagenet_multilabel``, the annotations' provenance plus
``label_sha256``: each split's ``label_digest``, so that a reader can tell labels edited after the
build from the ones the recorded annotation file gave. Files are written deterministically: the
same input gives byte-identical output. The folder is assembled in a sibling temporary directory
and moved into place at the end, so a failed build leaves nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from datasets import ClassLabel, DatasetInfo, Features, Image, List, SplitDict, SplitInfo, Value
from datasets.info import DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData
from tqdm.auto import tqdm

from ..cards import read_template
from ..metric import references
from ..metric.errors import ToolkitError, brief_repr, named
from . import classes, escape
from .annotations.published import PUBLISHED_URL, SPLITS, Annotations, load_annotations
from .hub.names import EVAL_TASKS, IMAGES_CONFIG, LABELS_CONFIG, PRETTY_NAME
from .images.choose import ImageOptions, open_image_source
from .images.decode import check_image_header, decode_image
from .images.errors import CorruptImageError
from .images.source import LocatedImages
from .labels.loading import LabelSource
from .labels.patches import LabelPatch, patch_split_columns, patched_provenance, read_patch

PROVENANCE_KEY = "imagenet_multilabel"
LABEL_DIGESTS_KEY = "label_sha256"
LABEL_COLUMNS = tuple(references.LABEL_COLUMNS)
IMAGE_COLUMN = "image"
DEFAULT_MAX_SHARD_BYTES = 500 * 1000**2
DEFAULT_ROWS_PER_ROW_GROUP = 100
ANNOTATIONS_LICENSE = "cc-by-4.0"
IMAGENET_TERMS_URL = "https://image-net.org/download.php"
PLACEHOLDER_REPO_ID = "ORG/NAME"
_COMPRESSION = "zstd"


class BuildError(ToolkitError):
    """The build cannot proceed; the message names the input and what was expected."""


@dataclass
class SplitFiles:
    """What one split of one config became on disk, for the card's ``dataset_info``."""

    num_examples: int = 0
    num_bytes: int = 0  # in memory (arrow), as datasets reports it
    file_bytes: int = 0  # on disk (parquet)


def label_features() -> Features:
    """Features of the ``labels`` config; class ids are ClassLabels over the 1,000 names."""
    class_label = ClassLabel(names=list(classes.CLASS_NAMES))
    feature_of_kind = {
        "file name": Value("string"),
        "image id": Value("int32"),
        "class id": class_label,
        "class ids": List(class_label),
        "flag": Value("bool"),
    }
    return Features(
        {name: feature_of_kind[kind] for name, kind in references.LABEL_COLUMNS.items()}
    )


def image_features() -> Features:
    """Features of the ``images`` config: the labels columns plus the undecoded JPEG."""
    return Features({**label_features(), IMAGE_COLUMN: Image()})


def label_digest(columns: Mapping[str, list]) -> str:
    """sha256 of one split's label content, the same whether built or read back from parquet.

    The serialisation: the JSON object ``{column: [values in row order]}`` over ``LABEL_COLUMNS``
    in that order, with ``separators=(",", ":")`` and ASCII escapes, encoded as UTF-8. Class ids
    are integers, ``is_problematic`` booleans, ``file_name`` strings.
    """
    document = {name: columns[name] for name in LABEL_COLUMNS}
    return hashlib.sha256(json.dumps(document, separators=(",", ":")).encode()).hexdigest()


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


def build_dataset(
    output: str | os.PathLike,
    labels: Annotations | LabelSource | None = None,
    *,
    images: str | None = None,
    images_split: str | None = None,
    repo_id: str | None = None,
    full_image_check: bool = False,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    rows_per_row_group: int = DEFAULT_ROWS_PER_ROW_GROUP,
) -> Path:
    """Write the dataset folder at ``output`` (absent or empty) and return its path.

    ``labels``: a loaded annotation file, or a ``LabelSource`` naming one (``annotations``,
    ``allow_unverified``) and the label ``patches`` to apply (the labels then carry a patched
    version and are never the official ones); None: the published annotation file. A build
    writes the annotation file's own rows, so a labels dataset (``dataset``) is no source for it.
    ``images`` is an image source for ``dataset_script.images.open_image_source`` (tar, folder,
    Hugging Face dataset); without it only the ``labels`` config is built. Every wanted image is
    located before anything is written, so a source that lacks some fails fast, listing them.
    Each image is checked as it is written: its header (format, size, pixel mode), or with
    ``full_image_check`` a full decode; images that fail stop the build with their count and
    first names, and nothing is left behind: a dataset never stores an image it cannot load.
    ``repo_id`` only fills the card's code examples.
    """
    ImageOptions(images, images_split, full_image_check)
    target = Path(output)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BuildError(
            f"output {str(target)!r} exists and is not an empty directory; choose a new path or "
            "remove it, so that no file of an earlier build is left next to the new ones"
        )
    if max_shard_bytes <= 0 or rows_per_row_group <= 0:
        raise BuildError(
            f"max_shard_bytes ({max_shard_bytes}) and rows_per_row_group ({rows_per_row_group}) "
            "must be positive"
        )
    annotations, patches = _annotations_and_patches(labels)
    provenance = public_provenance(annotations)
    split_columns = {split: annotations.split_columns(split) for split in SPLITS}
    if patches:
        split_columns = patch_split_columns(split_columns, patches, base_sha256=annotations.sha256)
        provenance = patched_provenance(provenance, patches)
    metadata = {
        **provenance,
        LABEL_DIGESTS_KEY: {split: label_digest(split_columns[split]) for split in SPLITS},
    }
    located = None
    if images is not None:
        source = open_image_source(images, split=images_split)
        located = {split: source.locate(split_columns[split]["file_name"]) for split in SPLITS}
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        staging.chmod(_new_directory_mode(staging))  # mkdtemp's 0700 would hide the output
        written = {LABELS_CONFIG: _write_labels(staging, split_columns, metadata)}
        if located is not None:
            written[IMAGES_CONFIG] = _write_images(
                staging,
                split_columns,
                located,
                metadata,
                max_shard_bytes,
                rows_per_row_group,
                decode_image if full_image_check else check_image_header,
            )
        (staging / "eval.yaml").write_text(eval_yaml(), encoding="utf-8")
        card = render_card(written, provenance, repo_id=repo_id or PLACEHOLDER_REPO_ID)
        (staging / "README.md").write_text(card, encoding="utf-8")
        if target.exists():
            target.rmdir()
        staging.replace(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _annotations_and_patches(
    labels: Annotations | LabelSource | None,
) -> tuple[Annotations, list[LabelPatch]]:
    """The annotation file a build writes and the patches applied to it."""
    if isinstance(labels, Annotations):
        return labels, []
    source = LabelSource() if labels is None else labels
    if not isinstance(source, LabelSource):
        raise BuildError(
            f"build_dataset(labels=...): expected Annotations, a LabelSource or None, got "
            f"{type(labels).__name__} {brief_repr(labels)}"
        )
    if source.dataset is not None:
        raise BuildError(
            f"a build writes the rows of an annotation file, so the labels dataset "
            f"`{named('dataset')}` {brief_repr(source.dataset)} is no source for it; expected "
            f"`{named('annotations', 'PATH')}` or "
            "none (the published file)"
        )
    annotations = load_annotations(source.annotations, allow_unverified=source.allow_unverified)
    return annotations, [read_patch(path) for path in source.patches]


def _new_directory_mode(fresh: Path) -> int:
    """The mode ``mkdir`` gives a new directory in ``fresh``, an empty directory of ours.

    That is 0o777 less the umask (or what a default ACL says), read off a probe directory:
    setting the process umask to read it would race other threads.
    """
    probe = fresh / "probe"
    probe.mkdir()
    try:
        return probe.stat().st_mode & 0o777
    finally:
        probe.rmdir()


def _schema(features: Features, provenance: Mapping[str, Any]) -> pa.Schema:
    """The features' arrow schema (with datasets' own metadata) plus our provenance."""
    schema = features.arrow_schema
    metadata = dict(schema.metadata or {})
    metadata[PROVENANCE_KEY.encode()] = json.dumps(dict(provenance), sort_keys=True).encode()
    return schema.with_metadata(metadata)


def _parquet_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    """A writer that stores ``schema``'s metadata once, as the file's key-value metadata.

    pyarrow would also store the whole schema serialised (``ARROW:schema``), metadata included:
    a second copy of the ``huggingface`` features, whose four ClassLabel columns each list the
    1,000 class names. Every column type here maps to a parquet type and back unchanged, so that
    copy adds nothing; ``store_schema=False`` drops it, and the key-value metadata with it, which
    is therefore added back by hand.
    """
    writer = pq.ParquetWriter(
        path, schema.remove_metadata(), compression=_COMPRESSION, store_schema=False
    )
    writer.add_key_value_metadata(schema.metadata)
    return writer


def _write_labels(
    folder: Path, split_columns: Mapping[str, Mapping[str, list]], provenance: Mapping[str, Any]
) -> dict[str, SplitFiles]:
    schema = _schema(label_features(), provenance)
    (folder / LABELS_CONFIG).mkdir()
    written = {}
    for split in tqdm(SPLITS, desc="Writing labels", unit="split"):
        columns = split_columns[split]
        table = pa.Table.from_pydict({name: columns[name] for name in LABEL_COLUMNS}, schema=schema)
        relative = f"{LABELS_CONFIG}/{split}-00000-of-00001.parquet"
        with _parquet_writer(folder / relative, schema) as writer:
            writer.write_table(table)
        size = (folder / relative).stat().st_size
        written[split] = SplitFiles(table.num_rows, table.nbytes, size)
    return written


def _write_images(
    folder: Path,
    split_columns: Mapping[str, Mapping[str, list]],
    located: Mapping[str, LocatedImages],
    provenance: Mapping[str, Any],
    max_shard_bytes: int,
    rows_per_row_group: int,
    check: Callable[[bytes, str], object],
) -> dict[str, SplitFiles]:
    """Stream every split's images into shards, each checked by ``check(data, file_name)``.

    Every image is checked, so that one error lists all the bad ones; rows stop being written
    at the first, since the build then fails and its staging folder goes.
    """
    schema = _schema(image_features(), provenance)
    (folder / IMAGES_CONFIG).mkdir()
    written = {}
    problems: dict[str, str] = {}  # file name -> why it cannot be stored
    for split in SPLITS:
        columns, images = split_columns[split], located[split]
        shards = _ImageShardWriter(folder, split, schema, max_shard_bytes, rows_per_row_group)
        with shards:
            for row in tqdm(range(len(images)), desc=f"Writing images/{split}", unit="img"):
                try:
                    file_name, data = images[row]
                    check(data, file_name)
                except CorruptImageError as error:
                    problems.update(error.problems)
                    continue
                if file_name != columns["file_name"][row]:  # rows join on names, never position
                    raise BuildError(
                        f"image source returned {file_name} for row {row} of {split}, whose "
                        f"labels are for {columns['file_name'][row]}"
                    )
                if not problems:
                    shards.add({name: columns[name][row] for name in LABEL_COLUMNS}, data)
        written[split] = shards.finish()
    if problems:
        checked = set().union(*(images.file_names for images in located.values()))
        raise CorruptImageError.from_problems(list(problems.items()), num_checked=len(checked))
    return written


class _ImageShardWriter:
    """Streams rows into parquet shards of at most ``max_shard_bytes`` of image data.

    Rows are buffered one row group at a time, so memory holds ``rows_per_row_group`` images
    whatever the split's size. The shard count is known only at the end, so shards are written
    as ``{split}-NNNNN.partial`` and renamed to ``{split}-NNNNN-of-MMMMM.parquet`` by ``finish``.
    """

    def __init__(
        self, folder: Path, split: str, schema: pa.Schema, max_bytes: int, rows_per_group: int
    ) -> None:
        self._folder, self._split, self._schema = folder, split, schema
        self._max_bytes, self._rows_per_group = max_bytes, rows_per_group
        self._pending: list[tuple[dict[str, Any], bytes]] = []
        self._pending_bytes = 0
        self._shard_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._partials: list[Path] = []
        self._summary = SplitFiles()

    def __enter__(self) -> _ImageShardWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is None:
            self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def add(self, labels: dict[str, Any], data: bytes) -> None:
        """Queue one row; start a new shard first if this image would overflow the current one."""
        shard_has_rows = self._shard_bytes > 0 or self._pending
        if shard_has_rows and self._shard_bytes + self._pending_bytes + len(data) > self._max_bytes:
            self._flush()
            self._writer.close()
            self._writer = None
            self._shard_bytes = 0
        self._pending.append((labels, data))
        self._pending_bytes += len(data)
        if len(self._pending) == self._rows_per_group:
            self._flush()

    def _flush(self) -> None:
        """Write the queued rows as one row group of the current shard."""
        if not self._pending:
            return
        if self._writer is None:
            partial = (
                self._folder / IMAGES_CONFIG / f"{self._split}-{len(self._partials):05d}.partial"
            )
            self._partials.append(partial)
            self._writer = _parquet_writer(partial, self._schema)
        columns: dict[str, list] = {name: [] for name in LABEL_COLUMNS}
        columns[IMAGE_COLUMN] = []
        for labels, data in self._pending:
            for name in LABEL_COLUMNS:
                columns[name].append(labels[name])
            columns[IMAGE_COLUMN].append({"bytes": data, "path": labels["file_name"]})
        batch = pa.RecordBatch.from_pydict(columns, schema=self._schema)
        self._writer.write_batch(batch, row_group_size=len(self._pending))
        self._summary.num_examples += batch.num_rows
        self._summary.num_bytes += batch.nbytes
        self._shard_bytes += self._pending_bytes
        self._pending, self._pending_bytes = [], 0

    def finish(self) -> SplitFiles:
        """Give the closed shards their final ``-of-MMMMM`` names."""
        count = len(self._partials)
        for index, partial in enumerate(self._partials):
            relative = f"{IMAGES_CONFIG}/{self._split}-{index:05d}-of-{count:05d}.parquet"
            partial.replace(self._folder / relative)
            self._summary.file_bytes += (self._folder / relative).stat().st_size
        return self._summary


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

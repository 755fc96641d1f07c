"""The Hub dataset's rows: the features of its two configs, the label digest and the parquet
files that hold them.

Every parquet file carries the ``huggingface`` features metadata once (so ClassLabel, List and
Image round-trip) and, under ``imagenet_multilabel`` (`PROVENANCE_KEY`), the annotations'
provenance plus ``label_sha256`` (`LABEL_DIGESTS_KEY`): each split's `label_digest`, so that a
reader (`labels.dataset`) can tell labels edited after the build from the ones the recorded
annotation file gave. Files are written deterministically: the same input gives byte-identical
output. Images are checked as they are written and streamed into shards of bounded size.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import ClassLabel, Features, Image, List, Value
from tqdm.auto import tqdm

from ..metric import references
from ..metric.errors import ToolkitError
from . import classes
from .annotations.published import SPLITS
from .hub.names import IMAGES_CONFIG, LABELS_CONFIG
from .images.errors import CorruptImageError
from .images.source import LocatedImages

PROVENANCE_KEY = "imagenet_multilabel"


LABEL_DIGESTS_KEY = "label_sha256"


LABEL_COLUMNS = tuple(references.LABEL_COLUMNS)


IMAGE_COLUMN = "image"


DEFAULT_MAX_SHARD_BYTES = 500 * 1000**2


DEFAULT_ROWS_PER_ROW_GROUP = 100


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


def write_labels(
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


def write_images(
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

"""Labels from a built or published labels dataset (``--labels HUB_ID_OR_DIR``).

The ``labels`` config written by ``imagenet-multilabel build``, from a local folder or from the
Hub. A Hub dataset is fetched with ``snapshot_download`` restricted to the card and ``labels/*``
(never the gated, large ``images`` config), and the snapshot's commit hash is recorded, so a
result names the exact labels it was scored against. The annotations' sha256 and version come
back from the parquet metadata that the builder wrote, and are believed only for splits whose
rows still have the ``label_digest`` recorded there at build time.

Metadata is written by whoever made the files, so its ``verified`` proves nothing: the labels
are ``verified`` (official) only when every loaded split's rows are shown equal to those of the
sha256-verified published annotation file (``label_content_digest`` and the row count of each
split, both sides computed here). Without that file at hand the claim is left *unchecked*
(``verified: False``, ``verification: "unchecked"``); rows that differ from it are an error.
This module imports ``datasets`` (seconds), so `dataset_script.labels` imports it only when it
is needed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import huggingface_hub
import numpy as np
import pyarrow.parquet as pq

from ...metric.errors import ToolkitError, brief_repr, named, shorten
from ...metric.references import LABEL_SET_COLUMNS, References
from ..annotations.published import Annotations
from ..classes import NUM_CLASSES
from ..dataset_rows import LABEL_COLUMNS, LABEL_DIGESTS_KEY, PROVENANCE_KEY, label_digest
from ..hub.card import card_configs
from ..hub.names import LABELS_CONFIG
from ..json_input import parse_json

HUB_ALLOW_PATTERNS = ["README.md", f"{LABELS_CONFIG}/*"]
_COMMIT_HASH = re.compile(r"[0-9a-f]{40}")
_PROVENANCE_FIELDS = ("source", "sha256", "version", "verified", "num_annotated_images")
# Present only in a build with label patches (``dataset_script.patches.patched_provenance``).
_PATCH_FIELDS = ("base_verified", "patched", "patches")
# ``verification`` in the provenance: how far the metadata's claim to be the published labels
# was checked. Only CHECKED labels are ``verified``.
CHECKED = "checked"  # rows equal the sha256-verified published annotation file's
UNCHECKED = "unchecked"  # claimed, but the published file was not at hand to compare
NOT_CLAIMED = "not claimed"  # built from another annotation file, or patched


class LabelsDatasetError(ToolkitError):
    """The labels dataset is unusable; the message names it and what was expected."""


def load_labels_dataset(
    id_or_dir: str, splits: Sequence[str], *, published: Annotations | None = None
) -> tuple[dict[str, References], dict[str, Any]]:
    """References of each requested split, read from the Arrow table, and their provenance.

    ``published``: the sha256-verified published annotations (from the cache or a local copy),
    against which a dataset that claims to hold them is checked; None leaves it unchecked.
    Provenance keys: ``source`` (the folder or Hub id), ``revision`` (the Hub commit hash, None
    for a folder), from the parquet metadata ``sha256``, ``version``, ``num_annotated_images``
    and ``annotations_source``, and ``verified`` and ``verification`` as this check found them.
    """
    local = Path(id_or_dir)
    if _is_directory(local):
        folder, source, revision = local, str(local.resolve()), None
    else:  # a Hub id: the command frame refused anything else (`eval_cli.frame.LABEL_FILES`)
        folder = _download(id_or_dir)
        source, revision = id_or_dir, folder.name
        if not _COMMIT_HASH.fullmatch(revision):
            raise LabelsDatasetError(
                f"snapshot of {id_or_dir!r} is at {str(folder)!r}, whose name is not a commit "
                "hash; expected huggingface_hub's cache layout snapshots/<commit hash>"
            )
    split_files = _labels_data_files(folder, source)
    unknown = [split for split in splits if split not in split_files]
    if unknown:
        raise LabelsDatasetError(
            f"labels dataset {source!r} has no split(s) {', '.join(map(repr, unknown))} in its "
            f"{LABELS_CONFIG!r} config; splits there: {', '.join(split_files)}"
        )
    tables = {split: _split_table(source, split, split_files[split]) for split in splits}
    annotations = _annotations_provenance(
        [path for split in splits for path in split_files[split]], source
    )
    for split, table in tables.items():
        _check_digest(source, split, table.to_pydict(), annotations)
    references = {split: References.from_arrow(table) for split, table in tables.items()}
    verification = _verification(source, references, annotations, published)
    provenance = {
        "source": source,
        "revision": revision,
        **{key: annotations[key] for key in _PROVENANCE_FIELDS if key != "source"},
        **{key: annotations[key] for key in _PATCH_FIELDS if key in annotations},
        "annotations_source": annotations["source"],
        "verified": verification == CHECKED,
        "verification": verification,
    }
    return references, provenance


def label_content_digest(references: References) -> str:
    """sha256 of what scoring reads from one split, the same however its rows are ordered.

    Rows sorted by file name; the file names (as a JSON list), original labels (int64) and
    problematic flags (one byte each), then per label set the sorted, distinct
    ``row * 1000 + class`` keys (int64), each part preceded by its length: a class listed twice,
    or in another order within a row, scores the same and digests the same.
    """
    order = np.argsort(references.file_names, kind="stable")
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    names = json.dumps(references.file_names[order].tolist()).encode()
    parts = [
        names,
        references.original_label[order].astype("<i8").tobytes(),
        references.is_problematic[order].astype(np.uint8).tobytes(),
    ]
    for name in LABEL_SET_COLUMNS:
        label_sets = getattr(references, name.removesuffix("_multi_labels"))
        keys = np.unique(position[label_sets.rows] * NUM_CLASSES + label_sets.classes)
        parts.append(keys.astype("<i8").tobytes())
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


def _verification(
    source: str,
    references: dict[str, References],
    record: dict[str, Any],
    published: Annotations | None,
) -> str:
    """``CHECKED``, ``UNCHECKED`` or ``NOT_CLAIMED`` (see the module docstring); a claim that the
    published file disproves is an error naming the split."""
    if record["verified"] is not True or record.get("patched"):
        return NOT_CLAIMED
    if published is None:
        return UNCHECKED
    if record["sha256"] != published.sha256:
        raise LabelsDatasetError(
            f"labels dataset {source!r} claims to be verified, but records the annotation file "
            f"sha256 {record['sha256']}, not the published {published.sha256}; its metadata is "
            "not what `imagenet-multilabel build` writes: rebuild it"
        )
    for split, loaded in references.items():
        expected = References.from_columns(published.split_columns(split))
        if len(loaded) != len(expected) or label_content_digest(loaded) != label_content_digest(
            expected
        ):
            raise LabelsDatasetError(
                f"labels dataset {source!r} split {split!r} claims to be the published labels, "
                f"but its {len(loaded):,} rows differ from the {len(expected):,} of the "
                f"published annotation file (sha256 {published.sha256}): they were changed and "
                "its metadata rewritten. Score the published labels without "
                f"`{named('dataset')}`, or rebuild the dataset with `imagenet-multilabel build`"
            )
    return CHECKED


def _is_directory(path: Path) -> bool:
    """Whether ``path`` is a directory; a name the OS refuses (too long) is none."""
    try:
        return path.is_dir()
    except OSError:
        return False


def _download(repo_id: str) -> Path:
    """Card and labels parquet of a Hub dataset, through the Hugging Face cache."""
    try:
        snapshot = huggingface_hub.snapshot_download(
            repo_id, repo_type="dataset", allow_patterns=HUB_ALLOW_PATTERNS
        )
    except OSError as error:  # not found, gated, offline and not cached, HTTP errors
        raise LabelsDatasetError(
            f"could not download the labels dataset {repo_id!r} from the Hugging Face Hub: "
            f"{error}. For a private or gated repository log in (`hf auth login` or HF_TOKEN); "
            "offline, pass a local folder built by `imagenet-multilabel build`"
        ) from error
    return Path(snapshot)


def _labels_data_files(folder: Path, source: str) -> dict[str, list[Path]]:
    """Parquet files per split of the ``labels`` config, as the card's ``configs`` declares."""
    readme = folder / "README.md"
    if not readme.is_file():
        raise LabelsDatasetError(
            f"{source!r} is not a labels dataset: it has no README.md; expected a folder written "
            "by `imagenet-multilabel build` or its Hub copy"
        )
    configs = card_configs(readme, source, LabelsDatasetError)
    labels = [config for config in configs if config.get("config_name") == LABELS_CONFIG]
    if not labels:
        names = [str(config.get("config_name")) for config in configs]
        raise LabelsDatasetError(
            f"{source!r} is not a labels dataset: its card declares no {LABELS_CONFIG!r} config "
            f"(configs: {', '.join(names) or 'none'})"
        )
    split_files: dict[str, list[Path]] = {}
    entries = labels[0].get("data_files") or []
    for entry in entries if isinstance(entries, list) else [entries]:
        patterns = _split_patterns(entry, source)
        files = sorted(path for pattern in patterns for path in _inside(folder, pattern, source))
        if not files:
            raise LabelsDatasetError(
                f"labels dataset {source!r}: split {entry['split']!r} declares "
                f"{', '.join(patterns)} but no such file exists"
            )
        split_files[entry["split"]] = files
    return split_files


def _split_patterns(entry: Any, source: str) -> list[str]:
    """The file patterns of one ``data_files`` entry of the card (``{split, path}``, ``path`` one
    pattern or a list of them)."""
    path = entry.get("path") if isinstance(entry, dict) else None
    patterns = path if isinstance(path, list) else [path]
    if not isinstance(entry.get("split") if isinstance(entry, dict) else None, str) or not all(
        isinstance(pattern, str) for pattern in patterns
    ):
        raise LabelsDatasetError(
            f"labels dataset {source!r}: its card's data_files entry {brief_repr(entry)} is not "
            "a split and its file pattern(s); expected {split: NAME, path: PATTERN} (as "
            "`imagenet-multilabel build` writes it)"
        )
    return patterns


def _inside(folder: Path, pattern: str, source: str) -> list[Path]:
    """The files of ``folder`` that a card's ``data_files`` pattern names: a pattern reaching
    outside the folder (``../other/*.parquet``, an absolute path, a link out of it) is refused,
    since those files are no part of the dataset (nor protected as its inputs)."""
    root = folder.resolve()
    if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        files = None
    else:
        files = list(folder.glob(pattern))
    if files is None or any(not path.resolve().is_relative_to(root) for path in files):
        raise LabelsDatasetError(
            f"labels dataset {source!r}: its card's data_files pattern {pattern!r} reaches "
            "outside the dataset's folder; expected files inside it (as `imagenet-multilabel "
            "build` writes them)"
        )
    return files


def _split_table(source: str, split: str, files: Sequence[Path]) -> Any:
    """Read the split's parquet files with ``datasets``, whose metadata restores the features.

    ``load_dataset(folder, "labels")`` would resolve the data files of every config the card
    declares, and a labels-only snapshot of a repository with the ``images`` config lacks those.
    """
    try:
        dataset = datasets.load_dataset(
            "parquet", data_files={split: [str(path) for path in files]}, split=split
        )
    except (OSError, ValueError) as error:
        raise LabelsDatasetError(
            f"could not load split {split!r} of the labels dataset {source!r}: {error}"
        ) from error
    missing = [name for name in LABEL_COLUMNS if name not in dataset.column_names]
    if missing:
        raise LabelsDatasetError(
            f"labels dataset {source!r} split {split!r} lacks the column(s) {', '.join(missing)}; "
            f"found {', '.join(dataset.column_names)}; expected {', '.join(LABEL_COLUMNS)}"
        )
    return dataset.select_columns(list(LABEL_COLUMNS)).with_format("arrow")[:]


def _annotations_provenance(files: Sequence[Path], source: str) -> dict[str, Any]:
    """The builder's provenance record, which every parquet file must carry identically."""
    records: dict[str, list[str]] = {}
    for path in files:
        metadata = pq.read_schema(path).metadata or {}
        raw = metadata.get(PROVENANCE_KEY.encode())
        if raw is None:
            raise LabelsDatasetError(
                f"labels dataset {source!r}: {path.name} carries no {PROVENANCE_KEY!r} schema "
                "metadata, so the annotations it was built from are unknown; expected a file "
                "written by `imagenet-multilabel build`"
            )
        records.setdefault(raw, []).append(path.name)
    if len(records) > 1:
        shown = "; ".join(
            f"{', '.join(names)}: {shorten(record.decode(errors='replace'))}"
            for record, names in records.items()
        )
        raise LabelsDatasetError(
            f"labels dataset {source!r} mixes files built from different annotations ({shown}); "
            "expected one build"
        )
    ((raw, names),) = records.items()
    record = parse_json(
        raw,
        f"labels dataset {source!r}: the {PROVENANCE_KEY!r} metadata of {names[0]}",
        "the JSON object `imagenet-multilabel build` writes",
        top=dict,
        error=LabelsDatasetError,
    )
    absent = [key for key in (*_PROVENANCE_FIELDS, LABEL_DIGESTS_KEY) if key not in record]
    if absent:
        raise LabelsDatasetError(
            f"labels dataset {source!r}: the {PROVENANCE_KEY!r} metadata lacks "
            f"{', '.join(absent)}; found {record}"
        )
    return record


def _check_digest(
    source: str, split: str, columns: dict[str, list], record: dict[str, Any]
) -> None:
    """Refuse rows edited after the build: the recorded sha256 vouches only for the built ones."""
    digests = record[LABEL_DIGESTS_KEY]
    expected = digests.get(split) if isinstance(digests, dict) else None
    if expected is None:
        raise LabelsDatasetError(
            f"labels dataset {source!r}: the {PROVENANCE_KEY!r} metadata records no "
            f"{LABEL_DIGESTS_KEY} for split {split!r}, so its rows cannot be checked"
        )
    actual = label_digest(columns)
    if actual != expected:
        raise LabelsDatasetError(
            f"labels dataset {source!r} split {split!r}: the labels were changed after they were "
            f"built from the annotation file with sha256 {record['sha256']} (label content "
            f"sha256 {actual}, recorded {expected}); rebuild it with "
            "`imagenet-multilabel build`"
        )

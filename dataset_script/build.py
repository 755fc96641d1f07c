"""Build the Hub dataset folder: parquet splits, dataset card and benchmark ``eval.yaml``.

Layout (what ``datasets.load_dataset(folder)`` and the Hub read)::

    README.md                                   card; YAML ``configs`` + ``dataset_info``
    eval.yaml                                   benchmark tasks (Hub "Eval results" format)
    labels/validation-00000-of-00001.parquet    config ``labels`` (default)
    labels/imagenet_m-00000-of-00001.parquet
    images/validation-00000-of-000NN.parquet    config ``images``, only with ``--images``
    images/imagenet_m-00000-of-000NN.parquet

This module assembles it: the labels chosen (an annotation file, patched or not), the images
located, the rows written (`dataset_rows`), the card and ``eval.yaml`` rendered (`dataset_card`).
The folder is assembled in a sibling temporary directory and moved into place at the end, so a
failed build leaves nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..metric.errors import brief_repr, named
from . import dataset_card, dataset_rows
from .annotations.published import SPLITS, Annotations, load_annotations
from .dataset_rows import BuildError
from .hub.ids import hub_repo_id_problem
from .hub.names import IMAGES_CONFIG, LABELS_CONFIG
from .images.choose import ImageOptions, open_image_source
from .images.decode import check_image_header, decode_image
from .labels.loading import LabelSource
from .labels.patches import LabelPatch, patch_split_columns, patched_provenance, read_patch

PLACEHOLDER_REPO_ID = "ORG/NAME"


def build_dataset(
    output: str | os.PathLike,
    labels: Annotations | LabelSource | None = None,
    *,
    images: str | None = None,
    images_split: str | None = None,
    repo_id: str | None = None,
    full_image_check: bool = False,
    max_shard_bytes: int = dataset_rows.DEFAULT_MAX_SHARD_BYTES,
    rows_per_row_group: int = dataset_rows.DEFAULT_ROWS_PER_ROW_GROUP,
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
    ``repo_id`` only fills the card's code examples, so it must be a Hub id (anything else would
    be pasted into the examples' Python as is).
    """
    ImageOptions(images, images_split, full_image_check)
    problem = None if repo_id is None else hub_repo_id_problem(repo_id)
    if problem is not None:
        raise BuildError(
            f"{named('repo_id')} {brief_repr(repo_id)} is not a Hub dataset id: {problem}"
        )
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
    provenance = dataset_card.public_provenance(annotations)
    split_columns = {split: annotations.split_columns(split) for split in SPLITS}
    if patches:
        split_columns = patch_split_columns(split_columns, patches, base_sha256=annotations.sha256)
        provenance = patched_provenance(provenance, patches)
    metadata = {
        **provenance,
        dataset_rows.LABEL_DIGESTS_KEY: {
            split: dataset_rows.label_digest(split_columns[split]) for split in SPLITS
        },
    }
    located = None
    if images is not None:
        source = open_image_source(images, split=images_split)
        located = {split: source.locate(split_columns[split]["file_name"]) for split in SPLITS}
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        staging.chmod(_new_directory_mode(staging))  # mkdtemp's 0700 would hide the output
        written = {LABELS_CONFIG: dataset_rows.write_labels(staging, split_columns, metadata)}
        if located is not None:
            written[IMAGES_CONFIG] = dataset_rows.write_images(
                staging,
                split_columns,
                located,
                metadata,
                max_shard_bytes,
                rows_per_row_group,
                decode_image if full_image_check else check_image_header,
            )
        (staging / "eval.yaml").write_text(dataset_card.eval_yaml(), encoding="utf-8")
        card = dataset_card.render_card(written, provenance, repo_id=repo_id or PLACEHOLDER_REPO_ID)
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
            f"{named('labels')}: expected Annotations, a LabelSource or None, got "
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

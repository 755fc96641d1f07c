"""Label sets, their loading half: each registered set's labels read, verified and kept with their
provenance and licence. The other half (how a set judges, its metric names, whether it can be
official) and the registry itself are `metric.label_sets`.

Owns: one module per registered set, named after it, whose ``load(request)`` returns the set's
labels row-aligned with its split's images (`LoadedLabelSet`): the multi-label labels' splits as
`labels.loading` loads them, the devkit's original labels, and the sets shipped in
``data/<name>/`` with their LICENSE and SOURCE.md (docs/LABEL_SETS.md lists them). A module that
reads another copy of its file when given one says so in ``COPY_HELP``; a set with a file of its own
names that file's sha256 as shipped in ``PUBLISHED_SHA256`` (checked on every load, and what
results recorded on the set are checked against: `published_sha256`); this module checks those
options (`check_label_set_files`), the ``--split`` choices (`chosen_splits`), and loads what a
scoring pass needs (`load_label_sets`), with the helpers the modules share.
May import: `metric`, `dataset_script.classes`, `dataset_script.labels` (the multi-label labels);
nothing else in `dataset_script` imports this folder.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ...metric import label_sets
from ...metric.errors import ToolkitError, brief_repr, first_few, named, read_regular_file
from ...metric.label_sets import LabelSet
from ...metric.references import LabelSets, SetReferences
from .. import classes
from ..labels.loading import Labels


class LabelSetError(ToolkitError):
    """A label set's file that is missing, altered or not in its published shape, or an option
    naming a label set that does not take it."""


@dataclass(frozen=True)
class LoadRequest:
    """What a set's ``load`` may use: the set itself, the multi-label labels (for their splits),
    and another copy of its file (``path``, sets with ``COPY_HELP`` only), accepted with a sha256
    other than the published one when ``allow_unverified``."""

    label_set: LabelSet
    labels: Labels | None = None
    path: Path | None = None
    allow_unverified: bool = False


@dataclass(frozen=True)
class LoadedLabelSet:
    """A set's labels, row-aligned with ``file_names`` (every image of its split, in image-id
    order; all sets of one split share them), and the ``provenance`` that results record under
    ``labels.<name>`` (None: the multi-label labels', recorded as ``labels`` itself)."""

    label_set: LabelSet
    file_names: np.ndarray
    references: Any
    provenance: Mapping[str, Any] | None

    @cached_property
    def image_ids(self) -> np.ndarray:
        """The image id of each of ``file_names``, looked up once."""
        image_ids = classes.image_ids_by_file_name()
        return np.array([image_ids[name] for name in self.file_names.tolist()], dtype=np.int64)

    def take(self, rows: np.ndarray) -> Any:
        """The references of ``rows`` (positions in ``file_names``), for the set's ``score``."""
        return self.label_set.take(self.references, rows)

    def accepted_sets(self) -> list[frozenset[int]]:
        """An `AcceptedSet`'s classes of each of its images, in ``file_names`` order (empty: the
        image is left out)."""
        return list(map(frozenset, self.references.labels.lists(len(self.file_names))))

    def reference_rows(self, file_names: Sequence[str]) -> list[dict[str, Any]]:
        """The references of ``file_names`` as the ``evaluate`` module's configuration of this
        set takes them (an `AcceptedSet`'s): ``{"file_name", <its reference column>}`` each."""
        column = getattr(self.label_set, "reference_column", None)
        if column is None:
            raise LabelSetError(f"label set {self.label_set.name!r} has no evaluate configuration")
        position = {name: row for row, name in enumerate(self.file_names.tolist())}
        unknown = [name for name in file_names if name not in position]
        if unknown:
            raise LabelSetError(
                f"{len(unknown)} file name(s) are not images of label set "
                f"{self.label_set.name!r}, e.g. {first_few(map(repr, unknown))}"
            )
        references = self.take(np.array([position[name] for name in file_names], dtype=np.int64))
        sets = references.labels.lists(len(file_names))
        return [
            {"file_name": name, column: labels}
            for name, labels in zip(file_names, sets, strict=True)
        ]


def loading_module(label_set: LabelSet) -> ModuleType:
    """The loading half of a registered set: this package's module named after it."""
    return importlib.import_module(f"{__name__}.{label_set.name}")


def copy_options() -> dict[str, str]:
    """The sets that read another copy of their file when given one: name -> what it is."""
    found = {}
    for label_set in label_sets.REGISTRY:
        help_text = getattr(loading_module(label_set), "COPY_HELP", None)
        if help_text is not None:
            found[label_set.name] = help_text
    return found


def published_sha256(label_set: LabelSet) -> str | None:
    """The sha256 of a set's published file as shipped (its loading module's
    ``PUBLISHED_SHA256``), against which a result's recorded sha256 decides whether its numbers on
    the set are the benchmark's; None for a set without a file of its own (the multi-label
    splits, recorded as the ``labels`` block and checked against the annotation file)."""
    return getattr(loading_module(label_set), "PUBLISHED_SHA256", None)


# `--split`: one split, every split but `full` (the multi-label ones), or every split.
ALL_SPLIT = "all"
LABEL_SPLITS = tuple(split for split in label_sets.SPLITS if split != label_sets.FULL_SPLIT)
SPLIT_CHOICES = (*LABEL_SPLITS, ALL_SPLIT, label_sets.FULL_SPLIT)


def chosen_splits(split: str) -> tuple[str, ...]:
    """The splits a ``--split`` choice scores (``full``: every split, ``full`` first)."""
    if split not in SPLIT_CHOICES:
        raise ToolkitError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_CHOICES)}")
    if split == label_sets.FULL_SPLIT:
        return label_sets.SPLITS
    return LABEL_SPLITS if split == ALL_SPLIT else (split,)


def copy_parameter(name: str) -> str:
    """How messages name the copy of set ``name``'s file given to the API (``label_set_files``),
    and the key under which the command line spells it (``--NAME-labels``)."""
    return f"label_set_files[{name!r}]"


def unverified_parameter(name: str) -> str:
    """How messages name the acceptance of set ``name``'s copy unverified, as the API takes it
    (``allow_unverified_label_set_files``; ``--allow-unverified-NAME-labels`` on the command
    line)."""
    return f"allow_unverified_label_set_files=[{name!r}]"


def check_label_set_files(
    splits: Sequence[str], files: Mapping[str, Any], allow_unverified: Collection[str]
) -> None:
    """Another copy given for a set (``files``: name -> path), or accepted unverified, only for a
    set that reads one and that ``splits`` score: otherwise the option would be ignored."""
    takes_copy = copy_options()
    for option, parameter, names in (
        ("label_set_files", copy_parameter, list(files)),
        ("allow_unverified_label_set_files", unverified_parameter, list(allow_unverified)),
    ):
        for name in names:
            if name not in takes_copy:  # only from Python: each option names its set
                raise LabelSetError(
                    f"{option}: {brief_repr(name)} is not a label set that reads another copy of "
                    f"its file; expected one of: {', '.join(takes_copy) or 'none'}"
                )
            label_set = label_sets.by_name(name)
            if label_set.split not in splits:
                raise LabelSetError(
                    f"{named(parameter(name))} applies to "
                    f"{named('split', label_set.split)} only, the split that scores the "
                    f"{label_set.title} labels"
                )


def load_label_sets(
    splits: Sequence[str],
    labels: Labels | None,
    files: Mapping[str, str | os.PathLike] | None = None,
    allow_unverified: Collection[str] = (),
) -> dict[str, LoadedLabelSet]:
    """Every registered set that ``splits`` score, loaded: name -> `LoadedLabelSet`.

    ``labels``: the multi-label labels (needed when a multi-label split is scored); ``files``:
    another copy of a set's file, by set name; ``allow_unverified``: the names of sets whose given
    copy may differ from the published file (it is then recorded unverified).
    """
    files = dict(files or {})
    check_label_set_files(splits, files, allow_unverified)
    return {
        label_set.name: load_label_set(
            label_set.name,
            labels=labels,
            path=files.get(label_set.name),
            allow_unverified=label_set.name in allow_unverified,
        )
        for split in splits
        for label_set in label_sets.in_split(split)
    }


def load_label_set(
    name: str,
    *,
    labels: Labels | None = None,
    path: str | os.PathLike | None = None,
    allow_unverified: bool = False,
) -> LoadedLabelSet:
    """The registered set ``name`` loaded: the multi-label splits from ``labels``, the others
    from the package, or from ``path`` for a set that reads another copy of its file (one whose
    sha256 is not the published one only with ``allow_unverified``)."""
    label_set = label_sets.by_name(name)
    request = LoadRequest(label_set, labels, None if path is None else Path(path), allow_unverified)
    return loading_module(label_set).load(request)


# ---------------------------------------------------------------------------------------------
# What the loading modules share


@cache
def validation_images() -> np.ndarray:
    """Every validation file name as an object array, entry ``image_id - 1``: the images of the
    sets over all 50,000 (split ``full``)."""
    names = np.empty(classes.NUM_VALIDATION_IMAGES, dtype=object)
    names[:] = classes.validation_file_names()
    return names


def multilabel_split(request: LoadRequest) -> LoadedLabelSet:
    """A split of the multi-label labels as loaded (`labels.loading`, which records their
    provenance itself): the set named like the split."""
    if request.labels is None:
        raise LabelSetError(f"split {request.label_set.split!r} needs the multi-label labels")
    references = request.labels.split(request.label_set.name)
    return LoadedLabelSet(request.label_set, references.file_names, references, None)


def over_validation_images(
    request: LoadRequest, rows: np.ndarray, accepted: np.ndarray, provenance: Mapping[str, Any]
) -> LoadedLabelSet:
    """An accepted-classes set over all 50,000 images: image ``rows[i]`` (``image_id - 1``)
    accepts class ``accepted[i]``; an image with no row is left out."""
    references = SetReferences(
        validation_images(),
        LabelSets(rows=rows.astype(np.int64, copy=False), classes=accepted.astype(np.int64)),
    )
    return LoadedLabelSet(request.label_set, references.file_names, references, provenance)


def data_file(name: str, file_name: str) -> Path:
    """A file shipped in ``data/<name>/`` of this package."""
    return Path(str(resources.files(__package__).joinpath("data", name, file_name)))


@dataclass(frozen=True)
class ReadFile:
    """A label set's file as read: its bytes, sha256, and whether that is the published one."""

    data: bytes
    source: str
    sha256: str
    verified: bool


def read_file(
    path: Path, what: str, published_sha256: str, *, name: str, allow_unverified: bool = False
) -> ReadFile:
    """The bytes of ``path`` (``what``: how messages name the file), its sha256 checked against
    the published one: another is refused unless ``allow_unverified`` (set ``name`` then names
    the option that allows it)."""
    data = read_regular_file(path, f"{what} {str(path)!r}", LabelSetError)
    sha256 = hashlib.sha256(data).hexdigest()
    verified = sha256 == published_sha256
    if not verified and not allow_unverified:
        raise LabelSetError(
            f"{what} {str(path)!r} has sha256 {sha256}, not the published {published_sha256}; "
            f"pass `{named(unverified_parameter(name))}` to use it anyway, marked "
            "unverified"
        )
    return ReadFile(data=data, source=str(path), sha256=sha256, verified=verified)


def provenance(read: ReadFile, published: str, licence: str) -> dict[str, Any]:
    """A set's ``labels.<name>`` block of the results: the file read, whether it is the
    published one, where that was published and under which licence."""
    return {
        "source": read.source,
        "sha256": read.sha256,
        "verified": read.verified,
        "published": published,
        "licence": licence,
    }


@dataclass(frozen=True)
class ShippedTable:
    """A CSV of integers shipped in ``data/<name>/``, read and verified (`shipped_table`)."""

    read: ReadFile
    what: str  # how messages name it
    rows: np.ndarray  # (rows, columns) int64

    def image_rows(self, column: int = 0) -> np.ndarray:
        """A column of image ids (1..50,000, each once) as rows of `validation_images`."""
        image_ids = self.rows[:, column]
        bad = (image_ids < 1) | (image_ids > classes.NUM_VALIDATION_IMAGES)
        if bad.any() or np.unique(image_ids).size != image_ids.size:
            raise LabelSetError(
                f"{self.what} {self.read.source!r}: image ids must be distinct, in 1.."
                f"{classes.NUM_VALIDATION_IMAGES:,}"
            )
        return image_ids - 1

    def class_ids(self, column: int) -> np.ndarray:
        """A column of class ids, each in 0..999."""
        values = self.rows[:, column]
        if values.size and (values.min() < 0 or values.max() >= classes.NUM_CLASSES):
            raise LabelSetError(
                f"{self.what} {self.read.source!r}: class ids must be in "
                f"0..{classes.NUM_CLASSES - 1}"
            )
        return values

    def provenance(self, published: str, licence: str) -> dict[str, Any]:
        return provenance(self.read, published, licence)


def shipped_table(
    name: str, file_name: str, what: str, sha256: str, header: Sequence[str]
) -> ShippedTable:
    """``data/<name>/<file_name>``, its sha256 checked against ``sha256`` (the file as
    converted), as a table of integers with exactly the columns ``header``."""
    read = read_file(data_file(name, file_name), what, sha256, name=name)
    text = read.data.decode("utf-8")
    first, _, body = text.partition("\n")
    if first.split(",") != list(header):
        raise LabelSetError(
            f"{what} {read.source!r}: expected the header {','.join(header)}, got "
            f"{brief_repr(first)}"
        )
    try:
        rows = np.loadtxt(body.splitlines(), delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as error:
        raise LabelSetError(f"{what} {read.source!r}: not a table of integers ({error})") from None
    if rows.shape[1] != len(header):
        raise LabelSetError(f"{what} {read.source!r}: expected {len(header)} columns per row")
    return ShippedTable(read, what, rows)

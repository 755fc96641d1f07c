"""The label space: verify a model's own output labels (wnids, ImageNet names, timm's tables) and
map its outputs onto the 1,000 ImageNet classes, never assuming silently.

A 1,000-way head must carry ImageNet wnids or names (any order), a 1,001-way head a ``background``
class at 0, a larger head wnids (timm's ImageNet-21k/22k/12k tables count), of which up to ten of
the 1,000 may be absent (timm's 21k/22k heads lack the teddy bear): such classes are never
predicted, and ``label_mapping`` lists them. The only assumption made is that an unnamed 1,000-way
head is in ImageNet index order, and it is recorded in ``label_mapping`` too. Anything else raises
:class:`LabelSpaceError`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import torch

from ...dataset_script.classes import CLASS_NAMES, NUM_CLASSES, WNIDS
from .errors import LabelSpaceError

__all__ = [
    "MAX_MISSING_CLASSES",
    "MISSING_CLASS",
    "LabelMapping",
    "first_lemma",
    "map_labels",
    "ordered_labels",
]

# timm's 21k/22k heads lack n04399382 (teddy bear), its 12k heads 7 classes, 21k-miil 9.
MAX_MISSING_CLASSES = 10
MISSING_CLASS = -1

_WNID = re.compile(r"n\d{8}")
_DISAMBIGUATION_SUFFIX = re.compile(r" \(n\d{8}\)$")
_SUFFIXED_NAME = re.compile(r"(.+) \((n\d{8})\)")


def _plain_name(class_name: str) -> str:
    """``crane (n02012849)`` -> ``crane``: the name as label files spell it."""
    return _DISAMBIGUATION_SUFFIX.sub("", class_name)


def first_lemma(class_name: str) -> str:
    """``tench, Tinca tinca`` -> ``tench``: the everyday name of a class."""
    return _plain_name(class_name).split(",")[0].strip()


def _name_key(label: str) -> str:
    """Letters and digits only, case kept: ``judges robe`` and ``judge's robe`` match, while
    ``Cardigan`` (the corgi) and ``cardigan`` (the sweater) stay apart."""
    return re.sub(r"[^0-9A-Za-z]", "", label)


@cache
def _accepted_name_keys() -> tuple[frozenset[str], ...]:
    """For each class, the keys that identify it: its wnid, full lemma list and first lemma."""
    return tuple(
        frozenset({wnid, _name_key(_plain_name(name)), _name_key(first_lemma(name))})
        for wnid, name in zip(WNIDS, CLASS_NAMES, strict=True)
    )


def _unique_keys(keys_per_class: Sequence[set[str]]) -> dict[str, int]:
    owners = Counter(key for keys in keys_per_class for key in keys)
    return {
        key: index for index, keys in enumerate(keys_per_class) for key in keys if owners[key] == 1
    }


@cache
def _unique_name_indexes() -> tuple[dict[str, int], dict[str, int]]:
    """Key -> class for keys naming exactly one class: first wnids and full lemma lists, then
    first lemmas. Full names win, so "maillot" (class 638's full name, class 639's first lemma)
    is class 638; "crane" names two classes either way and is left out."""
    full_names = _unique_keys(
        [
            {wnid, _name_key(_plain_name(name))}
            for wnid, name in zip(WNIDS, CLASS_NAMES, strict=True)
        ]
    )
    first_lemmas = _unique_keys([{_name_key(first_lemma(name))} for name in CLASS_NAMES])
    return full_names, first_lemmas


def _class_of_name_key(key: str) -> int | None:
    full_names, first_lemmas = _unique_name_indexes()
    return full_names.get(key, first_lemmas.get(key))


@dataclass(frozen=True)
class LabelMapping:
    """How a model's outputs become the (B, 1000) ImageNet logits, and why that is right.

    ``columns[i]`` is the model output column holding ImageNet class ``i``, or ``-1`` when the
    model has no output for that class (a few of timm's 21k/22k/12k heads lack some ImageNet
    classes): such a class gets logit -inf, so it is never predicted. ``None`` means the outputs
    already are the 1,000 classes in index order.
    """

    method: str
    source: str
    num_outputs: int
    verified_by: str
    columns: tuple[int, ...] | None = None
    assumption: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    _index: torch.Tensor | None = field(default=None, init=False, repr=False, compare=False)
    _missing: torch.Tensor | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.columns is None:
            if self.num_outputs != NUM_CLASSES:
                raise ValueError(f"an identity mapping needs {NUM_CLASSES} outputs")
            return
        present = [column for column in self.columns if column != MISSING_CLASS]
        if len(self.columns) != NUM_CLASSES or len(set(present)) != len(present):
            raise ValueError(f"columns must name {NUM_CLASSES} distinct model outputs or -1")
        if not all(0 <= column < self.num_outputs for column in present):
            raise ValueError(f"columns must lie in 0..{self.num_outputs - 1}, or be -1")
        index = torch.tensor(self.columns, dtype=torch.long)
        object.__setattr__(self, "_index", index.clamp(min=0))
        if len(present) < NUM_CLASSES:
            object.__setattr__(self, "_missing", index == MISSING_CLASS)

    def apply(self, outputs: torch.Tensor) -> torch.Tensor:
        """(B, num_outputs) model outputs -> (B, 1000) ImageNet logits."""
        if outputs.ndim != 2 or outputs.shape[1] != self.num_outputs:
            raise RuntimeError(
                f"the model returned outputs of shape {tuple(outputs.shape)}; its label mapping "
                f"({self.source}) expects (batch, {self.num_outputs})"
            )
        if self._index is None:
            return outputs
        logits = outputs.index_select(1, self._index.to(outputs.device, non_blocking=True))
        if self._missing is not None:
            logits = logits.masked_fill(self._missing.to(logits.device), float("-inf"))
        return logits

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable description for the results provenance."""
        description: dict[str, Any] = {
            "method": self.method,
            "source": self.source,
            "num_model_outputs": self.num_outputs,
            "verified_by": self.verified_by,
            "assumption": self.assumption,
        }
        description.update(self.details)
        if self.columns is not None:
            description["columns"] = list(self.columns)
            missing = [WNIDS[i] for i, column in enumerate(self.columns) if column == MISSING_CLASS]
            if missing:
                description["missing_classes"] = missing
        return description


def _label_space_error(labels: Sequence[str], source: str, problem: str) -> LabelSpaceError:
    examples = ", ".join(repr(label) for label in labels[:5])
    return LabelSpaceError(
        f"{source}: the model has {len(labels)} output classes (e.g. {examples}); {problem}. "
        f"Supported: a 1,000-way head labelled with ImageNet wnids or the standard ImageNet class "
        f"names (any order), or with no names at all (assumed to be in ImageNet index order); a "
        f"1,001-way head with 'background' at output 0; a larger head labelled with wnids "
        f"(timm's ImageNet-21k/22k/12k heads) that lacks at most {MAX_MISSING_CLASSES} of the "
        f"1,000 ImageNet classes"
    )


def _is_default_label(label: str, position: int) -> bool:
    return label == f"LABEL_{position}"


def _columns_by_wnid(
    wnids: Sequence[str], offset: int, labels: Sequence[str], source: str
) -> tuple[int, ...]:
    """Columns of the 1,000 wnids. A head larger than ImageNet-1k (timm's 21k/22k/12k) may lack
    up to `MAX_MISSING_CLASSES` of them: those get column -1 (never predicted)."""
    position = {}
    for column, wnid in enumerate(wnids, start=offset):
        if wnid in position:
            raise _label_space_error(labels, source, f"wnid {wnid} labels two outputs")
        position[wnid] = column
    missing = [wnid for wnid in WNIDS if wnid not in position]
    superset = len(wnids) > NUM_CLASSES
    if missing and not (superset and len(missing) <= MAX_MISSING_CLASSES):
        raise _label_space_error(
            labels,
            source,
            f"{len(missing)} of the 1,000 ImageNet classes are not among its outputs "
            f"({', '.join(missing[:10])}{', ...' if len(missing) > 10 else ''}), so its "
            f"predictions cannot be scored on ImageNet",
        )
    return tuple(position.get(wnid, MISSING_CLASS) for wnid in WNIDS)


def _class_of_suffixed_name(label: str) -> int | None:
    """The class of a name spelt with its wnid, as the toolkit's own table spells the two cranes
    (``crane (n02012849)``): the wnid decides, and the name must be that class's; else None."""
    match = _SUFFIXED_NAME.fullmatch(label)
    if match is None:
        return None
    name, wnid = match.groups()
    index = _index_of_wnid().get(wnid)
    if index is None or _name_key(name) not in _accepted_name_keys()[index]:
        return None
    return index


@cache
def _index_of_wnid() -> dict[str, int]:
    return {wnid: index for index, wnid in enumerate(WNIDS)}


def _columns_by_name(names: Sequence[str], offset: int, labels: Sequence[str], source: str):
    """Columns for 1,000 names: identity when each names its own index (ambiguous names such as
    "crane" are fine in place), else a permutation through names that name one class only, or
    that carry their wnid (``crane (n02012849)``)."""
    keys = [_name_key(name) for name in names]
    by_wnid = [_class_of_suffixed_name(name) for name in names]
    accepted = _accepted_name_keys()
    if all(key in accepted[index] or by_wnid[index] == index for index, key in enumerate(keys)):
        return tuple(range(offset, offset + NUM_CLASSES)), "names in ImageNet index order"
    classes = [
        index if index is not None else _class_of_name_key(key)
        for index, key in zip(by_wnid, keys, strict=True)
    ]
    unmatched = [name for name, index in zip(names, classes, strict=True) if index is None]
    if unmatched:
        raise _label_space_error(
            labels,
            source,
            f"{len(unmatched)} labels are not in ImageNet index order and do not name exactly one "
            f"ImageNet class (e.g. {', '.join(repr(name) for name in unmatched[:5])}); names "
            f"shared by two classes (crane) can only be mapped by wnid, alone or as the "
            f"toolkit's class names spell them ('crane (n02012849)')",
        )
    column_of_class: dict[int, int] = {}
    for column, index in enumerate(classes, start=offset):
        if index in column_of_class:
            raise _label_space_error(
                labels, source, f"ImageNet class {WNIDS[index]} is named by two outputs"
            )
        column_of_class[index] = column
    return tuple(column_of_class[index] for index in range(NUM_CLASSES)), "unique class names"


def _timm_subset_wnids(labels: Sequence[str]) -> tuple[str, list[str]] | None:
    """(subset, wnids) when ``labels`` are exactly the readable descriptions timm's ImageNet
    table of that size gives (e.g. a transformers ``timm_wrapper`` of a 12k model)."""
    from timm.data import ImageNetInfo, infer_imagenet_subset

    subset = infer_imagenet_subset({"num_classes": len(labels)})
    if subset is None:
        return None
    info = ImageNetInfo(subset)
    if list(labels) != info.label_descriptions():
        return None
    return subset, list(info.label_names())


def map_labels(
    labels: Sequence[str], *, source: str, assumption: str | None = None
) -> LabelMapping:
    """Verify a model's output labels (in output order) and map them to the 1,000 classes.

    ``source`` names where the labels came from (for messages and provenance); ``assumption``
    records anything the caller inferred to obtain them.
    """
    labels = [str(label) for label in labels]
    count = len(labels)
    if count == 0:
        raise _label_space_error(labels, source, "there are no outputs")
    if all(_is_default_label(label, position) for position, label in enumerate(labels)):
        if count != NUM_CLASSES:
            raise _label_space_error(
                labels, source, "its labels are transformers' placeholders, not class names"
            )
        return LabelMapping(
            method="identity",
            source=source,
            num_outputs=count,
            verified_by="nothing: the labels are placeholders (LABEL_0..LABEL_999)",
            assumption=(
                "assumed: 1000-way head in ImageNet index order; the config has no label names"
            ),
        )

    offset = 1 if count == NUM_CLASSES + 1 and labels[0].strip().lower() == "background" else 0
    core = labels[offset:]
    if all(_WNID.fullmatch(label) for label in core):
        columns, verified_by = _columns_by_wnid(core, offset, labels, source), "wnids"
    elif len(core) == NUM_CLASSES:
        columns, verified_by = _columns_by_name(core, offset, labels, source)
    else:
        timm_subset = _timm_subset_wnids(labels)
        if timm_subset is None:
            raise _label_space_error(labels, source, "they are neither wnids nor ImageNet names")
        subset, wnids = timm_subset
        columns = _columns_by_wnid(wnids, 0, labels, source)
        verified_by = f"labels equal timm's {subset} class descriptions, mapped by its wnids"

    missing = [WNIDS[i] for i, column in enumerate(columns) if column == MISSING_CLASS]
    if missing:
        note = (
            f"the head has no output for {len(missing)} ImageNet class(es) ({', '.join(missing)}): "
            "they are never predicted"
        )
        assumption = f"{assumption}; {note}" if assumption else note
    identity = count == NUM_CLASSES and columns == tuple(range(NUM_CLASSES))
    if identity:
        method = "identity"
    elif offset and columns == tuple(range(1, NUM_CLASSES + 1)):
        method = "drop background column 0"
    elif count == NUM_CLASSES + offset:
        method = "permutation"
    else:
        method = "column selection"
    return LabelMapping(
        method=method,
        source=source,
        num_outputs=count,
        verified_by=verified_by,
        columns=None if identity else columns,
        assumption=assumption,
    )


def ordered_labels(id_to_label: Mapping[Any, str], num_outputs: int, source: str) -> list[str]:
    """Labels in output order from an ``{index: label}`` mapping covering 0..num_outputs-1."""
    by_index = {int(index): label for index, label in id_to_label.items()}
    if sorted(by_index) != list(range(num_outputs)):
        raise LabelSpaceError(
            f"{source}: expected labels for outputs 0..{num_outputs - 1}, got {len(by_index)} "
            f"labels with indices {sorted(by_index)[:5]}..."
        )
    return [by_index[index] for index in range(num_outputs)]

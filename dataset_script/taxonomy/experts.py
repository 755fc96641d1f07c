"""The paper's expert review of the remaining mistakes (Vasudevan et al. 2022), as package data.

The one owner of ``data/imagenet_mistakes/`` (Apache-2.0, copied unchanged from
github.com/google-research/imagenet-mistakes, see ``SOURCE.md`` there):

- ``vit3b_mistakes.json`` (378) and ``greedy_soups_mistakes.json`` (249): every remaining
  mistake of the paper's two models, file name -> ``top_prediction`` (class index),
  ``failure category`` and ``failure severity``. The two files spell categories differently
  ("Fine-grained error with OOV" vs. "Fine-grained with OOV"), so every spelling is mapped to
  one vocabulary (``CATEGORIES``, ``SEVERITIES``) and an unknown one is an error, never a guess.
- ``class_confusion_wnids.json``: the 481 class pairs ViT-3B confused, by wnid (mapped to class
  indices here; "crane" names two classes, so names are never used).

``paper_model_predictions`` rebuilds a paper model's top-1 predictions on given labels, so that
its reference numbers (ViT-3B: 0 of the 68 ImageNet-M images by construction; Greedy Soups: 19)
can be recomputed on any label set, patched ones included.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from ...metric.errors import ToolkitError, brief_repr
from ...metric.references import References
from .. import classes

SOURCE_REPOSITORY = "https://github.com/google-research/imagenet-mistakes"
SOURCE_COMMIT = "6fdda60a87dd79cdef764c8823db7b2f67c43a97"
DATA_FOLDER = "imagenet_mistakes"
# The paper's models, in the order their verdicts are looked up (ViT-3B's file first).
MODEL_FILES = {"vit3b": "vit3b_mistakes.json", "greedy_soups": "greedy_soups_mistakes.json"}
# Their display names (both ViTs pretrained on JFT-3B).
MODEL_NAMES = {"vit3b": "ViT-3B", "greedy_soups": "Greedy Soups"}
CONFUSION_FILE = "class_confusion_wnids.json"
CATEGORIES = (
    "fine-grained",
    "fine-grained-oov",
    "fine-grained-multilabel",
    "non-prototypical",
    "spurious-correlation",
)
SEVERITIES = ("minor", "borderline", "major")
# The paper's analysis counts a borderline mistake as minor.
_COLLAPSED_SEVERITY = {"minor": "minor", "borderline": "minor", "major": "major"}
# Spelling key (lower case, words split on space, "-" and "_") -> category.
_CATEGORY_SPELLINGS = {
    "fine grained": "fine-grained",
    "fine grained error": "fine-grained",
    "fine grained oov": "fine-grained-oov",
    "fine grained with oov": "fine-grained-oov",
    "fine grained error with oov": "fine-grained-oov",
    "fine grained multilabel": "fine-grained-multilabel",
    "fine grained with multilabel options": "fine-grained-multilabel",
    "non prototypical": "non-prototypical",
    "spurious correlation": "spurious-correlation",
}
_SHOWN = 5


class MistakesMetadataError(ToolkitError):
    """The paper's metadata (or a spelling given for it) is not what this module expects."""


@dataclass(frozen=True)
class ExpertMistake:
    """One reviewed mistake: a paper model predicted ``prediction`` for ``file_name``."""

    model: str
    file_name: str
    prediction: int
    category: str
    severity: str

    @property
    def severity_collapsed(self) -> str:
        return collapse_severity(self.severity)


def _spelling_key(spelling: str) -> str:
    return " ".join(spelling.lower().replace("-", " ").replace("_", " ").split())


def normalize_category(spelling: Any, *, source: str) -> str:
    """The vocabulary name of a category spelling; ``source`` names where it was read."""
    category = (
        _CATEGORY_SPELLINGS.get(_spelling_key(spelling)) if isinstance(spelling, str) else None
    )
    if category is None:
        raise MistakesMetadataError(
            f"{source}: unknown mistake category {brief_repr(spelling)}; expected one of "
            f"{', '.join(CATEGORIES)} (or the paper's spellings, e.g. 'Fine-grained with OOV')"
        )
    return category


def normalize_severity(spelling: Any, *, source: str) -> str:
    """The vocabulary name of a severity spelling ("Major" -> "major")."""
    severity = _spelling_key(spelling) if isinstance(spelling, str) else None
    if severity not in SEVERITIES:
        raise MistakesMetadataError(
            f"{source}: unknown mistake severity {brief_repr(spelling)}; expected one of "
            f"{', '.join(SEVERITIES)}"
        )
    return severity


def collapse_severity(severity: str) -> str:
    """The paper's two-level severity: borderline counts as minor."""
    return _COLLAPSED_SEVERITY[severity]


def _read_json(name: str) -> Any:
    path = resources.files("imagenet_multilabel.dataset_script").joinpath("data", DATA_FOLDER, name)
    return json.loads(path.read_text(encoding="utf-8"))


def parse_mistakes(data: Any, *, model: str, source: str) -> dict[str, ExpertMistake]:
    """Validate one model's mistake file (file name -> entry); errors list the first bad entries."""
    if not isinstance(data, Mapping):
        raise MistakesMetadataError(
            f"{source}: expected a JSON object of file name -> mistake, got {type(data).__name__}"
        )
    mistakes: dict[str, ExpertMistake] = {}
    bad: list[str] = []
    for file_name, entry in data.items():
        where = f"{source}, entry {file_name!r}"
        try:
            classes.image_id_from_file_name(file_name)
            prediction = entry["top_prediction"]
            if not isinstance(prediction, int) or not 0 <= prediction < classes.NUM_CLASSES:
                raise MistakesMetadataError(
                    f"{where}: top_prediction {prediction!r} is not a class index 0..999"
                )
            mistakes[file_name] = ExpertMistake(
                model=model,
                file_name=file_name,
                prediction=prediction,
                category=normalize_category(entry["failure category"], source=where),
                severity=normalize_severity(entry["failure severity"], source=where),
            )
        except (ToolkitError, KeyError, TypeError) as error:
            bad.append(str(error) if isinstance(error, ToolkitError) else f"{where}: {error!r}")
    if bad:
        raise MistakesMetadataError(
            f"{source}: {len(bad)} unusable mistake entr(y/ies); expected "
            "{'top_prediction': class index, 'failure category': ..., 'failure severity': ...} "
            f"per validation file name. First: {'; '.join(bad[:_SHOWN])}"
        )
    return mistakes


@cache
def model_mistakes(model: str) -> Mapping[str, ExpertMistake]:
    """One paper model's reviewed mistakes by file name (``model`` in ``MODEL_FILES``)."""
    if model not in MODEL_FILES:
        raise MistakesMetadataError(
            f"unknown paper model {model!r}; expected one of {', '.join(MODEL_FILES)}"
        )
    name = MODEL_FILES[model]
    return parse_mistakes(_read_json(name), model=model, source=f"{DATA_FOLDER}/{name}")


@cache
def expert_mistakes() -> Mapping[tuple[str, int], ExpertMistake]:
    """Every reviewed (file name, predicted class); ViT-3B's verdict wins where both have one."""
    verdicts: dict[tuple[str, int], ExpertMistake] = {}
    for model in MODEL_FILES:
        for mistake in model_mistakes(model).values():
            verdicts.setdefault((mistake.file_name, mistake.prediction), mistake)
    return verdicts


@cache
def confusion_pairs() -> tuple[tuple[int, int], ...]:
    """The paper's 481 confused class pairs as (smaller, larger) class indices, sorted."""
    source = f"{DATA_FOLDER}/{CONFUSION_FILE}"
    entries = _read_json(CONFUSION_FILE)
    pairs, bad = set(), []
    for position, entry in enumerate(entries):
        ok = isinstance(entry, list) and len(entry) == 3
        indices = [classes.WNID_TO_INDEX.get(wnid) for wnid in entry[:2]] if ok else [None]
        if None in indices or indices[0] == indices[1]:
            bad.append(f"#{position}: {entry!r}")
        else:
            pairs.add((min(indices), max(indices)))
    if bad:
        raise MistakesMetadataError(
            f"{source}: {len(bad)} entr(y/ies) are not [wnid, other wnid, count]; first "
            f"{', '.join(bad[:_SHOWN])}"
        )
    return tuple(sorted(pairs))


@cache
def confusion_matrix() -> np.ndarray:
    """(1000, 1000) read-only bool, symmetric: ``[a, b]`` when {a, b} is a confused pair."""
    matrix = np.zeros((classes.NUM_CLASSES, classes.NUM_CLASSES), dtype=bool)
    first, second = np.array(confusion_pairs()).T
    matrix[first, second] = matrix[second, first] = True
    matrix.flags.writeable = False
    return matrix


def paper_model_predictions(model: str, references: References) -> np.ndarray:
    """A paper model's top-1 class index for every row of ``references``, rebuilt.

    An image in the model's mistake file gets the mistake's ``top_prediction``; any other image
    was predicted right, so it gets its first ``correct`` label, else its first ``unclear`` one.
    Mistakes of images outside ``references`` (another split) are not used. A non-problematic
    image with neither (its labels give no right answer to rebuild) is an error; a problematic
    one, which no score counts, gets its original label.
    """
    num_rows = len(references)
    predictions = np.full(num_rows, -1, dtype=np.int64)
    for label_sets in (references.unclear, references.correct):  # correct overwrites unclear
        rows, first = np.unique(label_sets.rows, return_index=True)
        predictions[rows] = label_sets.classes[first]
    unanswered = predictions < 0
    predictions[unanswered] = references.original_label[unanswered]
    mistakes = model_mistakes(model)
    mistake_rows = [
        row for row, name in enumerate(references.file_names.tolist()) if name in mistakes
    ]
    names = references.file_names[mistake_rows].tolist()
    predictions[mistake_rows] = [mistakes[name].prediction for name in names]
    unanswered[mistake_rows] = False
    impossible = np.flatnonzero(unanswered & ~references.is_problematic)
    if impossible.size:
        raise MistakesMetadataError(
            f"cannot rebuild {model}'s predictions: {impossible.size} non-problematic image(s) "
            f"outside its mistake file have no correct or unclear label, first "
            f"{references.file_names[impossible[:_SHOWN]].tolist()}; expected every such image "
            "to have a label the model could have predicted"
        )
    return predictions

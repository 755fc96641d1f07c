"""What a command declares to the frame (`eval_cli.frame`): its inputs (`Read`), outputs
(`Write`), the caches it reads (`Cache`) and the option objects whose fields name files
(`Options`), gathered as a `Declaration`; and `LABEL_FILES`, the files of a `LabelSource`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...dataset_script.annotations.published import default_cache_dir
from ...dataset_script.hub.ids import hub_model_id, hub_repo_id_problem
from ...dataset_script.images.choose import IMAGE_SOURCES, hub_dataset_id
from ...dataset_script.labels.loading import LabelSource

# What a declared path is.
FILE = "a file"
FOLDER = "a folder"
FILE_OR_FOLDER = "a file or a folder"
SOURCE = "a file, a folder or a Hub id"  # not on disk: a Hub id, the command's to check


@dataclass(frozen=True)
class Read:
    """An input: a parameter (or option field) naming one path or a list of them.

    ``many``: a list of paths (one path alone is a list of one), or a mapping of them, each
    named by its key (``label_set_files['real']``, ``--real-labels`` on the command line);
    ``needs``/``may``: in a folder, the files the command reads there (``may``: when present);
    ``beside``: files next to a file that count as inputs when present (a run's record beside its
    predictions); ``whole``: the folder is read whole, so nothing may be written inside it and
    every file in it is examined; ``path_of``: an item's path when items are objects (a
    `ModelSpec`); ``hub_id``: whether a value not on disk is read as a Hub repository id (else
    it is a missing path, refused; None: a ``SOURCE`` lets any value through, the command's to
    check). A ``FOLDER`` with ``hub_id`` is a folder or a Hub id, never a file."""

    name: str
    kind: str = FILE
    expected: str | None = None
    many: bool = False
    needs: tuple[str, ...] = ()
    may: tuple[str, ...] = ()
    beside: tuple[str, ...] = ()
    whole: bool = False
    path_of: Callable[[Any], Any] | None = None
    hub_id: Callable[[str], bool] | None = None


@dataclass(frozen=True)
class Subfolders:
    """The folders an output folder holds, one per model of a sweep, named from the call's
    values (``of``): each must be a folder of its own inside it (a symbolic link out, or to
    another model's folder, is refused), holding ``writes`` and reading back ``reads_back``.
    ``locked``: each held by the frame for the whole call; else the command locks each while it
    works there (`outputs.locked_folder`), and lists the lock file among ``writes``."""

    of: Callable[[Mapping[str, Any]], Sequence[Path]]
    writes: tuple[str, ...] = ()
    reads_back: tuple[str, ...] = ()
    locked: bool = False


@dataclass(frozen=True)
class Write:
    """An output: a file, or a folder holding ``writes`` (subfolders end in ``/``; None: the
    folder is written whole) and reading back ``reads_back``; ``locked``: the folder (for a
    file, the folder holding it) held by one command at a time. ``default``: its path when the
    value is None; ``subfolders``: the folders written inside it (one per model of a sweep)."""

    name: str
    kind: str = FILE
    writes: tuple[str, ...] | None = ()
    reads_back: tuple[str, ...] = ()
    locked: bool = False
    default: Callable[[Mapping[str, Any]], Any] | None = None
    subfolders: Subfolders | None = None


@dataclass(frozen=True)
class Cache:
    """A cache folder the command reads whole (when it exists), not named by any parameter:
    every entry must be a file or folder. ``name`` is how messages call it."""

    name: str
    where: Callable[[], Path]


@dataclass(frozen=True)
class Options:
    """An option object the function takes as ``name`` (None: its defaults): its fields naming
    files declared (and the caches its use reads), the others ``plain``; ``keywords``: fields
    may also come as the function's keywords."""

    name: str
    cls: type
    declared: tuple[Read | Write | Cache, ...]
    plain: tuple[str, ...]
    keywords: bool = False


@dataclass(frozen=True)
class Declaration:
    declared: tuple[Read | Write | Cache | Options, ...]
    plain: tuple[str, ...]

    def names(self) -> set[str]:
        """Every name declared or plain: the function's parameters and its option fields."""
        names = set(self.plain) | {item.name for item in self.paths()}
        for item in self.declared:
            if isinstance(item, Options):
                names |= {item.name, *item.plain}
        return names

    def paths(self) -> list[Read | Write]:
        """Every declared path parameter, those of option objects included."""
        found: list[Read | Write | Cache] = []
        for item in self.declared:
            found.extend(item.declared if isinstance(item, Options) else [item])
        return [item for item in found if not isinstance(item, Cache)]


def label_cache_folder() -> Path:
    return default_cache_dir()


# The files a `LabelSource` reads (``labels=``; ready `Labels` read none), and the label cache.
LABEL_FILES = Options(
    "labels",
    LabelSource,
    (
        Read("annotations", FILE, expected="the annotation file human_accuracy_v3.0.0.json"),
        Read(
            "dataset",
            FOLDER,
            expected="a labels dataset folder or a Hub dataset id ORG/NAME",
            whole=True,
            hub_id=lambda value: hub_repo_id_problem(value) is None,
        ),
        Read("patches", FILE, expected="a label patch file", many=True),
        Cache("the label cache", label_cache_folder),
    ),
    plain=("allow_unverified",),
)

# Another copy of a label set's file, by set name (`dataset_script.label_sets`).
LABEL_SET_FILES = Read(
    "label_set_files", FILE, expected="a copy of the label set's published file", many=True
)

# The CLIP-like model that judges the taxonomy's image rules: named (`RunOptions.categorizer_model`)
# or as the `ImageRuleMaker` that `analyze` and `compare` take (its ``model_id``); a model folder
# is read whole, a missing path is refused unless it reads as a Hub model id (as `run --model`).
CATEGORIZER_MODEL = Read(
    "categorizer_model",
    SOURCE,
    expected="a CLIP or SigLIP model: a Hub id or a model folder",
    whole=True,
    hub_id=hub_model_id,
)
CATEGORIZER = dataclasses.replace(
    CATEGORIZER_MODEL,
    name="categorizer",
    path_of=lambda categorizer: getattr(categorizer, "model_id", None),
)

# An image source (`dataset_script.images.choose`): a tar, a folder read whole, or a Hub dataset.
IMAGES = Read(
    "images",
    SOURCE,
    expected=IMAGE_SOURCES,
    whole=True,
    hub_id=lambda source: hub_dataset_id(source) is not None,
)

# The mistakes' images (`analyze`, `compare`): their source, and the model that judges the
# taxonomy's image rules on them.
MISTAKE_IMAGES = (IMAGES, CATEGORIZER)

"""The frame every command runs in: a command declares its files once, and the frame applies
every guard to them before the command does any work.

A command is an API function wrapped in `command`; the command line calls the same function.
The wrapper declares each parameter that names a file or folder (or a field of an option object
the function takes) and lists every other parameter as ``plain``::

    @command(
        Read("predictions", FILE, expected="a predictions file (.jsonl or .csv)"),
        LABEL_FILES,  # a LabelSource's files, and the label cache it reads
        Write("output", FILE),
        plain=("split", "limit"),
    )
    def score_predictions(predictions, *, split="validation", labels=None, limit=None,
                          output=None): ...

Declaring a new command, or a new option naming a file: wrap its API function in `command`
with each path it takes (`declarations`: `Read`, `Write` (with its `Subfolders`), `Cache`,
`Options`; the files of a
`LabelSource` are `LABEL_FILES`), name the function in `commands.cli.COMMANDS`, store its option
under the parameter's name in `commands.arguments` (``dest``), and add a way to call it to
`tests/test_frame.py`'s ``CASES``. That test enumerates every command of the command line and
every framed function: a parameter, option-object field or option that is neither declared nor
plain fails it, as does a declared path no case gives; and it drives every guard below through
every declared path of every command, from the command line and from Python.

Before the function runs, the frame (once per call: a framed function that another one calls
runs bare, inside its caller's frame):

1. examines every declared path. Inputs exist and are what is expected (a regular file, a
   folder); outputs that exist are too. A symbolic-link loop, a name longer than the file system
   allows, a part of the path that is a file, a FIFO, socket or device are refused. Inside a
   folder it examines the files the command reads there (a run folder's predictions), every file
   of a folder read whole (a labels dataset, a model, the label cache), and what an output folder
   holds and reads back (a resumed run's predictions, the review page's thumbnail index), its
   model folders included (`Subfolders`: each its own folder, never a link out). A path not on
   disk where a Hub id may stand is let through only when it reads as one (``Read.hub_id``).
2. refuses an output that is an input under any name: the same path however spelled, through a
   symbolic or hard link, inside a folder read whole, or an input inside a folder it writes;
   and two outputs that are one file.
3. locks each locked output folder (`locked_folder`) on the launch's first process.

Then it runs the function: an OSError on a declared path becomes one `ToolkitError` naming the
parameter, a full or read-only disk one naming the outputs; the locks go when the call ends.
Every message names a parameter as its caller wrote it (`metric.errors.named`): ``output_dir``
from Python, ``--output-dir`` from the command line.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

from ...dataset_script.labels import loading
from .declarations import (
    CATEGORIZER,
    CATEGORIZER_MODEL,
    FILE,
    FILE_OR_FOLDER,
    FOLDER,
    IMAGES,
    LABEL_FILES,
    LABEL_SET_FILES,
    MISTAKE_IMAGES,
    SOURCE,
    Cache,
    Declaration,
    Options,
    Read,
    Subfolders,
    Write,
)
from .guards import Call, OutputOverwritesInputError, UnusablePathError

__all__ = [
    "CATEGORIZER",
    "CATEGORIZER_MODEL",
    "FILE",
    "FILE_OR_FOLDER",
    "FOLDER",
    "IMAGES",
    "LABEL_FILES",
    "LABEL_SET_FILES",
    "MISTAKE_IMAGES",
    "SOURCE",
    "Cache",
    "Declaration",
    "Options",
    "OutputOverwritesInputError",
    "Read",
    "Subfolders",
    "UnusablePathError",
    "Write",
    "command",
    "load_labels",
]

Function = TypeVar("Function", bound=Callable[..., Any])


def command(*declared: Read | Write | Cache | Options, plain: Sequence[str] = ()) -> Callable:
    """Wrap an API function in the frame with its declared paths (see the module docstring)."""
    declaration = Declaration(tuple(declared), tuple(plain))

    def wrap(function: Function) -> Function:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def framed(*args: Any, **kwargs: Any) -> Any:
            if _INSIDE.get():
                return function(*args, **kwargs)
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:  # Python's own message about the call
                return function(*args, **kwargs)
            bound.apply_defaults()
            call = Call(declaration, _values(declaration, signature, bound))
            token = _INSIDE.set(True)
            try:
                with call.guarded():
                    return function(*args, **kwargs)
            finally:
                _INSIDE.reset(token)

        framed.__frame__ = declaration  # type: ignore[attr-defined]
        return framed  # type: ignore[return-value]

    return wrap


_INSIDE: ContextVar[bool] = ContextVar("inside_a_frame", default=False)


def _values(
    declaration: Declaration, signature: inspect.Signature, bound: inspect.BoundArguments
) -> dict[str, Any]:
    """The call's values by name: its arguments, and the fields of each option object it takes
    (keywords given for them first); an object of another type (ready `Labels`) adds none."""
    values = dict(bound.arguments)
    keywords: dict[str, Any] = {}
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            keywords = values.pop(parameter.name, {})
    for item in declaration.declared:
        if not isinstance(item, Options):
            continue
        given = values.get(item.name)
        instance = item.cls() if given is None else given
        if not isinstance(instance, item.cls):
            continue
        values[item.name] = instance
        for field in dataclasses.fields(instance):
            chosen = keywords if item.keywords and field.name in keywords else None
            values[field.name] = chosen[field.name] if chosen else getattr(instance, field.name)
    return values


# The API's loader of labels (`dataset_script.labels.loading.load_labels`), framed: it reads the
# files of a `LabelSource` given as its keywords.
load_labels = command(*LABEL_FILES.declared, plain=("splits", "allow_unverified"))(
    loading.load_labels
)

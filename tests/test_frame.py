"""The command frame (`eval_cli/frame/`): every command declares its files once, and every
guard is driven through every declared path of every command, from the command line and from
Python (issue 19, item 1).

`test_every_command_and_option_is_declared` enumerates the parser's commands and the framed API
functions: a command, or an option or parameter, that is neither declared as a path nor listed as
plain fails it. Each `CASES` entry is one way to call a command; the guards are generated from
the declarations: every declared path parameter (and the files its folder holds, reads back or
writes) is replaced by a FIFO, a symbolic-link loop, a name too long, the wrong kind of file;
every output is aimed at every input under every name; every lock file is made hostile. A path
that skips a guard fails with the parameter and guard named, never hangs (`unblocked`).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import inspect
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hostile_fixtures import TOO_LONG, fifo, loop, unblocked
from imagenet_multilabel.dataset_script.labels.loading import LabelSource
from imagenet_multilabel.eval_cli import frame
from imagenet_multilabel.eval_cli.commands import arguments, cli
from imagenet_multilabel.eval_cli.engine.run_options import RunOptions
from imagenet_multilabel.eval_cli.models.categorizer import NamedCategorizer
from imagenet_multilabel.eval_cli.outputs import LOCK_FILE
from imagenet_multilabel.eval_cli.scores import score as score_module
from imagenet_multilabel.metric.errors import ToolkitError

import imagenet_multilabel

_SKIPPED_DESTS = {"help", "version", "command", "patches_command", "sweep_command"}


def _api(name: str) -> Any:
    module, function = name.split(":")
    return getattr(importlib.import_module(f"imagenet_multilabel.eval_cli.{module}"), function)


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Each command the parser offers, by name as `cli.COMMANDS` has it: ``patches`` as its one
    action ``merge``, each action of ``sweep`` as ``sweep ACTION``."""
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, subparser in commands.choices.items():
        nested = [a for a in subparser._actions if isinstance(a, argparse._SubParsersAction)]
        if not nested:
            yield name, subparser
        elif len(nested[0].choices) == 1:
            yield name, next(iter(nested[0].choices.values()))
        else:
            yield from ((f"{name} {action}", p) for action, p in nested[0].choices.items())


def _parameters(function: Any) -> set[str]:
    """A framed function's parameters, and the fields of the option objects it takes."""
    declaration = function.__frame__
    names = {
        parameter.name
        for parameter in inspect.signature(function).parameters.values()
        if parameter.kind is not inspect.Parameter.VAR_KEYWORD
    }
    for item in declaration.declared:
        if isinstance(item, frame.Options):
            names |= {field.name for field in dataclasses.fields(item.cls)}
    return names


def _undeclared(parser: argparse.ArgumentParser, commands: dict[str, Any]) -> list[str]:
    """What the parser's commands leave undeclared: a command without an entry in ``commands``,
    an API function not framed, a parameter (or option field) neither declared nor plain, an
    option that gives no parameter; and declarations gone stale."""
    undeclared = []
    for name, subparser in _subcommands(parser):
        if name not in commands:
            undeclared.append(f"{name}: not in cli.COMMANDS")
            continue
        command = commands[name]
        functions = [_api(api) for api in command.api]
        for function in functions:
            if not hasattr(function, "__frame__"):
                undeclared.append(f"{name}: {function.__name__} is not framed")
                continue
            names = function.__frame__.names()
            missing = _parameters(function) - names
            undeclared += [f"{name}: parameter {p} of {function.__name__}" for p in missing]
            stale = names - _parameters(function)
            undeclared += [f"{name}: {function.__name__} declares {p}, not its own" for p in stale]
        framed = [function for function in functions if hasattr(function, "__frame__")]
        given = set(command.cli_only).union(*(f.__frame__.names() for f in framed))
        options = {a.dest for a in subparser._actions if a.dest not in _SKIPPED_DESTS}
        undeclared += [f"{name}: option for {dest}" for dest in sorted(options - given)]
    return undeclared


def test_every_command_and_option_is_declared():
    """Every option of every command gives a parameter of its framed API function, and every
    parameter (and option field) of each is declared as a path or listed as plain: an option
    or parameter naming a file cannot go undeclared, nor a declaration go stale."""
    undeclared = _undeclared(arguments.build_parser(), cli.COMMANDS)
    assert not undeclared, f"neither declared as a path nor plain: {undeclared}"


def test_a_command_that_skips_a_step_fails_the_enumeration(monkeypatch):
    """docs/EXTENDING.md's "Add a command", each step skipped in turn: a command the parser
    offers without an entry in COMMANDS, an API function not framed, a file parameter not
    declared; with every step done, nothing is left undeclared."""
    parser = arguments.build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    summarize = commands.add_parser("summarize")
    summarize.add_argument("--predictions", required=True)
    summarize.add_argument("--notes")

    def bare(predictions, *, notes=None):
        return predictions, notes

    entry = cli.Command(lambda args: 0, ("scores.score:summarize",))
    steps = {
        "not in cli.COMMANDS": (cli.COMMANDS, bare),
        "summarize is not framed": ({**cli.COMMANDS, "summarize": entry}, bare),
        "parameter notes of summarize": (
            {**cli.COMMANDS, "summarize": entry},
            frame.command(frame.Read("predictions"))(bare),
        ),
    }
    for skipped, (commands_given, function) in steps.items():
        function.__name__ = "summarize"
        monkeypatch.setattr(score_module, "summarize", function, raising=False)
        undeclared = _undeclared(parser, commands_given)
        assert [f"summarize: {skipped}"] == [u for u in undeclared if skipped in u], undeclared
    declared = frame.command(frame.Read("predictions"), frame.Read("notes"))(bare)
    monkeypatch.setattr(score_module, "summarize", declared)
    assert _undeclared(parser, {**cli.COMMANDS, "summarize": entry}) == []


def test_the_public_api_is_framed():
    """Every function of the Python API runs in the frame (classes are option objects)."""
    for name in imagenet_multilabel.__all__:
        value = getattr(imagenet_multilabel, name)
        if inspect.isfunction(value):
            assert hasattr(value, "__frame__"), name


# ---------------------------------------------------------------------------------------------
# The ways each command is called, with a value for each declared path


CONTENTS = {  # what a file holds where the frame reads it (to name a sweep's folders)
    "models_file": "org/other-model\n",
    "manifest": '{"model": "org/other-model"}\n',
}


def _workspace(root: Path) -> dict[str, Path]:
    """Files and folders of the right kinds; the frame refuses before reading any of them."""
    files = {
        "predictions": "p.jsonl",
        "annotations": "a.json",
        "patch": "patch.json",
        "patch2": "patch2.json",
        "real": "real.json",
        "results": "results.json",
        "models_file": "models.txt",
        "labels": "labels/README.md",
        "labels_parquet": "labels/labels/validation.parquet",
        "run": "run/predictions.jsonl",
        "run_results": "run/results.json",
        "run_identity": "run/run_identity.json",
        "images": "images/ILSVRC2012_val_00000001.JPEG",
        "model": "model/config.json",
        "model2": "model2/config.json",
        "clip": "clip/config.json",
        "built": "built/README.md",
        "tree": "tree/model/results.json",
        "manifest": "manifest.jsonl",
    }
    paths = {}
    for key, relative in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(CONTENTS.get(key, "{}\n"))
        paths[key] = path
    for key in ("labels", "run", "images", "model", "model2", "clip", "built"):
        paths[key] = paths[key].parent
    paths["tree"] = paths["tree"].parent.parent
    return paths


@dataclass(frozen=True)
class Case:
    """One way to call a command: its name, its API function, and the values of the call (API
    names; label files as `LabelSource` fields, run options as `RunOptions` fields)."""

    command: str
    api: str
    values: Callable[[dict[str, Path], Path], dict[str, Any]]
    plain: dict[str, Any] = field(default_factory=dict)
    api_only: tuple[str, ...] = ()  # values the command line has no option for
    cli_extra: tuple[str, ...] = ()  # more command-line words the parser requires


def _labels(ws: dict[str, Path]) -> dict[str, Any]:
    return {"annotations": ws["annotations"], "dataset": ws["labels"], "patches": [ws["patch"]]}


CASES = {
    "score": Case(
        "score",
        "scores.score:score_predictions",
        lambda ws, out: {
            "predictions": ws["predictions"],
            **_labels(ws),
            "label_set_files": {"real": ws["real"]},
            "output": out / "results.json",
        },
        {"split": "full"},
    ),
    "analyze-predictions": Case(
        "analyze",
        "analysis.analyze:analyze_predictions",
        lambda ws, out: {
            "predictions": ws["run"] / "predictions.jsonl",
            **_labels(ws),
            "images": ws["images"],
            "categorizer": ws["clip"],
            "output_dir": out / "analysis",
        },
    ),
    "analyze-run": Case(
        "analyze",
        "analysis.analyze:analyze_predictions",
        lambda ws, out: {"run_dir": ws["run"], **_labels(ws), "output_dir": out / "analysis"},
    ),
    "leaderboard": Case(
        "leaderboard",
        "leaderboard.board:write_leaderboard",
        lambda ws, out: {
            "paths": [ws["results"], ws["run"]],
            **_labels(ws),
            "output_dir": out / "board",
        },
    ),
    "compare": Case(
        "compare",
        "curation.compare:compare_models",
        lambda ws, out: {
            "inputs": [ws["predictions"], ws["run"]],
            **_labels(ws),
            "images": ws["images"],
            "categorizer": ws["clip"],
            "output_dir": out / "comparison",
        },
    ),
    "patches-merge": Case(
        "patches",
        "curation.merge:write_merged_patch",
        lambda ws, out: {
            "paths": [ws["patch"], ws["patch2"]],
            "output": out / "merged.json",
            "conflicts": out / "conflicts.jsonl",
        },
    ),
    "build": Case(
        "build",
        "dataset_folder:build_dataset",
        lambda ws, out: {"output": out / "built", **_labels(ws), "images": ws["images"]},
        api_only=("dataset",),  # a build writes an annotation file's rows: the API refuses it
    ),
    "push": Case(
        "push",
        "dataset_folder:push_dataset",
        lambda ws, out: {"folder": ws["built"]},
        {"repo_id": "org/name", "dry_run": True},
    ),
    "push-results": Case(
        "push-results",
        "scores.push_results:push_results",
        lambda ws, out: {"tree": ws["tree"]},
        {"repo_id": "org/results", "dry_run": True},
    ),
    "run": Case(
        "run",
        "engine.sweep:evaluate_model",
        lambda ws, out: {
            "model": str(ws["model"]),
            "images": ws["images"],
            **_labels(ws),
            "label_set_files": {"real": ws["real"]},
            "categorizer_model": ws["clip"],
            "decoded_cache": out / "decoded",
            "output_dir": out / "run",
        },
        {"split": "full"},
    ),
    "run-sweep": Case(
        "run",
        "engine.sweep:evaluate_models",
        lambda ws, out: {
            "models": [str(ws["model"]), str(ws["model2"])],  # the API takes str or ModelSpec
            "models_file": ws["models_file"],
            "images": ws["images"],
            **_labels(ws),
            "label_set_files": {"real": ws["real"]},
            "categorizer_model": ws["clip"],
            "decoded_cache": out / "decoded",
            "output_dir": out / "sweep",
        },
        {"split": "full"},
    ),
    "sweep-plan": Case(
        "sweep plan",
        "sweeps.plan:write_plan",
        lambda ws, out: {"models": ws["models_file"], "output": out / "manifest.jsonl"},
        {"source": "list"},
    ),
    "sweep-run": Case(
        "sweep run",
        "sweeps.execute:sweep_shard",
        lambda ws, out: {
            "manifest": ws["manifest"],
            "images": ws["images"],
            **_labels(ws),
            "label_set_files": {"real": ws["real"]},
            "categorizer_model": str(ws["clip"]),  # RunOptions takes a model's name or folder
            "decoded_cache": out / "decoded",
            "output_dir": out / "tree",
        },
        {"split": "full"},
        api_only=("categorizer_model",),  # a RunOptions field `sweep run` does not offer
    ),
    "sweep-slurm": Case(
        "sweep slurm",
        "sweeps.slurm:write_job_array",
        lambda ws, out: {
            "manifest": ws["manifest"],
            "script": out / "sweep.sbatch",
            "logs": out / "logs",
        },
        {"array": 2, "run_arguments": ["manifest.jsonl"]},
        api_only=("logs", "run_arguments"),  # the command line puts the logs in the tree
        cli_extra=("--images", "images"),  # passed on to each task, not read here
    ),
    "sweep-status": Case(
        "sweep status",
        "sweeps.status:sweep_status",
        lambda ws, out: {"tree": ws["tree"], "manifest": ws["manifest"]},
    ),
}


def test_every_declared_path_of_every_command_has_a_case():
    """So that the guards below reach each of them."""
    parser = arguments.build_parser()
    for name, _ in _subcommands(parser):
        for api in cli.COMMANDS[name].api:
            declared = {item.name for item in _api(api).__frame__.paths()}
            given: set[str] = set()
            for case in CASES.values():
                if case.api == api:
                    given |= set(case.values(_Names(), Path("out")))
            assert declared <= given, f"{name} ({api}): no case gives {declared - given}"


class _Names(dict):
    """A stand-in workspace for reading which values a case gives: every key is a path."""

    def __missing__(self, key: str) -> Path:
        return Path(key)


# ---------------------------------------------------------------------------------------------
# Calling a case, from the command line and from Python


def _command_parser(command: str) -> argparse.ArgumentParser:
    return dict(_subcommands(arguments.build_parser()))[command]


def _spelled(command: str, name: str, surface: str, value: Any = None) -> str:
    """How an error names parameter ``name`` on ``surface`` ("cli" or "api"); for a mapping
    ``value``, its first key's path (``label_set_files['real']``, ``--real-labels``)."""
    key = next(iter(value)) if isinstance(value, Mapping) else None
    if surface == "api":
        return name if key is None else f"{name}[{key!r}]"
    return _option(_command_parser(command), name, key)


def _option(parser: argparse.ArgumentParser, name: str, key: Any = None) -> str:
    """The option that gives parameter ``name`` (the key ``key`` of a mapping), as errors
    name it."""
    dest = _dest(parser, name)
    (action,) = [
        a for a in parser._actions if a.dest == dest and getattr(a, "label_set", key) == key
    ]
    return max(action.option_strings, key=len) if action.option_strings else action.metavar


def _dest(parser: argparse.ArgumentParser, name: str) -> str:
    """The option's ``dest`` that gives parameter ``name``: the name itself, or the parameter
    the option is stored under (`arguments.SAME_OPTION`)."""
    if any(action.dest == name for action in parser._actions):
        return name
    return arguments.SAME_OPTION[name]


def _argv(case: Case, values: dict[str, Any]) -> list[str]:
    """The command line of ``values``: positional arguments first, then each option (one per
    key of a mapping)."""
    parser = _command_parser(case.command)
    prefix = ["patches", "merge"] if case.command == "patches" else case.command.split()
    positional, options = [], []
    for name, value in {**values, **case.plain}.items():
        if name in case.api_only:
            continue
        if isinstance(value, Mapping):
            options += [part for k, v in value.items() for part in (_option(parser, name, k), v)]
            continue
        (action,) = [a for a in parser._actions if a.dest == _dest(parser, name)]
        items = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        if not action.option_strings:
            positional += items
        elif value is True:
            options.append(action.option_strings[-1])
        elif isinstance(action, argparse._AppendAction):
            options += [part for item in items for part in (action.option_strings[-1], item)]
        else:
            options += [action.option_strings[-1], *items]
    return [*prefix, *positional, *[str(option) for option in options], *case.cli_extra]


def _api_call(case: Case, values: dict[str, Any], function: Any = None) -> Any:
    """``values`` as the API takes them: label files in a `LabelSource`, run options as
    keywords."""
    function = function or _api(case.api)
    all_values = {**values, **case.plain}
    label_fields = {f.name for f in dataclasses.fields(LabelSource)}
    labels = {k: v for k, v in all_values.items() if k in label_fields}
    parameters = inspect.signature(function).parameters
    keywords = {k: v for k, v in all_values.items() if k not in label_fields}
    if labels:
        keywords["labels"] = LabelSource(**labels)
    run_fields = {f.name for f in dataclasses.fields(RunOptions)}
    takes_keywords = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    if "options" in parameters and not takes_keywords:  # a RunOptions, as the command line does
        options = {k: keywords.pop(k) for k in list(keywords) if k in run_fields}
        keywords["options"] = RunOptions(**options)
    if isinstance(keywords.get("categorizer"), str | os.PathLike):  # as the command line does
        keywords["categorizer"] = NamedCategorizer(str(keywords["categorizer"]))
    first = next(iter(parameters))  # given positionally where the API names it so
    positional = [keywords.pop(first)] if first in ("paths", "model", "models") else []
    for name in ("folder", "tree"):
        if name in keywords and "repo_id" in keywords:
            positional = [keywords.pop(name), keywords.pop("repo_id")]
    assert set(keywords) <= set(parameters) | {f.name for f in dataclasses.fields(RunOptions)}
    return function(*positional, **keywords)


def _frame_only(case: Case) -> Any:
    """The case's API function with its frame and without its work."""
    function = _api(case.api)
    return frame.command(*function.__frame__.declared, plain=function.__frame__.plain)(
        functools.wraps(function.__wrapped__)(lambda *args, **kwargs: "passed the frame")
    )


def _refused(case: Case, values: dict[str, Any], surface: str, capsys, fifos=()) -> str:
    """The one error of ``values`` on ``surface``; fails if the command went on."""
    with unblocked(list(fifos)) as opened:
        if surface == "cli":
            status = cli.main(_argv(case, values))
            error = capsys.readouterr().err
            assert status == 2 and error.count("\n") == 1, error
            message = error.removeprefix("error: ").rstrip("\n")
        else:
            with pytest.raises(ToolkitError) as raised:
                _api_call(case, values)
            message = str(raised.value)
    assert not opened, f"blocked on a FIFO: {opened}; {message}"
    return message


# ---------------------------------------------------------------------------------------------
# The guards


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _workspace(tmp_path_factory.mktemp("frame_ws"))


def _replaced(values: dict[str, Any], name: str, new: Any) -> dict[str, Any]:
    """``values`` with ``name`` (the first item of a list, the first key's of a mapping)
    replaced by ``new`` (a str for a str value)."""
    given = values[name]
    first = next(iter(given.values())) if isinstance(given, Mapping) else given
    first = first[0] if isinstance(first, list) else first
    new = str(new) if isinstance(first, str) else new
    if isinstance(given, Mapping):
        return {**values, name: {**given, next(iter(given)): new}}
    return {**values, name: [new, *given[1:]] if isinstance(given, list) else new}


def _first(value: Any) -> Path:
    """A value's path: itself, a list's first, a mapping's first key's."""
    if isinstance(value, Mapping):
        value = next(iter(value.values()))
    return Path(value[0] if isinstance(value, list) else value)


def _copy(source: Path, target: Path) -> Path:
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    return target


def _read_guards(
    item: frame.Read, given: Path, tmp: Path, spelled: str
) -> list[tuple[Path, str, str]]:
    """(the input's replacement, how the error names it, what it says) for each guard."""
    (tmp / "a-file").parent.mkdir(parents=True, exist_ok=True)
    (tmp / "a-file").write_text("")
    guards = [
        (fifo(tmp / "fifo"), spelled, "is a FIFO (named pipe); expected"),
        (loop(tmp / "loop"), spelled, "cannot be used: Too many levels of symbolic links"),
        (tmp / TOO_LONG, spelled, "cannot be used: File name too long"),
        (tmp / "a-file" / "x", spelled, "cannot be used: Not a directory"),
    ]
    if item.kind != frame.SOURCE or item.hub_id is not None:  # else not on disk: a Hub id
        guards.append((tmp / "missing", spelled, "does not exist; expected"))
    if item.kind == frame.FILE:
        guards.append((_copy(given.parent, tmp / "folder"), spelled, "is a directory; expected"))
    if item.kind == frame.FOLDER:
        guards.append((tmp / "a-file", spelled, "is a regular file; expected"))
    if given.is_dir():
        for name in (*item.needs, *item.may):
            folder = _copy(given, tmp / f"fifo-{name}")
            (folder / name).unlink(missing_ok=True)
            fifo(folder / name)
            guards.append((folder, f"{spelled}/{name}", "is a FIFO (named pipe)"))
        for name in item.needs:
            folder = _copy(given, tmp / f"without-{name}")
            (folder / name).unlink()
            guards.append((folder, f"{spelled}/{name}", "does not exist; expected"))
        if item.whole:
            folder = _copy(given, tmp / "fifo-inside")
            fifo(folder / "deep" / "fifo")
            guards.append((folder, f"{spelled}/deep/fifo", "is a FIFO (named pipe)"))
    for name in item.beside:
        folder = _copy(given.parent, tmp / f"beside-{name}")
        (folder / name).unlink(missing_ok=True)
        fifo(folder / name)
        guards.append((folder / given.name, f"{name} beside {spelled}", "is a FIFO"))
    return guards


def _declared(case: Case) -> list[frame.Read | frame.Write]:
    return _api(case.api).__frame__.paths()


def _pairs(kind: type) -> list[tuple[str, str]]:
    """(case, parameter) for each declared path of ``kind`` that the case gives."""
    return [
        (case_name, item.name)
        for case_name, case in CASES.items()
        for item in _declared(case)
        if isinstance(item, kind) and item.name in case.values(_Names(), Path("out"))
    ]


def _pairs_of(case: Case, kind: type) -> list[str]:
    return [item.name for item in _declared(case) if isinstance(item, kind)]


def _item(case: Case, name: str) -> Any:
    (item,) = [item for item in _declared(case) if item.name == name]
    return item


def _fifos(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_fifo()]


def _write_guards(
    item: frame.Write, values: dict[str, Any], tmp: Path, spelled: str
) -> list[tuple[Path, str, str]]:
    """(the output's replacement, how the error names it, what it says) for each guard; the
    files of an output folder go into the folder written (each model's, for a sweep)."""
    (tmp / "a-file").parent.mkdir(parents=True, exist_ok=True)
    (tmp / "a-file").write_text("")
    guards = [
        (loop(tmp / "loop"), spelled, "cannot be used: Too many levels of symbolic links"),
        (tmp / TOO_LONG, spelled, "cannot be used: File name too long"),
        (tmp / "a-file" / "out", spelled, "cannot be used: Not a directory"),
    ]
    if item.kind == frame.FILE:
        (tmp / "folder").mkdir()
        guards.append((tmp / "folder", spelled, "is a directory; expected the path of a file"))
        guards.append((fifo(tmp / "fifo"), spelled, "is a FIFO (named pipe); expected the path"))
        return guards
    guards.append((tmp / "a-file", spelled, "is a regular file; expected a folder"))
    places = [(item.writes or (), item.reads_back, None)]
    if item.subfolders is not None:
        places.append((item.subfolders.writes, item.subfolders.reads_back, item.subfolders))

    for writes, reads_back, subfolders in places:

        def inside(guard: str, subfolders=subfolders) -> tuple[Path, Path, str]:
            """A replacement for the output, the folder written there, how errors name that."""
            replacement = tmp / guard
            if subfolders is None:
                return replacement, replacement, spelled
            folder = subfolders.of({**values, item.name: replacement})[0]
            return replacement, folder, f"{spelled}/{folder.name}"

        for name in reads_back:
            replacement, folder, shown = inside(f"reads-{name}-{subfolders is None}")
            fifo(folder / name)
            guards.append((replacement, f"{shown}/{name}", "is a FIFO (named pipe)"))
        for name in writes:
            replacement, folder, shown = inside(f"writes-{name.strip('/')}-{subfolders is None}")
            if name.endswith("/"):
                _copy(tmp / "a-file", folder / name.rstrip("/"))
                says = "is a regular file; expected a folder"
            else:
                (folder / name).mkdir(parents=True)
                says = "is a directory; expected the path of a file"
            guards.append((replacement, f"{shown}/{name.rstrip('/')}", says))
        if subfolders is not None:  # a model's folder: a FIFO, or a link out of the output
            replacement, folder, shown = inside("fifo-subfolder")
            fifo(folder)
            guards.append((replacement, shown, "is a FIFO (named pipe); expected a folder"))
            replacement, folder, shown = inside("linked-subfolder")
            folder.parent.mkdir(parents=True)
            (tmp / "elsewhere").mkdir(exist_ok=True)
            folder.symlink_to(tmp / "elsewhere", target_is_directory=True)
            guards.append((replacement, shown, "is a symbolic link; expected a folder of its"))
    return guards


@pytest.mark.parametrize("surface", ["cli", "api"])
@pytest.mark.parametrize(("case_name", "name"), _pairs(frame.Read) + _pairs(frame.Write))
def test_each_path_is_examined_before_any_work(
    workspace, tmp_path, capsys, case_name, name, surface
):
    """Each input and output replaced by each hostile path of its kind (`_read_guards`,
    `_write_guards`): one error naming the parameter, before any work."""
    case = CASES[case_name]
    if surface == "cli" and name in case.api_only:
        pytest.skip(f"{case.command} has no option for {name}")
    values = case.values(workspace, tmp_path / "out")
    item, spelled = _item(case, name), _spelled(case.command, name, surface, values[name])
    if isinstance(item, frame.Read):
        guards = _read_guards(item, _first(values[name]), tmp_path / "h", spelled)
    else:
        guards = _write_guards(item, values, tmp_path / "h", spelled)
    for replacement, expected, says in guards:
        hostile = _replaced(values, name, replacement)
        message = _refused(case, hostile, surface, capsys, _fifos(tmp_path))
        assert message.startswith(f"{expected} "), (replacement, message)
        assert says in message, (replacement, message)


def _output_file(item: frame.Write, values: dict[str, Any]) -> Path | None:
    """A file the output writes inside its folder (None: the output is a file itself)."""
    if item.kind == frame.FILE:
        return None
    sub = item.subfolders
    folder = Path(values[item.name]) if sub is None else sub.of(values)[0]
    writes = item.writes if sub is None else sub.writes
    names = [name for name in writes or ("anything.json",) if not name.endswith("/")]
    return folder / names[0]


def _two_names(alias: str, source: Path, at: Path) -> tuple[Path, Path]:
    """(a name of an input file, the name ``at`` of the same file), ``alias`` of each other:
    the same path, a symbolic link, a hard link, a relative spelling or one through ``..``."""
    at.parent.mkdir(parents=True, exist_ok=True)
    if alias in ("same", "relative", "dotdot"):
        shutil.copy(source, at)
        spelled = {
            "same": at,
            "relative": Path(os.path.relpath(at)),
            "dotdot": at.parent / ".." / at.parent.name / at.name,
        }[alias]
        return spelled, at
    at.symlink_to(source) if alias == "symlink" else os.link(source, at)
    return source, at


@pytest.mark.parametrize("surface", ["cli", "api"])
@pytest.mark.parametrize(("case_name", "name"), _pairs(frame.Write))
def test_no_output_is_an_input_under_any_name(
    workspace, tmp_path, capsys, monkeypatch, case_name, name, surface
):
    """Each output aimed at each input file under every name (an output file, or a file its
    folder writes, naming the input), and placed inside each folder read whole."""
    case = CASES[case_name]
    if surface == "cli" and name in case.api_only:
        pytest.skip(f"{case.command} has no option for {name}")
    item = _item(case, name)
    monkeypatch.chdir(tmp_path)
    for read in [read for read in _declared(case) if isinstance(read, frame.Read)]:
        values = case.values(workspace, tmp_path / "out")
        if read.name not in values or (surface == "cli" and read.name in case.api_only):
            continue
        given = _first(values[read.name])
        if given.is_dir():
            if read.whole:
                folder = _copy(given, tmp_path / f"in-{read.name}")
                inside = {**_replaced(values, read.name, folder), name: folder / "inside"}
                message = _refused(case, inside, surface, capsys)
                assert "lies inside the " in message and "it reads" in message, message
            continue
        for alias in ("same", "symlink", "hardlink", "relative", "dotdot"):
            source = _copy(given, tmp_path / alias / read.name / given.name)
            before = source.read_bytes()
            at = _output_file(item, values) or tmp_path / "names" / alias / read.name
            input_name, output_name = _two_names(alias, source, at)
            attempt = _replaced(values, read.name, input_name)
            if item.kind == frame.FILE:
                attempt = {**attempt, name: output_name}
            message = _refused(case, attempt, surface, capsys)
            assert "it reads; writing it would destroy that input" in message, (alias, message)
            assert source.read_bytes() == before
            if at.is_symlink() or at.exists():
                at.unlink()


def _locks(item: frame.Write) -> bool:
    """Whether the frame locks the output's folder (or each of its subfolders)."""
    return item.locked or (item.subfolders is not None and item.subfolders.locked)


@pytest.mark.parametrize(
    ("case_name", "name"),
    [(case, name) for case, name in _pairs(frame.Write) if _locks(_item(CASES[case], name))],
)
def test_each_lock_is_taken_safely_and_removed(workspace, tmp_path, capsys, case_name, name):
    """A lock file that is a link (to an input or any file), a hard link, a FIFO or another file
    is refused and left as it was (`ln -s ../p.jsonl out/.run.lock` made analyze truncate
    p.jsonl); a command that ends removes its lock (and the folder it made, if left empty)."""
    case = CASES[case_name]
    item = _item(case, name)
    values = case.values(workspace, tmp_path / "out")
    read = next(  # an input file of the case, which a link at the lock may point to
        r.name
        for r in _declared(case)
        if isinstance(r, frame.Read) and r.name in values and _first(values[r.name]).is_file()
    )
    victim = _copy(_first(values[read]), tmp_path / "victim.json")
    elsewhere = _copy(victim, tmp_path / "elsewhere.json")
    values = _replaced(values, read, victim)
    if item.subfolders is not None and item.subfolders.locked:
        folders = item.subfolders.of(values)
    else:  # the folder written, or the one holding the file written
        folders = [Path(values[name]) if item.kind == frame.FOLDER else Path(values[name]).parent]
    assert _api_call(case, values, _frame_only(case)) == "passed the frame"
    assert not any(folder.exists() for folder in folders)  # made for the lock, left empty
    lock = folders[0] / LOCK_FILE
    hostile = {
        "a folder": lambda: lock.mkdir(),
        "a link to an input": lambda: lock.symlink_to(victim),
        "a link elsewhere": lambda: lock.symlink_to(elsewhere),
        "a hard link to an input": lambda: os.link(victim, lock),
        "a hard link elsewhere": lambda: os.link(elsewhere, lock),
        "a FIFO": lambda: os.mkfifo(lock),
        "another file": lambda: lock.write_text("precious notes\n"),
    }
    for what, make in hostile.items():
        folders[0].mkdir(parents=True, exist_ok=True)
        make()
        before = [path.read_bytes() for path in (victim, elsewhere)]
        message = _refused(case, values, "cli", capsys, [lock])
        # The frame's examination (a FIFO, a link to an input) or the lock's own refusal.
        assert message.split(" ")[0].endswith((LOCK_FILE, f"{LOCK_FILE}'")), (what, message)
        assert [path.read_bytes() for path in (victim, elsewhere)] == before, what
        assert what != "another file" or lock.read_text() == "precious notes\n"
        lock.rmdir() if what == "a folder" else lock.unlink()


@pytest.mark.parametrize(
    "case_name",
    [n for n, c in CASES.items() if "annotations" in c.values(_Names(), Path("out"))],
)
def test_the_label_cache_is_examined(workspace, tmp_path, capsys, monkeypatch, case_name):
    """A FIFO among the label cache's entries hung every command that loads labels."""
    cache = tmp_path / "cache"
    fifo(cache / "compact" / ("d5" * 32 + ".npz"))
    monkeypatch.setattr(frame.declarations, "default_cache_dir", lambda: cache)
    case = CASES[case_name]
    message = _refused(case, case.values(workspace, tmp_path / "out"), "cli", capsys, _fifos(cache))
    assert message.startswith("the label cache/compact/d5d5"), message
    assert "is a FIFO (named pipe)" in message


@pytest.mark.parametrize("surface", ["cli", "api"])
@pytest.mark.parametrize(
    "case_name",
    [
        name
        for name, case in CASES.items()
        if sum(isinstance(i, frame.Write) for i in _declared(case)) > 1
    ],
)
def test_no_two_outputs_are_one_file(workspace, tmp_path, capsys, case_name, surface):
    """`patches merge --output m.json --conflicts m.json` wrote both into one file; a decoded
    cache that is a sweep's output folder would have held the models' folders."""
    case = CASES[case_name]
    values = case.values(workspace, tmp_path / "out")
    first, *others = _pairs_of(case, frame.Write)
    for other in others:
        if surface == "cli" and other in case.api_only:
            continue
        message = _refused(case, {**values, other: values[first]}, surface, capsys)
        assert " are one file " in message or " lies inside " in message, message
        assert _spelled(case.command, other, surface) in message


def test_each_case_passes_the_frame(workspace, tmp_path):
    """The cases are calls the frame lets through: every refusal above is the guard's."""
    for name, case in CASES.items():
        values = case.values(workspace, tmp_path / name)
        assert _api_call(case, values, _frame_only(case)) == "passed the frame", name


def test_the_frame_runs_once_per_call(workspace, tmp_path, monkeypatch):
    """A framed function that another calls runs bare, inside its caller's frame."""
    examined = []
    real = frame.guards.Call.__init__

    def counted(self, *args, **kwargs):
        examined.append(args[0])
        real(self, *args, **kwargs)

    monkeypatch.setattr(frame.guards.Call, "__init__", counted)
    inner = frame.command(frame.Read("path"))(lambda path: path)
    outer = frame.command(frame.Read("path"))(lambda path: inner(path))
    assert outer(workspace["predictions"]) == workspace["predictions"]
    assert len(examined) == 1


def test_an_os_error_on_a_path_not_declared_keeps_its_traceback(workspace):
    """The frame names the OSErrors of declared paths; any other is a bug or the machine."""

    def fails(path):
        raise OSError(2, "No such file or directory", "/somewhere/else")

    with pytest.raises(OSError, match="somewhere"):
        frame.command(frame.Read("path"))(fails)(workspace["predictions"])

    def fails_inside(path):
        raise OSError(13, "Permission denied", str(path))

    with pytest.raises(frame.UnusablePathError, match="^path '.*p.jsonl' cannot be used: Perm"):
        frame.command(frame.Read("path"))(fails_inside)(workspace["predictions"])


def test_a_full_disk_names_the_output(workspace, tmp_path):
    """pyarrow's ENOSPC during `build` was a traceback; any write that bypasses outputs.py and
    meets a full or read-only disk is one error naming the output."""

    def full(output):
        raise OSError(28, "Error writing bytes to file. Detail: [errno 28] No space left")

    framed = frame.command(frame.Write("output", frame.FOLDER, writes=None))(full)
    with pytest.raises(ToolkitError, match=r"^cannot write '.*built' \(Error writing bytes"):
        framed(tmp_path / "built")


def test_errors_name_parameters_as_the_caller_wrote_them(workspace, tmp_path, capsys):
    """`--output-dir` on the command line, `output_dir` in Python, from the same declaration."""
    case = CASES["leaderboard"]
    values = {**case.values(workspace, tmp_path), "output_dir": workspace["predictions"]}
    assert _refused(case, values, "cli", capsys).startswith("--output-dir ")
    assert _refused(case, values, "api", capsys).startswith("output_dir ")

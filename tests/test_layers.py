"""Imports only go down the layers, so each layer can be read, tested and shipped without the ones
above it (the `evaluate` module is `metric/` alone; `score` never loads the model code).

Layers, lowest first: `metric/` (the scoring core and the error base) < `dataset_script/` (labels,
images, the Hub dataset) < `eval_cli/` (the commands' work) < `imagenet_multilabel/` (the
API namespace). `cards/` is data (templates) that any layer may read. Inside `eval_cli/` the
folders are layered the same way (`EVAL_CLI_LEVELS`). Every import is checked, module-level and
inside functions alike, as written in the source (parsed, not executed).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "imagenet_multilabel"
LAYERS = ("metric", "dataset_script", "eval_cli", NAMESPACE)  # folders, lowest first
DATA_PACKAGES = ("cards",)
# `eval_cli/`'s folders (and its top-level modules), lowest first; a folder may import its own
# level and those below. Every folder and top-level module of `eval_cli/` has a level.
EVAL_CLI_LEVELS = {
    "outputs": 0,
    "choices": 0,
    "frame": 0,
    "scores": 1,
    "analysis": 2,
    "feed": 2,
    "leaderboard": 3,
    "curation": 3,
    "models": 3,
    "engine": 3,
    "dataset_folder": 3,
    "sweeps": 4,
    "commands": 5,
}
# (importing file, imported module) that still run up a layer; an entry added here must go
# once fixed (test_no_import_runs_up_a_layer fails while an entry is no longer needed).
KNOWN_UPWARD_IMPORTS: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    """The installed name of a source file: the folders map under the one namespace."""
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[0] != NAMESPACE:
        parts.insert(0, NAMESPACE)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, name: str, is_package: bool) -> Iterator[str]:
    """Every module that ``source`` (the module ``name``) imports, relative imports resolved."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                yield node.module
                continue
            package = name.split(".") if is_package else name.split(".")[:-1]
            base = ".".join(package[: len(package) - (node.level - 1)])
            yield f"{base}.{node.module}" if node.module else base


def layer_of(module: str) -> int | None:
    """The layer index of one of the toolkit's modules; None for data and for other packages."""
    parts = module.split(".")
    if parts[0] != NAMESPACE:
        return None
    if len(parts) > 1 and parts[1] in DATA_PACKAGES:
        return None
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return LAYERS.index(NAMESPACE)  # the namespace itself and its __main__


def eval_cli_level(module: str) -> int | None:
    """The level of one of `eval_cli`'s modules among its folders; None outside them."""
    parts = module.split(".")
    if parts[:2] != [NAMESPACE, "eval_cli"] or len(parts) < 3:
        return None
    return EVAL_CLI_LEVELS.get(parts[2])  # None: a name no folder holds (the check's own examples)


def upward_imports(path: Path, source: str) -> set[str]:
    """The modules that ``path`` imports from a higher layer (or `eval_cli` level) than its own."""
    name = module_name(path)
    own, own_level = layer_of(name), eval_cli_level(name)
    found = imported_modules(source, name, is_package=path.name == "__init__.py")
    return {
        module
        for module in found
        if (layer_of(module) or 0) > own
        or (own_level is not None and (eval_cli_level(module) or 0) > own_level)
    }


def source_files() -> list[Path]:
    return sorted(path for folder in LAYERS for path in (ROOT / folder).rglob("*.py"))


def test_every_package_folder_has_a_layer():
    folders = {path.parent.name for path in ROOT.glob("*/__init__.py")}
    assert folders == {*LAYERS, *DATA_PACKAGES}


def test_every_eval_cli_folder_has_a_level():
    names = {p.stem for p in (ROOT / "eval_cli").glob("*.py") if p.stem != "__init__"}
    names |= {p.parent.name for p in (ROOT / "eval_cli").glob("*/__init__.py")}
    assert names == set(EVAL_CLI_LEVELS)


def test_every_package_folder_is_installed():
    """pyproject lists its packages one by one: a folder missing there is missing from the wheel."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    folders = {
        module_name(path)
        for folder in (*LAYERS, *DATA_PACKAGES)
        for path in (ROOT / folder).rglob("__init__.py")
    }
    assert folders - listed == set()


def test_data_packages_import_none_of_the_toolkit():
    for folder in DATA_PACKAGES:
        for path in (ROOT / folder).rglob("*.py"):
            name = module_name(path)
            found = imported_modules(path.read_text(), name, path.name == "__init__.py")
            assert not [m for m in found if m.startswith(f"{NAMESPACE}.")], path


def test_only_the_label_sets_folder_imports_itself_within_dataset_script():
    """`dataset_script/label_sets/` loads the multi-label labels, the classes and the shipped
    sets: it sits on top of `dataset_script`, and nothing else there imports it."""
    package = f"{NAMESPACE}.dataset_script.label_sets"
    for path in (ROOT / "dataset_script").rglob("*.py"):
        if "label_sets" in path.relative_to(ROOT).parts:
            continue
        name = module_name(path)
        found = imported_modules(path.read_text(), name, path.name == "__init__.py")
        assert not [m for m in found if m == package or m.startswith(f"{package}.")], path


def test_no_import_runs_up_a_layer():
    found = {
        (path.relative_to(ROOT).as_posix(), module)
        for path in source_files()
        for module in upward_imports(path, path.read_text())
    }
    assert found - KNOWN_UPWARD_IMPORTS == set(), "imports up the layers"
    assert KNOWN_UPWARD_IMPORTS - found == set(), "fixed: remove from KNOWN_UPWARD_IMPORTS"


@pytest.mark.parametrize(
    ("folder", "source", "expected"),
    [
        # inside a function, absolute
        ("metric", "def f():\n    from imagenet_multilabel.eval_cli import run\n", 1),
        # relative, two levels up then down
        ("dataset_script", "from ..eval_cli.score import score_predictions\n", 1),
        # the namespace itself is the top layer
        ("eval_cli/scores", "import imagenet_multilabel\n", 1),
        ("dataset_script", "from imagenet_multilabel.eval_cli.commands.cli import main\n", 1),
        # downward, sideways, data and other packages are fine
        ("eval_cli", "from imagenet_multilabel.metric.errors import ToolkitError\n", 0),
        ("metric", "from .scoring import score\nimport numpy\n", 0),
        ("metric", "from imagenet_multilabel.cards import read_template\n", 0),
        # inside eval_cli: up a level, relative and absolute; down and sideways are fine
        ("eval_cli/scores", "from ..engine.run import run_models\n", 1),
        ("eval_cli/analysis", "from imagenet_multilabel.eval_cli.commands import cli\n", 1),
        ("eval_cli/engine", "from ..scores import results\nfrom ..models import load\n", 0),
        ("eval_cli/feed", "from ..models.adapter import ModelAdapter\n", 1),
    ],
)
def test_the_check_sees_upward_imports(folder: str, source: str, expected: int):
    assert len(upward_imports(ROOT / folder / "example.py", source)) == expected

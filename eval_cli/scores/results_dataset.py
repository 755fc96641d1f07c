"""The results dataset: many models' results as one Hub dataset, laid out as open-llm-leaderboard's
results dataset is (one folder per model, one timestamped file per result), and read back.

Layout (docs/LEADERBOARD.md)::

    README.md                                         the card: configs, the rules, how to read
    official/<org>/<model>/results_<time>.json        a result that `results.publication_problems`
    official/<org>/<model>/predictions_<time>.parquet   finds nothing against, and its predictions
    flagged/<org>/<model>/results_<time>.json         any other result, its "publication" block
    flagged/<org>/<model>/predictions_<time>.parquet    saying why it is not official

``<org>/<model>`` is the Hub id; a local model is ``local/<folder name>``, a `score` result
``scored/<predictions file name>-<sha256[:12]>``; ``<time>`` is the result's ``created_at`` in UTC
(``2026-01-31T12-00-00``). A results file is the results document made public
(`model_card.public_document`: no local path) with a ``publication`` block; a predictions file
holds the columns ``model``, ``file_name``, ``prediction`` and, where the run recorded them,
``top5`` and ``top5_probs``: no image, ever.

Reading: `results_files` turns a leaderboard input that is such a dataset (a local copy of the
folder, or ``hf://datasets/ORG/NAME``, downloaded into huggingface_hub's cache) into its results
files, each with the address a page links to.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from ...dataset_script import escape
from ...dataset_script.annotations.download import sha256_of_file
from ...dataset_script.hub.ids import hub_repo_id_problem
from ...metric.errors import ToolkitError, brief_repr
from ..outputs import PREDICTIONS_FILE, RESULTS_FILE, folder_name
from . import results, results_document
from .predictions import read_predictions

OFFICIAL, FLAGGED = "official", "flagged"
STATUS_FOLDERS = (OFFICIAL, FLAGGED)
RESULTS_STEM, PREDICTIONS_STEM = "results_", "predictions_"
CARD_FILE = "README.md"
HUB_PREFIX = "hf://datasets/"
HUB_URL = "https://huggingface.co/datasets"
LOCAL_ORG, SCORED_ORG = "local", "scored"
_NAME_CHARACTERS = 96  # of a folder name made from a local model's or a predictions file's name
_SURROGATE = re.compile("[\ud800-\udfff]")


class ResultsDatasetError(ToolkitError):
    """A results tree that cannot be published as it is, or a results dataset that cannot be
    read."""


@dataclass(frozen=True)
class ResultsFile:
    """A results file to read, and where a page links to it: ``url`` on the Hub, else None (the
    local ``path``)."""

    path: Path
    url: str | None = None


# ---------------------------------------------------------------------------------------------
# Reading back


def results_files(given: str | os.PathLike) -> list[ResultsFile] | None:
    """The results files of ``given`` when it names a results dataset (``hf://datasets/ORG/NAME``
    or a folder laid out as one), sorted; None when it names none (a results file or a run
    folder)."""
    text = os.fspath(given)
    if text.startswith(HUB_PREFIX):
        return _hub_results_files(text.removeprefix(HUB_PREFIX).rstrip("/"))
    folder = Path(given)
    if not is_results_dataset(folder):
        return None
    return [ResultsFile(path) for path in _results_in(folder)]


def is_results_dataset(folder: Path) -> bool:
    """A folder laid out as a results dataset (a copy of one, whole or only its results files):
    an ``official/`` or ``flagged/`` folder, and no ``results.json`` of its own (a run folder)."""
    return (
        folder.is_dir()
        and not (folder / RESULTS_FILE).exists()
        and any((folder / status).is_dir() for status in STATUS_FOLDERS)
    )


def _results_in(folder: Path) -> list[Path]:
    return sorted(
        path
        for status in STATUS_FOLDERS
        for path in (folder / status).rglob(f"{RESULTS_STEM}*.json")
        if path.is_file()
    )


def _hub_results_files(repo_id: str) -> list[ResultsFile]:
    """The results files of the Hub dataset ``repo_id``, downloaded (or from the cache offline),
    each linking to its page on the Hub."""
    from ...dataset_script.hub.files import download_files

    problem = hub_repo_id_problem(repo_id)
    if problem is not None:
        raise ResultsDatasetError(
            f"{HUB_PREFIX}{brief_repr(repo_id)} does not name a Hub dataset: {problem}"
        )
    patterns = [f"{status}/*/{RESULTS_STEM}*.json" for status in STATUS_FOLDERS]
    folder = download_files(repo_id, patterns, error=ResultsDatasetError)
    found = _results_in(folder)
    if not found:
        raise ResultsDatasetError(
            f"{HUB_PREFIX}{repo_id} holds no results files ({' or '.join(patterns)}); expected a "
            "results dataset written by `imagenet-multilabel push-results`"
        )
    return [
        ResultsFile(path, f"{HUB_URL}/{repo_id}/blob/main/{path.relative_to(folder).as_posix()}")
        for path in found
    ]


def predictions_beside(results_file: ResultsFile) -> str | Path | None:
    """The predictions of a results file, where they lie: the Hub address or local path of the
    parquet beside a results dataset's file, a run folder's predictions file; None if none."""
    name = PurePosixPath(results_file.url or results_file.path.as_posix()).name
    if name.startswith(RESULTS_STEM):
        parquet = PREDICTIONS_STEM + name.removeprefix(RESULTS_STEM).removesuffix(".json")
        parquet += ".parquet"
        if results_file.url:
            return results_file.url.rsplit("/", 1)[0] + "/" + parquet
        local = results_file.path.with_name(parquet)
        return local if local.is_file() else None
    run_predictions = results_file.path.with_name(PREDICTIONS_FILE)
    if name == RESULTS_FILE and run_predictions.is_file():
        return run_predictions
    return None


# ---------------------------------------------------------------------------------------------
# Publishing a results tree


@dataclass(frozen=True)
class PublishedResult:
    """One result of a tree as the dataset will hold it."""

    folder: Path  # the run folder it comes from
    predictions: Path
    status: str  # OFFICIAL or FLAGGED
    problems: tuple[str, ...]  # `results.publication_problems`, in words
    model: str  # the public name
    results_path: str  # in the repository
    predictions_path: str
    document: Mapping[str, Any]  # public, with its publication block


@dataclass(frozen=True)
class TreePlan:
    """What a tree publishes, and the folders left out with the reason."""

    published: list[PublishedResult]
    skipped: list[tuple[Path, str]]


def plan_tree(tree: str | os.PathLike) -> TreePlan:
    """Every run folder under ``tree`` (a folder holding ``results.json`` and the predictions
    file it records) as the dataset will hold it. Results files without their predictions are
    left out, each with the reason; a predictions file other than the one its results were
    scored from, two results at one path or a local path left in a public document stop the whole
    push (`ResultsDatasetError` listing them), before anything is sent."""
    root = Path(tree)
    if not root.is_dir():
        raise ResultsDatasetError(
            f"{str(tree)!r} is not a folder; expected a tree of run folders (results.json + "
            f"{PREDICTIONS_FILE}), as `run --models` writes"
        )
    published, skipped, problems = [], [], []
    for results_path in sorted(root.rglob(RESULTS_FILE)):
        folder = results_path.parent
        document = results_document.read_document(results_path, ResultsDatasetError)
        recorded = (document.get("predictions") or {}).get("file")
        predictions = folder / (recorded if recorded == PREDICTIONS_FILE else PREDICTIONS_FILE)
        if not predictions.is_file():
            skipped.append((folder, f"no {PREDICTIONS_FILE} beside its {RESULTS_FILE}"))
            continue
        problem = _predictions_problem(document, predictions)
        if problem is None:
            published.append(published_result(document, folder, predictions))
        else:
            problems.append(f"{folder}: {problem}")
    problems.extend(_clashes(published))
    problems.extend(_local_paths_left(published))
    if problems:
        raise ResultsDatasetError(
            f"{len(problems):,} result(s) under {str(tree)!r} cannot be published; nothing was "
            f"sent. {problems[0]}"
            + (
                f" (and {len(problems) - 1:,} more: {'; '.join(problems[1:5])})"
                if problems[1:]
                else ""
            )
        )
    return TreePlan(published, skipped)


def _predictions_problem(document: Mapping[str, Any], predictions: Path) -> str | None:
    """Why ``predictions`` are not the ones ``document`` was scored from; None if they are."""
    recorded = (document.get("predictions") or {}).get("sha256")
    if not recorded:
        read_predictions(predictions)  # no fingerprint: the file is checked as scoring checks it
        return None
    if sha256_of_file(predictions) != recorded:
        return (
            f"{predictions.name} is not the file its {RESULTS_FILE} was scored from (sha256 "
            "differs: predicted further or changed since); finish or rerun that model first"
        )
    return None


def published_result(
    document: Mapping[str, Any], folder: Path, predictions: Path
) -> PublishedResult:
    """One result as the dataset holds it: its place (status, model folder, time), its public
    document with the ``publication`` block."""
    problems = tuple(results.publication_problems(document))
    status = FLAGGED if problems else OFFICIAL
    model = document.get("model") or {}
    from .model_card import public_document  # it loads huggingface_hub: for publishing only

    public = public_document(document)
    public["publication"] = {"status": status, "problems": list(problems)}
    name, place = _model_place(document, model)
    stem = _time_stem(document)
    base = f"{status}/{place}"
    return PublishedResult(
        folder=folder,
        predictions=predictions,
        status=status,
        problems=problems,
        model=name,
        results_path=f"{base}/{RESULTS_STEM}{stem}.json",
        predictions_path=f"{base}/{PREDICTIONS_STEM}{stem}.parquet",
        document=public,
    )


def _model_place(document: Mapping[str, Any], model: Mapping[str, Any]) -> tuple[str, str]:
    """The public name of the result's model and its folder in the dataset."""
    model_id = model.get("id")
    if isinstance(model_id, str) and model_id:
        name = _encodable(escape.public_model_name(model_id, local=model.get("local") is True))
        if name == model_id and hub_repo_id_problem(model_id) is None:
            return name, model_id
        return name, f"{LOCAL_ORG}/{_component(name)}"
    predictions = document.get("predictions") or {}
    source = escape.last_component(str(predictions.get("source") or "predictions"))
    sha = str(predictions.get("sha256") or "")[:12]
    stem = _encodable(PurePosixPath(source).stem)
    return stem, f"{SCORED_ORG}/{_component(stem)}" + (f"-{sha}" if sha else "")


def _encodable(name: str) -> str:
    """``name`` with what UTF-8 cannot hold (a lone surrogate, from a folder name in another
    encoding) as U+FFFD: a parquet string column takes it."""
    return _SURROGATE.sub("\ufffd", name)


def _component(name: str) -> str:
    """``name`` as one safe folder name in a repository: no ``/``, no leading dot."""
    return folder_name(name)[:_NAME_CHARACTERS].lstrip(".") or "unnamed"


def _time_stem(document: Mapping[str, Any]) -> str:
    """The result's ``created_at`` in UTC as a file name part; ``undated`` without one."""
    created = str((document.get("environment") or {}).get("created_at") or "")
    try:
        moment = datetime.fromisoformat(created)
    except ValueError:
        return "undated"
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H-%M-%S")


def _clashes(published: Sequence[PublishedResult]) -> list[str]:
    """Two results that would be written to one path (same model folder and time)."""
    seen: dict[str, Path] = {}
    clashes = []
    for result in published:
        other = seen.setdefault(result.results_path, result.folder)
        if other != result.folder:
            clashes.append(
                f"{other} and {result.folder} would both be published as {result.results_path}"
            )
    return clashes


def _local_paths_left(published: Sequence[PublishedResult]) -> list[str]:
    """Texts of the public documents that still read as a local path (absolute, ``./``, ``../``,
    ``~``): refused rather than published."""
    return [
        f"{result.folder}: {where} holds a local path {brief_repr(text)}"
        for result in published
        for where, text in _texts(result.document)
        if os.path.isabs(text) or text.startswith(("./", "../", "~"))
    ]


def _texts(value: Any, where: str = "") -> list[tuple[str, str]]:
    """Every string in a JSON value, with its key path."""
    if isinstance(value, str):
        return [(where or "the document", value)]
    if isinstance(value, Mapping):
        return [
            pair
            for key, item in value.items()
            for pair in _texts(item, f"{where}.{key}".lstrip("."))
        ]
    if isinstance(value, list | tuple):
        return [
            pair for index, item in enumerate(value) for pair in _texts(item, f"{where}[{index}]")
        ]
    return []


def predictions_parquet(result: PublishedResult) -> bytes:
    """The result's predictions as the dataset's parquet: ``model``, ``file_name``,
    ``prediction``, and ``top5`` / ``top5_probs`` where the file has them; nothing else of the
    file (an image, a local path) is carried over."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    predictions = read_predictions(result.predictions)
    columns: dict[str, Any] = {
        "model": pa.array([result.model] * len(predictions), pa.string()),
        "file_name": pa.array(predictions.file_names.tolist(), pa.string()),
        "prediction": pa.array(predictions.top1.astype(np.int16)),
    }
    if predictions.topk is not None:
        columns["top5"] = _lists(predictions.topk.astype(np.int16))
        probs = predictions.top5_probs
        if probs is not None:
            columns["top5_probs"] = _lists(probs.astype(np.float32))
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer, compression="zstd")
    return buffer.getvalue()


def _lists(matrix: Any) -> Any:
    """An (N, k) array as a parquet list column (fixed k per row)."""
    import pyarrow as pa

    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), matrix.shape[1])


def result_files(result: PublishedResult) -> list[tuple[str, Callable[[], bytes]]]:
    """The result's two files: path in the repository and how to make the bytes."""
    text = json.dumps(result.document, indent=2) + "\n"  # ASCII: any lone surrogate escaped
    return [
        (result.results_path, lambda: text.encode("utf-8")),
        (result.predictions_path, lambda: predictions_parquet(result)),
    ]


def dataset_card(repo_id: str, statuses: Sequence[str], counts: Mapping[str, int]) -> str:
    """The card (README.md): one config per status folder the dataset holds (here or already on
    the Hub), the layout and the rules, and how to read the results back."""
    from huggingface_hub import DatasetCard, DatasetCardData

    from ...cards import read_template

    card_data = DatasetCardData(
        pretty_name="ImageNet multi-label results",
        tags=["imagenet", "imagenet-m", "multi-label", "leaderboard", "evaluation-results"],
        configs=[
            {
                "config_name": status,
                "data_files": [
                    {"split": "predictions", "path": f"{status}/*/*/{PREDICTIONS_STEM}*.parquet"}
                ],
                **({"default": True} if status == OFFICIAL else {}),
            }
            for status in STATUS_FOLDERS
            if status in statuses
        ],
    )
    card = DatasetCard.from_template(
        card_data,
        template_str=read_template("results_dataset_card.md"),
        repo_id=repo_id,
        counts=counts,
        hub_prefix=HUB_PREFIX,
    )
    return str(card)

"""The inputs of ``compare``: `run` folders or predictions files read with who each model is, and
the check that the runs were scored on the labels compare uses."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...dataset_script import escape
from ...dataset_script.labels.loading import Labels
from ...metric.errors import ToolkitError
from ..outputs import PREDICTIONS_FILE, RESULTS_FILE
from ..scores import results_document
from ..scores.predictions import Predictions, read_predictions


class CompareError(ToolkitError):
    """Inputs that cannot be compared: too few, unknown, duplicated, or on different labels."""


@dataclass(frozen=True)
class ModelInput:
    """One compared model: its predictions and who it is."""

    name: str  # shown in every table; unique among the inputs
    identity: dict[str, Any]  # run: model id + revision; predictions file: name + sha256
    source: str  # the path as given
    predictions: Predictions
    predictions_sha256: str
    recorded_labels: Mapping[str, Any] | None  # a run's results.json ``labels`` block


def read_model_input(given: str | os.PathLike) -> ModelInput:
    """A `run` folder (predictions.jsonl, results.json) or a predictions file, and its identity."""
    path = Path(given)
    if path.is_dir():
        predictions_path, results_path = path / PREDICTIONS_FILE, path / RESULTS_FILE
        lacking = [p.name for p in (predictions_path, results_path) if not p.is_file()]
        if lacking:
            raise CompareError(
                f"{str(given)!r} is a folder without {' and '.join(lacking)}; expected a "
                f"finished `run` folder ({PREDICTIONS_FILE} and {RESULTS_FILE}) or a "
                "predictions file"
            )
        document = results_document.read_document(results_path, CompareError)
        model = document.get("model")
        model_id = model.get("id") if isinstance(model, dict) else None
        if not isinstance(model_id, str) or not model_id:
            raise CompareError(
                f"{str(results_path)!r} names no model ('model': {{'id': ...}}); expected the "
                "results.json of `run` (compare a `score` result by its predictions file instead)"
            )
        revision = model.get("revision")
        labels = document.get("labels")
        predictions = read_predictions(predictions_path)
        return ModelInput(
            name=escape.public_model_name(model_id, local=model.get("local") is True)
            + (f"@{revision}" if revision else ""),
            identity={"kind": "run", "model": model_id, "revision": revision},
            source=str(given),
            predictions=predictions,
            predictions_sha256=predictions.sha256,
            recorded_labels=labels if isinstance(labels, dict) else None,
        )
    if not path.exists():
        raise CompareError(
            f"{str(given)!r} does not exist; expected a `run` folder ({PREDICTIONS_FILE} and "
            f"{RESULTS_FILE}) or a predictions file (.jsonl or .csv)"
        )
    predictions = read_predictions(path)
    sha256 = predictions.sha256
    name = path.parent.name if path.stem == "predictions" and path.parent.name else path.stem
    return ModelInput(
        name=name,
        identity={"kind": "predictions", "file": path.name, "sha256": sha256},
        source=str(given),
        predictions=predictions,
        predictions_sha256=sha256,
        recorded_labels=None,
    )


def read_model_inputs(paths: Sequence[str | os.PathLike]) -> list[ModelInput]:
    """Every input read, no model twice, and a unique name for each."""
    models = [read_model_input(path) for path in paths]
    seen: dict[Any, ModelInput] = {}
    for model in models:
        keys = [("predictions", model.predictions_sha256)]
        if model.identity["kind"] == "run":
            keys.append(("run", model.identity["model"], model.identity["revision"]))
        for key in keys:
            earlier = seen.setdefault(key, model)
            if earlier is not model:
                what = "the same model and revision" if key[0] == "run" else "identical predictions"
                raise CompareError(
                    f"{model.source!r} and {earlier.source!r} are {what} ({model.name}); expected "
                    "each model once"
                )
    names = [model.name for model in models]
    return [
        model
        if names.count(model.name) == 1
        else dataclasses.replace(model, name=f"{model.name}#{model.predictions_sha256[:8]}")
        for model in models
    ]


def check_same_labels(models: Sequence[ModelInput], labels: Labels) -> None:
    """The runs were scored on one label set, from the annotation file compare uses.

    compare judges every model again on ``labels`` (with their patches, if any), so a run's
    recorded patches may differ from them; but runs on different labels, or on another
    annotation file than ``labels``, are a mix-up to be fixed, not compared.
    """
    runs = [model for model in models if model.recorded_labels is not None]
    recorded = {
        (model.recorded_labels.get("sha256"), model.recorded_labels.get("version"))
        for model in runs
    }
    if len(recorded) > 1:
        listing = "; ".join(
            f"{model.name}: sha256 {model.recorded_labels.get('sha256')}, version "
            f"{model.recorded_labels.get('version')}"
            for model in runs
        )
        raise CompareError(
            f"the runs were scored on different labels ({listing}); expected one label set: "
            "run or score them all on the same labels"
        )
    base = labels.provenance.get("sha256")
    other = [model for model in runs if model.recorded_labels.get("sha256") != base]
    if other:
        raise CompareError(
            f"{other[0].name} ({other[0].source!r}) was scored on the annotation file with sha256 "
            f"{other[0].recorded_labels.get('sha256')}, but compare loaded {base} from "
            f"{labels.provenance.get('source')!r}; pass the label options the runs used"
        )

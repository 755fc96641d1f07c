"""A results document as the public sees it: the model card's markdown results section and the
document a public results dataset holds.

The section (``cards/model_card_results.md``) shows the numbers, the labels' version and sha256,
the command and both citations, and credits the labels actually used (`LabelsCredit`): a Hub
labels dataset at its commit, the annotation file downloaded from its URL, or a local annotation
file or labels folder, named as such. Everything here is public, and a model folder name, a label
name or a command line can carry markup: every value from outside the toolkit is escaped for
markdown and HTML (`writers.markdown_card`), a local model is named by its folder name, and local
paths are cut to their last component (`escape.without_local_paths`). The Hub metadata and the
pull request that carry the section are `hub`'s.
"""

from __future__ import annotations

import json
import shlex
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...cards import read_template
from ...dataset_script import escape, writers
from ...dataset_script.hub.access import PushError
from ...dataset_script.hub.ids import hub_model_id
from ...dataset_script.hub.names import PRETTY_NAME
from ...metric import label_sets
from . import results


@dataclass(frozen=True)
class LabelsCredit:
    """The labels the numbers were scored against, as the model-card files name them.

    ``kind``: ``hub`` (a labels dataset on the Hub, at ``revision``), ``download`` (an annotation
    file downloaded from ``url``), ``folder`` (a local labels dataset folder) or ``file`` (a local
    annotation file). ``name`` holds no local path.
    """

    kind: str
    name: str
    url: str | None = None
    revision: str | None = None


def model_card_section(document: Mapping[str, Any]) -> str:
    """The markdown results section for the model card; partial or unverified results say so."""
    reported_metrics(document)
    labels = document.get("labels", {})
    model = document.get("model")
    environment = document.get("environment", {})
    splits, rows = results.metric_rows(document)
    packages = environment.get("packages", {})
    local_names = _local_names(document)
    public_model = escape.without_local_paths(model, local_names) if model else None
    return writers.markdown_card(
        read_template("model_card_results.md"),
        benchmark_name=PRETTY_NAME,
        warnings=results.publication_problems(document),
        splits=splits,
        rows=rows,
        notes=results.label_set_notes(document),
        credit=_labels_credit(labels),
        labels={
            "version": labels.get("version"),
            "sha256": labels.get("sha256"),
            "verified": results.labels_verified(labels),
        },
        model={key: public_model.get(key) for key in ("id", "revision", "kind")}
        if public_model
        else None,
        preprocessing=_compact_json(public_model.get("preprocessing")) if public_model else None,
        label_mapping=_compact_json(public_model.get("label_mapping")) if public_model else None,
        created_at=environment.get("created_at"),
        packages=[f"{name} {version}" for name, version in packages.items() if version],
        command=escape.public_command_line(environment.get("command"), _public_ids(document)),
    )


# The blocks of a results document (`results_document.document`) that a public copy keeps;
# anything else a results file holds (a field added by hand, an image's bytes) is never published.
PUBLIC_BLOCKS = (
    "metrics",
    "complete",
    "labels",
    "predictions",
    "mistakes",
    "model",
    "run",
    "environment",
)


def public_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """The results document as a public dataset holds it: its `PUBLIC_BLOCKS` only, every local
    path cut to its last component (a local model named by its folder; the annotation file, the
    predictions file, the images and the label patches by their names; any other absolute path
    in a text), and the command line cut as model cards show it."""
    run = document.get("run") or {}
    label_files = document.get("label_files") or {}
    given = [
        (document.get("predictions") or {}).get("source"),
        *(run.get("label_patch_paths") or []),  # where results before `label_files` kept them
        *(label_files.get("patches") or [] if isinstance(label_files, Mapping) else []),
    ]
    images = run.get("images_source")
    if isinstance(images, str) and not hub_model_id(images):  # a dataset id: the same rules
        given.append(images)
    local_names = {
        **_local_names(document),
        **{path: escape.last_component(path) for path in given if isinstance(path, str) and path},
    }
    public = {
        block: escape.without_local_paths(document[block], local_names)
        for block in PUBLIC_BLOCKS
        if block in document
    }
    command = (document.get("environment") or {}).get("command")
    if isinstance(command, list) and all(isinstance(word, str) for word in command):
        shown = escape.public_command_line(command, _public_ids(document))
        public["environment"] = {**public["environment"], "command": shlex.split(shown or "")}
    return public


def _labels_credit(labels: Mapping[str, Any]) -> LabelsCredit:
    """How the model-card files name the labels of a results document's ``labels`` provenance.

    A Hub labels dataset is the only source with a ``revision``; an annotation file downloaded
    from a URL records the URL; a local labels folder records the file it was built from
    (``annotations_source``); anything else is a local annotation file.
    """
    source = str(labels.get("source") or "")
    if labels.get("revision"):
        return LabelsCredit(
            "hub",
            source,
            url=f"https://huggingface.co/datasets/{source}",
            revision=str(labels["revision"]),
        )
    if source.startswith(("https://", "http://")):
        name = urllib.parse.urlsplit(source).path.rstrip("/").rsplit("/", 1)[-1] or source
        return LabelsCredit("download", name, url=source)
    kind = "folder" if "annotations_source" in labels else "file"
    return LabelsCredit(kind, escape.last_component(source))


def _compact_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def _public_ids(document: Mapping[str, Any]) -> frozenset[str]:
    """The Hub ids a document names, shown as they are: the model (unless local), a Hub labels
    dataset, a Hub image dataset."""
    model = document.get("model") or {}
    model_id = str(model.get("id") or "")
    ids = set()
    if model_id and not _is_local_model(model):
        ids.add(model_id)
    labels = document.get("labels", {})
    if labels.get("source") and _labels_credit(labels).kind == "hub":
        ids.add(str(labels["source"]))
    images = str((document.get("run") or {}).get("images_source") or "")
    if images and hub_model_id(images):
        ids.add(images)
    return frozenset(ids)


def _is_local_model(model: Mapping[str, Any]) -> bool:
    """A local folder: recorded so (``model.local``), or its id reads as a path."""
    model_id = str(model.get("id") or "")
    return model.get("local") is True or bool(model_id) and not hub_model_id(model_id)


def _local_names(document: Mapping[str, Any]) -> dict[str, str]:
    """Local paths the document names (a local model, local labels) -> the name the Hub sees."""
    model = document.get("model") or {}
    model_id = str(model.get("id") or "")
    paths = [model_id] if model_id and _is_local_model(model) else []
    labels = document.get("labels", {})
    if labels.get("source") and _labels_credit(labels).kind in ("file", "folder"):
        paths.append(str(labels["source"]))
    names = {path: escape.last_component(path) for path in paths}
    return {path: name for path, name in names.items() if path != name}


def reported_metrics(document: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    """The document's ``metrics``, refused when it has none or a split no label set scores."""
    metrics = document.get("metrics")
    if not metrics:
        raise PushError("the results document has no 'metrics': nothing to report")
    unknown = [split for split in metrics if split not in label_sets.SPLITS]
    if unknown:
        raise PushError(
            f"the results document has unknown split(s) {unknown}; expected "
            f"{list(label_sets.SPLITS)}"
        )
    return metrics

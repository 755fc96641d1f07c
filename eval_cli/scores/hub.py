"""Evaluation results on Hub model pages: card metadata, ``.eval_results`` files, one pull request.

From one results document (`results`) this module makes

- the classic ``model-index`` card metadata (README.md front matter), built with huggingface_hub's
  ``EvalResult``/``ModelCardData`` (spec: hub-docs ``modelcard.md``);
- the newer ``.eval_results/<dataset>.yaml`` file (https://huggingface.co/docs/hub/eval-results),
  built with huggingface_hub's ``EvalResultEntry``/``eval_result_entries_to_yaml``: one entry per
  benchmark task that the labels dataset declares in its ``eval.yaml``
  (`dataset_script.hub.names.EVAL_TASKS`), so that results reach the benchmark's leaderboard;
- the files written next to the results (`write_card_files`, the markdown section included:
  `model_card`) and the pull request that carries them (`push_results`).

The Hub metadata must name a Hub dataset: the labels dataset itself, or for the published labels
(verified by their sha256, wherever the file came from) the dataset this toolkit publishes them as.

Units, the same in both metadata formats: accuracies in percent (0-100) rounded to two decimals,
as the benchmark's ``eval.yaml`` declares, as the papers report them and as the model-index spec
example (``20.90``) reads; ImageNet-M as the count of correct images. Only complete results on the
published (verified) labels are the benchmark's numbers, so only those are turned into metadata
for the Hub; the files written next to the results are always written, marked when they are not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import (
    CommitOperationAdd,
    EvalResult,
    EvalResultEntry,
    HfApi,
    ModelCardData,
    eval_result_entries_to_yaml,
    metadata_update,
)
from huggingface_hub.constants import EVAL_RESULTS_FOLDER
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from ...dataset_script import escape
from ...dataset_script.hub.access import PushError, hub_call, resolve_token
from ...dataset_script.hub.ids import hub_model_id, hub_repo_id_problem
from ...dataset_script.hub.names import EVAL_TASKS, LABELS_CONFIG, PRETTY_NAME
from ...metric import label_sets
from ...metric.errors import brief_repr, named
from ...metric.label_sets import METRIC_BY_KEY, OF_TOTAL, PCT
from .. import outputs
from . import results
from .model_card import model_card_section, reported_metrics
from .results_document import TOOLKIT

# The labels dataset as `imagenet-multilabel push` publishes it, named after this toolkit; the
# Hub metadata names it for the published labels when they did not come from a Hub dataset
# (`--labels ORG/NAME` records its id and commit in the labels provenance, `dataset_script.labels`).
DEFAULT_DATASET_ID = f"{TOOLKIT}/{TOOLKIT}"
TASK_TYPE = "image-classification"
TASK_NAME = "Image Classification"
MODEL_INDEX_FILE = "model-index.yaml"
CARD_SECTION_FILE = "model_card_results.md"
PUSH_RECORD_FILE = "hub_pull_request.json"
# What `write_card_files` and `push_results` write into a run's folder (subfolders end in "/").
WRITTEN_FILES = (MODEL_INDEX_FILE, CARD_SECTION_FILE, PUSH_RECORD_FILE, f"{EVAL_RESULTS_FOLDER}/")
# Model-index metrics per split, in card order: the published metrics of the label sets whose
# results can be official (the labels dataset's); the card's table shows every other set's too,
# the model-index does not claim them.
MODEL_INDEX_METRICS = {
    split: tuple(
        metric.key
        for label_set in label_sets.in_split(split)
        if label_set.official
        for metric in label_set.metrics
        if metric.published
    )
    for split in label_sets.SPLITS
}
_YAML_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def model_index(document: Mapping[str, Any], *, model_name: str | None = None) -> list[dict]:
    """The ``model-index`` card metadata; refuses results that are not the benchmark's numbers.

    ``model_name`` defaults to the document's model id (the folder name for a local model).
    """
    dataset = _publishable_dataset(document)
    return _card_data(document, model_name, dataset).to_dict()["model-index"]


def eval_results_files(document: Mapping[str, Any]) -> dict[str, str]:
    """``.eval_results`` YAML files of the model repo, path in repo -> content; refuses like
    `model_index`."""
    return _eval_results_files(document, _publishable_dataset(document))


def write_card_files(document: Mapping[str, Any], output_dir: str | Path) -> list[Path]:
    """Write the model-index, ``.eval_results`` and markdown files for users to paste or upload.

    Written whatever the results; when they are not the benchmark's numbers (partial, incomplete,
    unverified labels) each file says so at its top. Unverified labels from no Hub dataset give
    no metadata to name a dataset with: the model-index file then holds only the reasons.
    """
    output_dir = Path(output_dir)
    problems = results.publication_problems(document)
    dataset = _hub_dataset(document)
    if dataset is None:
        problems.append("no Hub dataset holds these labels, so no model-index can name one")
        metadata = {MODEL_INDEX_FILE: ""}
    else:
        metadata = {
            MODEL_INDEX_FILE: f"{_card_data(document, None, dataset).to_yaml()}\n",
            **_eval_results_files(document, dataset),
        }
    warning = "".join(f"# NOT FOR THE HUB: {problem}\n" for problem in problems)
    contents = {
        **{path: warning + text for path, text in metadata.items()},
        CARD_SECTION_FILE: model_card_section(document),
    }
    written = []
    for relative_path, text in contents.items():
        path = output_dir / relative_path
        outputs.write_text(path, text)
        written.append(path)
    return written


def push_results(
    document: Mapping[str, Any],
    output_dir: str | Path,
    *,
    repo_id: str | None = None,
    dry_run: bool = False,
    token: str | None = None,
) -> str | None:
    """Open one pull request on the model repo with the model-index and ``.eval_results`` files.

    The card metadata goes through ``huggingface_hub.metadata_update(create_pr=True)``, which
    merges it into the existing card (other results kept, ours replaced: ``overwrite=True`` is
    safe because the owner reviews the pull request); the ``.eval_results`` files are then
    committed to that same pull request. ``repo_id`` defaults to the document's model id.
    ``dry_run`` prints what would be sent and sends nothing. Returns the pull request URL (None
    on a dry run) and records it in ``output_dir``.
    """
    target = _target_repo(document, repo_id)
    metadata = {"model-index": model_index(document, model_name=target)}
    files = eval_results_files(document)
    title = f"Add {PRETTY_NAME} evaluation results"
    description = _pull_request_description(document, files)
    if dry_run:
        print(_dry_run_report(target, title, description, metadata, files))
        return None
    token = token or resolve_token()
    with hub_call(
        f"could not open a pull request on {target!r}", advice="nothing was changed there"
    ):
        commit = metadata_update(
            target,
            metadata,
            overwrite=True,
            create_pr=True,
            token=token,
            commit_message=title,
            commit_description=description,
        )
    with hub_call(
        f"opened {commit.pr_url} with the model-index update, but could not add "
        f"{', '.join(files)} to it",
        advice=f"upload them to revision {commit.pr_revision} from {Path(output_dir)} or close "
        "the pull request",
    ):
        HfApi(token=token).create_commit(
            target,
            operations=[
                CommitOperationAdd(path_in_repo=path, path_or_fileobj=text.encode("utf-8"))
                for path, text in files.items()
            ],
            commit_message=f"Add {', '.join(files)}",
            revision=commit.pr_revision,
        )
    outputs.write_json(
        Path(output_dir) / PUSH_RECORD_FILE,
        {"repo_id": target, "pull_request": commit.pr_url, "files": ["README.md", *files]},
    )
    return commit.pr_url


def _publishable_dataset(document: Mapping[str, Any]) -> tuple[str, str | None]:
    """The Hub dataset that the metadata of publishable results names; refuses the others."""
    problems = results.publication_problems(document)
    dataset = _hub_dataset(document)
    if problems or dataset is None:  # no dataset means unverified labels: a problem listed
        raise PushError(
            "refusing to make Hub evaluation metadata from these results: "
            + "; ".join(problems)
            + ". Only complete results on the published labels are the benchmark's numbers."
        )
    return dataset


def _card_data(
    document: Mapping[str, Any], model_name: str | None, dataset: tuple[str, str | None]
) -> ModelCardData:
    metrics = reported_metrics(document)
    dataset_id, dataset_revision = dataset
    eval_results = [
        EvalResult(
            task_type=TASK_TYPE,
            task_name=TASK_NAME,
            dataset_type=dataset_id,
            dataset_name=PRETTY_NAME,
            dataset_config=LABELS_CONFIG,
            dataset_split=split,
            dataset_revision=dataset_revision,
            metric_type=key,
            metric_name=_metric_name(metrics[split], key),
            metric_value=_value(metrics, split, key),
        )
        for split in metrics
        for key in MODEL_INDEX_METRICS[split]
    ]
    return ModelCardData(model_name=model_name or _model_name(document), eval_results=eval_results)


def _eval_results_files(
    document: Mapping[str, Any], dataset: tuple[str, str | None]
) -> dict[str, str]:
    metrics = reported_metrics(document)
    dataset_id, dataset_revision = dataset
    entries = [
        EvalResultEntry(
            dataset_id=dataset_id,
            task_id=task["id"],
            value=_value(metrics, task["split"], task["metric_key"]),
            dataset_revision=dataset_revision,
            date=document.get("environment", {}).get("created_at"),
        )
        for task in EVAL_TASKS
        if task["split"] in metrics
    ]
    path = f"{EVAL_RESULTS_FOLDER}/{dataset_id.split('/')[-1]}.yaml"
    return {path: yaml.safe_dump(eval_result_entries_to_yaml(entries), sort_keys=False)}


def _value(metrics: Mapping[str, Mapping[str, Any]], split: str, key: str) -> float | int:
    """A metric as published: accuracies in percent (two decimals), counts as integers."""
    try:
        value = metrics[split][key]
    except KeyError:
        raise PushError(
            f"the results document lacks metric {key!r} of split {split!r}; expected the keys of "
            "metric.scoring.score"
        ) from None
    return round(100 * float(value), 2) if METRIC_BY_KEY[key].style == PCT else int(value)


def _metric_name(split_metrics: Mapping[str, Any], key: str) -> str:
    metric = METRIC_BY_KEY[key]
    if metric.style == OF_TOTAL:
        return f"{metric.label} (of {int(split_metrics[metric.total])})"
    return f"{results.metric_label(key, official=True)}, %"


def _hub_dataset(document: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """Hub id and commit of the dataset the Hub metadata names: the labels dataset that
    ``--labels ORG/NAME`` downloaded (only those labels carry a ``revision``), else for the
    published labels (their sha256 verified) `DEFAULT_DATASET_ID` at no particular commit; None
    for other labels, which no Hub dataset holds."""
    labels = document.get("labels", {})
    if labels.get("revision"):
        return _hub_dataset_id(str(labels.get("source"))), str(labels["revision"])
    if results.labels_verified(labels):
        return DEFAULT_DATASET_ID, None
    return None


def _hub_dataset_id(source: str) -> str:
    try:
        validate_repo_id(source)
    except HFValidationError:
        raise PushError(
            f"the labels provenance records a Hub revision of {source!r}, which is not a Hub "
            "dataset id (ORG/NAME)"
        ) from None
    return source


def _model(document: Mapping[str, Any]) -> Mapping[str, Any]:
    model = document.get("model")
    if not model or not model.get("id"):
        raise PushError(
            "the results document names no model ('model.id'; results of `score` have none): "
            "pass the Hub model repository id"
        )
    return model


def _model_name(document: Mapping[str, Any]) -> str:
    """The model's name in model-index: its Hub id, or a local folder's name in the characters of
    a Hub repository name (nothing there is escaped, and a folder name may hold markup)."""
    model = _model(document)
    model_id = model["id"]
    public_name = escape.public_model_name(model_id, local=model.get("local") is True)
    return public_name if public_name == model_id else _yaml_name(public_name)


def _yaml_name(name: str) -> str:
    return _YAML_NAME.sub("-", name).strip("-.") or "local"


def _target_repo(document: Mapping[str, Any], repo_id: str | None) -> str:
    model = _model(document)
    return check_target_repo(model["id"], repo_id, local=model.get("local") is True)


def check_target_repo(model_id: str, repo_id: str | None, *, local: bool = False) -> str:
    """The model repository that receives the results: ``repo_id`` if given, else the model's
    own Hub id; a local model needs ``repo_id``. Checked before a run starts."""
    if repo_id is not None:
        problem = hub_repo_id_problem(repo_id)
        if problem is not None:
            raise PushError(
                f"{named('hub_repo_id')} {brief_repr(repo_id)} is not a Hub model repository id: "
                f"{problem}"
            )
        return repo_id
    if local or not hub_model_id(model_id):
        raise PushError(
            f"the model {escape.last_component(model_id)!r} is a local path, not a Hub "
            f"repository: pass {named('hub_repo_id', 'ORG/NAME')} to name the model repository "
            "that should receive the results"
        )
    return model_id


def _pull_request_description(document: Mapping[str, Any], files: Mapping[str, str]) -> str:
    return (
        f"This pull request adds the model's results on {PRETTY_NAME} to the model card "
        f"metadata (`model-index` in README.md) and as Hub evaluation results "
        f"({', '.join(f'`{path}`' for path in files)}, "
        "https://huggingface.co/docs/hub/eval-results). The section below can be pasted into "
        "the model card.\n\n" + model_card_section(document)
    )


def _dry_run_report(
    repo_id: str,
    title: str,
    description: str,
    metadata: Mapping[str, Any],
    files: Mapping[str, str],
) -> str:
    sections = [
        f"DRY RUN: nothing is sent. A real run opens one pull request on model repo {repo_id!r}.",
        f"Pull request title: {title}",
        f"Pull request description:\n{description}",
        "README.md metadata (huggingface_hub.metadata_update, create_pr=True, overwrite=True):\n"
        + yaml.safe_dump(metadata, sort_keys=False),
        *(f"File {path} (added to the same pull request):\n{text}" for path, text in files.items()),
    ]
    return "\n\n".join(section.rstrip("\n") for section in sections)

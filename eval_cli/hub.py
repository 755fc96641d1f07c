"""Evaluation results on Hub model pages: card metadata, ``.eval_results`` files, one pull request.

From one results document (`eval_cli.results`) this module makes

- the classic ``model-index`` card metadata (README.md front matter), built with huggingface_hub's
  ``EvalResult``/``ModelCardData`` (spec: hub-docs ``modelcard.md``);
- the newer ``.eval_results/<dataset>.yaml`` file (https://huggingface.co/docs/hub/eval-results),
  built with huggingface_hub's ``EvalResultEntry``/``eval_result_entries_to_yaml``: one entry per
  benchmark task that the labels dataset declares in its ``eval.yaml``
  (`dataset_script.build.EVAL_TASKS`), so that results reach the benchmark's leaderboard;
- a markdown results section (``cards/model_card_results.md``) with the numbers, the labels'
  version and sha256, the command and both citations.

Units, the same in both metadata formats: accuracies in percent (0-100) rounded to two decimals,
as the benchmark's ``eval.yaml`` declares, as the papers report them and as the model-index spec
example (``20.90``) reads; ImageNet-M as the count of correct images. Only complete results on the
published (verified) labels are the benchmark's numbers, so only those are turned into metadata
for the Hub; the files written next to the results are always written, marked when they are not.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml
from huggingface_hub import (
    CommitOperationAdd,
    EvalResult,
    EvalResultEntry,
    HfApi,
    ModelCardData,
    eval_result_entries_to_yaml,
    get_token,
    metadata_update,
)
from huggingface_hub.constants import EVAL_RESULTS_FOLDER
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from imagenet_multilabel.cards import read_template
from imagenet_multilabel.dataset_script.build import EVAL_TASKS, LABELS_CONFIG, PRETTY_NAME
from imagenet_multilabel.dataset_script.push import HUB_ERRORS
from imagenet_multilabel.eval_cli import results
from imagenet_multilabel.metric.errors import ToolkitError

# The labels dataset as `imagenet-multilabel push` publishes it, named after this toolkit;
# used when the labels did not come from a Hub dataset (`--labels ORG/NAME` records its id and
# commit in the labels provenance, `dataset_script.labels`).
DEFAULT_DATASET_ID = f"{results.TOOLKIT}/{results.TOOLKIT}"
TASK_TYPE = "image-classification"
TASK_NAME = "Image Classification"
MODEL_INDEX_FILE = "model-index.yaml"
CARD_SECTION_FILE = "model_card_results.md"
PUSH_RECORD_FILE = "hub_pull_request.json"
# Model-index metrics per split, in card order; labels as in the run's summary table.
MODEL_INDEX_METRICS = {
    "validation": (
        "multilabel_accuracy",
        "multilabel_accuracy_strict",
        "multilabel_accuracy_micro",
        "top1_accuracy_original",
    ),
    "imagenet_m": ("imagenet_m_correct",),
    # Top-1 on all 50,000 images and ReaL are not metrics of the labels dataset: the card's table
    # shows them, the model-index does not claim them.
    "full": (),
}
_PERCENT_KEYS = {key for key, _, style in results.SUMMARY_ROWS if style == "pct"}


class HubResultsError(ToolkitError):
    """The results cannot go to the Hub as asked; the message says why and what to do."""


def model_index(document: Mapping[str, Any], *, model_name: str | None = None) -> list[dict]:
    """The ``model-index`` card metadata; refuses results that are not the benchmark's numbers.

    ``model_name`` defaults to the document's model id (the folder name for a local model).
    """
    _check_publishable(document)
    return _card_data(document, model_name).to_dict()["model-index"]


def eval_results_files(document: Mapping[str, Any]) -> dict[str, str]:
    """``.eval_results`` YAML files of the model repo, path in repo -> content; refuses like
    `model_index`."""
    _check_publishable(document)
    return _eval_results_files(document)


def model_card_section(document: Mapping[str, Any]) -> str:
    """The markdown results section for the model card; partial or unverified results say so."""
    _metrics(document)
    labels = document.get("labels", {})
    model = document.get("model")
    environment = document.get("environment", {})
    splits, rows = results.metric_rows(document)
    packages = environment.get("packages", {})
    template = jinja2.Template(
        read_template("model_card_results.md"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    return template.render(
        benchmark_name=PRETTY_NAME,
        warnings=results.publication_problems(document),
        splits=splits,
        rows=rows,
        dataset=dict(zip(("id", "revision"), _labels_dataset(document), strict=True)),
        labels={
            "version": labels.get("version"),
            "sha256": labels.get("sha256"),
            "verified": labels.get("verified") is True,
        },
        model={key: model.get(key) for key in ("id", "revision", "kind")} if model else None,
        preprocessing=_compact_json(model.get("preprocessing")) if model else None,
        label_mapping=_compact_json(model.get("label_mapping")) if model else None,
        created_at=environment.get("created_at"),
        packages=[f"{name} {version}" for name, version in packages.items() if version],
        command=_command_line(environment.get("command")),
    )


def write_card_files(document: Mapping[str, Any], output_dir: str | Path) -> list[Path]:
    """Write the model-index, ``.eval_results`` and markdown files for users to paste or upload.

    Written whatever the results; when they are not the benchmark's numbers (partial, incomplete,
    unverified labels) each file says so at its top.
    """
    output_dir = Path(output_dir)
    problems = results.publication_problems(document)
    warning = "".join(f"# NOT FOR THE HUB: {problem}\n" for problem in problems)
    metadata_yaml = _card_data(document, None).to_yaml()
    contents = {
        MODEL_INDEX_FILE: f"{warning}{metadata_yaml}\n",
        **{path: warning + text for path, text in _eval_results_files(document).items()},
        CARD_SECTION_FILE: model_card_section(document),
    }
    written = []
    for relative_path, text in contents.items():
        path = output_dir / relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
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
    token = token or get_token()
    if token is None:
        raise HubResultsError(
            f"pushing results to {target!r} needs a Hugging Face token with write access: run "
            "`hf auth login` or set the HF_TOKEN environment variable (or use --dry-run)"
        )
    try:
        commit = metadata_update(
            target,
            metadata,
            overwrite=True,
            create_pr=True,
            token=token,
            commit_message=title,
            commit_description=description,
        )
    except HUB_ERRORS as error:
        raise HubResultsError(
            f"could not open a pull request on {target!r}: {error}; nothing was changed there"
        ) from error
    try:
        HfApi(token=token).create_commit(
            target,
            operations=[
                CommitOperationAdd(path_in_repo=path, path_or_fileobj=text.encode("utf-8"))
                for path, text in files.items()
            ],
            commit_message=f"Add {', '.join(files)}",
            revision=commit.pr_revision,
        )
    except HUB_ERRORS as error:
        raise HubResultsError(
            f"opened {commit.pr_url} with the model-index update, but adding "
            f"{', '.join(files)} to it failed ({error}); upload them to revision "
            f"{commit.pr_revision} from {Path(output_dir)} or close the pull request"
        ) from error
    results.write_json(
        Path(output_dir) / PUSH_RECORD_FILE,
        {"repo_id": target, "pull_request": commit.pr_url, "files": ["README.md", *files]},
    )
    return commit.pr_url


def _metrics(document: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    metrics = document.get("metrics")
    if not metrics:
        raise HubResultsError("the results document has no 'metrics': nothing to report")
    unknown = [split for split in metrics if split not in MODEL_INDEX_METRICS]
    if unknown:
        raise HubResultsError(
            f"the results document has unknown split(s) {unknown}; expected "
            f"{list(MODEL_INDEX_METRICS)}"
        )
    return metrics


def _check_publishable(document: Mapping[str, Any]) -> None:
    problems = results.publication_problems(document)
    if problems:
        raise HubResultsError(
            "refusing to make Hub evaluation metadata from these results: "
            + "; ".join(problems)
            + ". Only complete results on the published labels are the benchmark's numbers."
        )


def _card_data(document: Mapping[str, Any], model_name: str | None) -> ModelCardData:
    metrics = _metrics(document)
    dataset_id, dataset_revision = _labels_dataset(document)
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


def _eval_results_files(document: Mapping[str, Any]) -> dict[str, str]:
    metrics = _metrics(document)
    dataset_id, dataset_revision = _labels_dataset(document)
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
        raise HubResultsError(
            f"the results document lacks metric {key!r} of split {split!r}; expected the keys of "
            "metric.scoring.score"
        ) from None
    return round(100 * float(value), 2) if key in _PERCENT_KEYS else int(value)


def _metric_name(split_metrics: Mapping[str, Any], key: str) -> str:
    if key == "imagenet_m_correct":
        return f"ImageNet-M correct (of {split_metrics['imagenet_m_total']})"
    return f"{results.metric_label(key, official=True)}, %"


def _labels_dataset(document: Mapping[str, Any]) -> tuple[str, str | None]:
    """Hub id and commit of the labels dataset: the one ``--labels ORG/NAME`` downloaded (only
    those labels carry a ``revision``), else `DEFAULT_DATASET_ID` at no particular commit."""
    labels = document.get("labels", {})
    if labels.get("revision"):
        return labels["source"], labels["revision"]
    return DEFAULT_DATASET_ID, None


def _model(document: Mapping[str, Any]) -> Mapping[str, Any]:
    model = document.get("model")
    if not model or not model.get("id"):
        raise HubResultsError(
            "the results document names no model ('model.id'; results of `score` have none): "
            "pass the Hub model repository id"
        )
    return model


def _is_local(model_id: str) -> bool:
    """A folder on disk, or a string that cannot be a Hub repo id."""
    if Path(model_id).exists():
        return True
    try:
        validate_repo_id(model_id)
    except HFValidationError:
        return True
    return False


def _model_name(document: Mapping[str, Any]) -> str:
    model_id = _model(document)["id"]
    return Path(model_id).name if _is_local(model_id) else model_id


def _target_repo(document: Mapping[str, Any], repo_id: str | None) -> str:
    return check_target_repo(_model(document)["id"], repo_id)


def check_target_repo(model_id: str, repo_id: str | None) -> str:
    """The model repository that receives the results: ``repo_id`` if given, else the model's
    own Hub id; a local model needs ``repo_id``. Checked before a run starts."""
    if repo_id is not None:
        try:
            validate_repo_id(repo_id)
        except HFValidationError as error:
            raise HubResultsError(
                f"--hub-repo-id {repo_id!r} is not a Hub model repository id (ORG/NAME): {error}"
            ) from None
        return repo_id
    if _is_local(model_id):
        raise HubResultsError(
            f"the model {Path(model_id).name!r} is a local path, not a Hub repository: pass "
            "--hub-repo-id ORG/NAME to name the model repository that should receive the results"
        )
    return model_id


def _compact_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def _command_line(command: list[str] | None) -> str | None:
    """The recorded argv as a shell line for a public card: local paths (`--images /home/...`)
    are cut to their last component."""
    if not command:
        return None
    program = shlex.quote(command[0])
    arguments = [Path(arg).name if os.path.isabs(arg) else arg for arg in command[1:]]
    return " ".join([program, *map(shlex.quote, arguments)])


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

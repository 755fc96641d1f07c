"""Many models in one launch (`evaluate_models`, ``run --model A --model B``, ``--models FILE``)
and one (`evaluate_model`, the same path with one model): the model specs, the models file, each
model's output folder, and the table a sweep ends with.

Labels and images are prepared once per launch; each model then runs exactly as a single run,
into its own folder, except that models whose preprocessing gives the same uint8 pixels share
one decode of each batch (`run.evaluate_launch`). The keyword options of both functions are
`RunOptions`' fields.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...dataset_script.labels.loading import Labels, LabelSource
from ...metric.errors import (
    ToolkitError,
    brief_repr,
    expect_path,
    first_few,
    named,
    text_file_lines,
)
from ..frame import (
    CATEGORIZER_MODEL,
    FILE,
    FOLDER,
    IMAGES,
    LABEL_FILES,
    LABEL_SET_FILES,
    SOURCE,
    Options,
    Read,
    Subfolders,
    Write,
    command,
)
from ..models import KINDS, ModelLoadError, hub_model_id, local_model_folder, model_id_problem
from ..outputs import IDENTITY_FILE, PREDICTIONS_FILE, RESULTS_FILE, folder_name, model_folder
from ..scores import hub, results
from ..scores.results import OFFICIAL_KEY, format_cell
from .run import evaluate_launch
from .run_options import RunOptions


@dataclass(frozen=True)
class ModelSpec:
    """One model to evaluate: a Hub id or local folder, with an optional revision and kind
    (one of `eval_cli.models.KINDS`; detected from the model's config when None)."""

    model: str
    revision: str | None = None
    kind: str | None = None

    def __post_init__(self) -> None:
        problem = model_id_problem(self.model)  # a name that can be no model, wherever read
        if problem is not None:
            raise ModelLoadError(f"{named('model')} {problem}")
        if self.revision is not None and (not isinstance(self.revision, str) or not self.revision):
            raise ModelLoadError(
                f"revision of {brief_repr(self.model)}: expected a branch, tag or commit, got "
                f"{brief_repr(self.revision)}"
            )
        if self.kind is not None and self.kind not in KINDS:
            raise ModelLoadError(
                f"kind of {brief_repr(self.model)}: expected one of {', '.join(KINDS)} or None "
                f"(detected), got {brief_repr(self.kind)}"
            )

    @property
    def name(self) -> str:
        """How reports name it: the model, with ``@<revision>`` when one is given."""
        return f"{self.model}@{self.revision}" if self.revision else self.model

    def output_dir(self, parent: str | os.PathLike | None) -> Path:
        """Its folder in a sweep: ``parent/<model name>`` (parent default ``eval_results``), with
        ``@<revision>`` when one is given, so that two revisions never share a folder."""
        name = _model_folder_name(self.model)
        if self.revision:
            name = f"{name}@{folder_name(self.revision)}"
        return model_folder(
            Path(parent or "eval_results"),
            name,
            self.model,
            f"evaluate that model on its own, naming its output folder with "
            f"{named('output_dir', 'DIR')}",
        )


Outcome = tuple[ModelSpec, "dict[str, Any] | ToolkitError | None"]


_MODELS_FILE_LINE = f"MODEL [revision=REVISION] [kind={'|'.join(KINDS)}]"


def read_models_file(path: str | os.PathLike) -> list[ModelSpec]:
    """The models of a ``--models`` file: one a line, ``MODEL [revision=REV] [kind=KIND]``
    (e.g. ``timm/resnet50.a1_in1k revision=main kind=timm``); ``#`` starts a comment."""
    path = Path(path)
    lines = text_file_lines(path, "models file", "a text file", ToolkitError)
    specs, problems = [], []
    for number, line in enumerate(lines, start=1):
        words = line.split("#", 1)[0].split()
        problem = model_id_problem(words[0]) if words else None
        if problem is not None:  # a name that can be no model
            problems.append(f"line {number}: model {problem}")
            continue
        spec = _model_line(words) if words else None
        if spec is not None:
            specs.append(spec)
        elif words:
            problems.append(f"line {number}: {line.strip()}")
    if problems:
        raise ToolkitError(
            f"models file {str(path)!r}: {len(problems)} line(s) not of the form "
            f"{_MODELS_FILE_LINE!r} or naming no model (first: {first_few(problems)})"
        )
    if not specs:
        raise ToolkitError(
            f"models file {str(path)!r} names no model; expected {_MODELS_FILE_LINE}"
        )
    return specs


def _as_specs(
    models: Sequence[str | ModelSpec], models_file: str | os.PathLike | None = None
) -> list[ModelSpec]:
    """``evaluate_models``' list of models as specs, then those of ``models_file``; one string
    is not a list of characters."""
    if isinstance(models, str | bytes | os.PathLike) or not isinstance(models, Sequence):
        raise ModelLoadError(
            f"models: expected a list of Hub model ids, local folders or ModelSpec, got "
            f"{type(models).__name__} {brief_repr(models)}; for one model pass [model] or call "
            "evaluate_model"
        )
    wrong = [model for model in models if not isinstance(model, str | ModelSpec)]
    if wrong:
        raise ModelLoadError(
            f"models: expected Hub model ids, local folders or ModelSpec, got {len(wrong)} other "
            f"value(s): {first_few(map(brief_repr, wrong))}"
        )
    specs = [model if isinstance(model, ModelSpec) else ModelSpec(model) for model in models]
    if models_file is not None:
        specs += read_models_file(expect_path(models_file, "models_file"))
    if not specs:
        raise ModelLoadError(
            f"no model to evaluate; expected {named('models', 'MODEL')} (repeatable) or "
            f"{named('models_file', 'FILE')}"
        )
    return specs


def _model_line(words: Sequence[str]) -> ModelSpec | None:
    """``MODEL [revision=REV] [kind=KIND]``, split into words; None for anything else."""
    model, *options = words
    given: dict[str, str] = {}
    for option in options:
        key, equals, value = option.partition("=")
        if not equals or not value or key not in ("revision", "kind") or key in given:
            return None
        given[key] = value
    if given.get("kind", KINDS[0]) not in KINDS:
        return None
    return ModelSpec(model, given.get("revision"), given.get("kind"))


def default_output_dir(model: str) -> Path:
    """``eval_results/<name>``: a local folder by its own name, a Hub id as ``ORG--NAME``."""
    return model_folder(
        Path("eval_results"),
        _model_folder_name(model),
        model,
        f"choose its output folder with {named('output_dir', 'DIR')}",
    )


def _default_output_dir(model: object) -> Path | None:
    """`default_output_dir` for the frame, which sees the model before it is checked."""
    return default_output_dir(model) if isinstance(model, str) and model else None


def _model_folder_name(model: str) -> str:
    folder = local_model_folder(model)
    return folder_name(folder.resolve().name if folder is not None else model.strip("/"))


def sweep_report(outcomes: Sequence[Outcome], parent: str | os.PathLike | None) -> str:
    """The table a sweep ends with: each model's status, main numbers and folder, then the
    errors in full."""
    rows, errors = [], []
    for spec, outcome in outcomes:
        name = spec.name
        metrics = outcome["metrics"] if isinstance(outcome, dict) else {}
        cells = [
            format_cell(metrics[split], key) if split in metrics else "-"
            for split, key in (("validation", OFFICIAL_KEY), ("imagenet_m", "imagenet_m_correct"))
        ]
        if isinstance(outcome, dict):
            flags = results.problem_flags(outcome)
            status = f"ok, not official: {', '.join(flags)}" if flags else "ok, official"
        else:
            status = f"failed ({type(outcome).__name__})"
        rows.append([name, status, *cells, str(spec.output_dir(parent))])
        if isinstance(outcome, ToolkitError):
            errors.append(f"{name}: {outcome}")
    header = ["Model", "Status", "Multi-label accuracy", "ImageNet-M", "Output"]
    return "\n".join([*results.text_table(header, rows), *errors])


def evaluation_declarations(**output_dir: Any) -> tuple[Read, Options, Options]:
    """What a command that evaluates models reads and writes besides its models: the images, the
    labels, and `RunOptions` (its ``output_dir`` a folder written, declared by ``output_dir``'s
    keywords to `Write`)."""
    return IMAGES, LABEL_FILES, _run_options(Write("output_dir", FOLDER, **output_dir))


def _run_options(output_dir: Write) -> Options:
    """`RunOptions` as the frame sees it (also as the function's keywords): the label sets'
    files and the categorizer's model read, the decoded cache and ``output_dir`` written (the
    cache whole: no input may lie inside it), every other option plain."""
    return Options(
        "options",
        RunOptions,
        (
            LABEL_SET_FILES,
            CATEGORIZER_MODEL,
            Write("decoded_cache", FOLDER, writes=None),
            output_dir,
        ),
        plain=(
            "split",
            "limit",
            "images_split",
            "skip_image_check",
            "allow_unverified_label_set_files",
            "trust_remote_code",
            "zero_shot_prompts",
            "batch_size",
            "num_workers",
            "mixed_precision",
            "channels_last",
            "preprocess_on",
            "decode_on",
            "compile",
            "cpu",
            "push_to_hub",
            "hub_repo_id",
            "dry_run",
        ),
        keywords=True,
    )


# What a run's folder holds: written, and read back when a run resumes; locked while it runs.
RUN_FOLDER_WRITES = (PREDICTIONS_FILE, RESULTS_FILE, IDENTITY_FILE, *hub.WRITTEN_FILES)
RUN_FOLDER_READS_BACK = (PREDICTIONS_FILE, IDENTITY_FILE)
_RUN_FOLDER = {"writes": RUN_FOLDER_WRITES, "reads_back": RUN_FOLDER_READS_BACK, "locked": True}
_MODEL = "a local model folder (config.json and weights) or a Hub model id"


def _model_path(model: str | ModelSpec) -> Any:
    return model.model if isinstance(model, ModelSpec) else model


@command(
    Read("model", SOURCE, expected=_MODEL, whole=True, hub_id=hub_model_id),
    *evaluation_declarations(
        default=lambda values: _default_output_dir(values["model"]), **_RUN_FOLDER
    ),
    plain=("revision", "kind"),
)
def evaluate_model(
    model: str,
    images: str | os.PathLike,
    *,
    labels: Labels | LabelSource | None = None,
    options: RunOptions | None = None,
    revision: str | None = None,
    kind: str | None = None,
    **option_keywords: Any,
) -> dict[str, Any] | None:
    """Evaluate ``model`` (Hub id or local folder; ``revision``, ``kind`` as in `ModelSpec`) on
    the validation ``images`` (tar, folder or Hugging Face dataset) and return the results
    document (on the main process; None on the others). ``labels``: ready `Labels`, a
    `LabelSource`, or None (the published file). ``options`` and ``option_keywords``: the
    `RunOptions` (keywords change the given ones). Writes ``results.json``, ``predictions.jsonl``
    (resumable) and the model-card files into ``output_dir`` (default
    ``eval_results/<model name>``).
    """
    expect_path(images, "images")
    options = _options(options, option_keywords)
    spec = ModelSpec(model, revision, kind)
    output_dir = Path(options.output_dir) if options.output_dir else default_output_dir(model)
    ((_, document),) = evaluate_launch(
        [spec], [output_dir], os.fspath(images), labels, options, keep_going=False
    )
    return document


def _output_dirs(specs: Sequence[ModelSpec], parent: str | os.PathLike | None) -> list[Path]:
    """Each model's folder under ``parent``: one per model (and revision)."""
    output_dirs = [spec.output_dir(parent) for spec in specs]
    shared = sorted(str(path) for path, count in Counter(output_dirs).items() if count > 1)
    if shared:
        raise ToolkitError(
            f"{len(shared)} output folder(s) would be written by several models (first: "
            f"{first_few(shared)}); expected each model, or each revision of it, once"
        )
    return output_dirs


def _sweep_folders(values: Mapping[str, Any]) -> list[Path]:
    """Each model's folder under ``output_dir``, for the frame to examine and lock."""
    return _output_dirs(_as_specs(values["models"], values["models_file"]), values["output_dir"])


@command(
    Read(
        "models",
        SOURCE,
        expected=_MODEL,
        whole=True,
        many=True,
        path_of=_model_path,
        hub_id=hub_model_id,
    ),
    Read("models_file", FILE, expected="a models file, one model a line"),
    *evaluation_declarations(subfolders=Subfolders(_sweep_folders, **_RUN_FOLDER)),
)
def evaluate_models(
    models: Sequence[str | ModelSpec],
    images: str | os.PathLike,
    *,
    labels: Labels | LabelSource | None = None,
    options: RunOptions | None = None,
    models_file: str | os.PathLike | None = None,
    **option_keywords: Any,
) -> list[Outcome]:
    """Evaluate several models (ids, folders or `ModelSpec`, then each line of ``models_file``)
    in one launch: labels loaded and images located once, then each model exactly as
    `evaluate_model` runs it (resume and lock included) into its own folder
    ``ModelSpec.output_dir(output_dir)``. A model that fails with a ToolkitError (it does not
    load, its label space is not ImageNet's, its folder holds another run, images fail to
    decode) is reported on stderr and the others go on; labels that do not load or images
    missing from the source stop the launch before any model runs.

    Returns ``(model, outcome)`` per model, in order, on every process: the results document
    (None on processes other than the main one) or the error.
    """
    expect_path(images, "images")
    options = _options(options, option_keywords)
    specs = _as_specs(models, models_file)
    options.check_models(len(specs))
    output_dirs = _output_dirs(specs, options.output_dir)
    return evaluate_launch(specs, output_dirs, os.fspath(images), labels, options, keep_going=True)


def _options(options: RunOptions | None, option_keywords: dict[str, Any]) -> RunOptions:
    """The API's keywords mapped into `RunOptions` once, over ``options`` when given (the
    options given are used as they are when there are no keywords)."""
    if options is not None and not isinstance(options, RunOptions):
        raise ToolkitError(
            f"options: expected RunOptions or None, got {type(options).__name__} "
            f"{brief_repr(options)}"
        )
    return (options or RunOptions()).replaced(**option_keywords)

"""``analyze_predictions``, the API behind ``imagenet-multilabel analyze``: look at the mistakes.

Scores a predictions file exactly as ``score`` does (`eval_cli.score`), then writes into the
output folder (the command's default: ``analysis/`` next to the predictions file)::

    results.json      the results document, with its ``mistakes`` block
    mistakes.jsonl    one record per rejected prediction (`eval_cli.analysis`), with its
                      automatic category in the paper's taxonomy and the evidence for it
    review/index.html the review page (`eval_cli.review`), thumbnails with ``images``

With ``images`` and a ``categorizer`` (``eval_cli.models.ImageCategorizer``, a CLIP-like model)
the taxonomy's two image rules look at the mistakes' images too.

Every file goes through `eval_cli.outputs`: an output that would replace one of the inputs is
refused before anything is written, each file is written whole or not at all, and the output
folder is locked while the command works in it, so two ``analyze`` never mix their files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...dataset_script import escape
from ...dataset_script.annotations.download import sha256_of_file
from ...dataset_script.annotations.published import PUBLISHED_URL
from ...dataset_script.label_sets import chosen_splits, load_label_sets
from ...dataset_script.labels.loading import Labels, LabelSource, resolve_labels
from ...dataset_script.taxonomy.categories import ImageRuleMaker
from ...metric.errors import ToolkitError, expect_count, expect_path, expect_text
from .. import outputs
from ..outputs import IDENTITY_FILE, PREDICTIONS_FILE, RESULTS_FILE
from ..scores import results
from ..scores.predictions import Predictions, read_predictions
from ..scores.score import score_and_analyze
from .review import REVIEW_FOLDER, THUMBNAIL_FOLDER, page_path, write_review_page, write_thumbnails

ANALYSIS_FOLDER = "analysis"  # the command's default output, next to the predictions
MISTAKES_FILE = "mistakes.jsonl"  # one JSON object per rejected prediction


def analyze_predictions(
    predictions: str | os.PathLike | Predictions,
    *,
    output_dir: str | os.PathLike,
    split: str = "all",
    labels: Labels | LabelSource | None = None,
    limit: int | None = None,
    images: str | None = None,
    images_split: str | None = None,
    categorizer: ImageRuleMaker | None = None,
    title: str | None = None,
    other_inputs: Mapping[str, str | os.PathLike | None] | None = None,
) -> dict[str, Any]:
    """Score and analyze ``predictions``; write the three outputs; return the results document.

    ``labels`` as `score_predictions` takes them. ``images``: an image source
    (`dataset_script.images`) for the review page's thumbnails and, with ``categorizer``
    (``eval_cli.models.ImageCategorizer``), for the taxonomy's image rules. ``title`` heads
    the page (default: the predictions file's name). ``other_inputs`` (option name -> path) are
    further files the caller read, such as a run folder's ``results.json``: no output may
    replace them.
    """
    if not isinstance(predictions, Predictions):
        expect_path(predictions, "analyze_predictions(predictions=...)")
    expect_path(output_dir, "analyze_predictions(output_dir=...)")
    expect_text(split, "analyze_predictions(split=...)")
    expect_count(limit, "analyze_predictions(limit=...)", optional=True)
    expect_path(images, "analyze_predictions(images=...)", optional=True)
    for name, value in (("images_split", images_split), ("title", title)):
        expect_text(value, f"analyze_predictions({name}=...)", optional=True)
    if categorizer is not None and images is None:
        raise ToolkitError(
            "`categorizer` needs `images`: the taxonomy's image rules look at the mistakes' images"
        )
    output = Path(output_dir)
    source = Path(predictions.source if isinstance(predictions, Predictions) else predictions)
    label_files = labels if isinstance(labels, LabelSource) else LabelSource()
    _refuse_outputs_over_inputs(
        output,
        {
            "`predictions`": source,
            **_run_folder_files(source.parent),
            **outputs.label_inputs(label_files),
            "`images`": images,
            **(other_inputs or {}),
        },
    )
    with outputs.exclusive_directory(output):
        if not isinstance(predictions, Predictions):
            predictions = read_predictions(predictions)
        labels = resolve_labels(labels)
        image_rules = None
        if categorizer is not None:
            from ...dataset_script.images.choose import open_image_source  # imports `datasets`

            image_rules = categorizer.image_rules(open_image_source(images, split=images_split))
        loaded = load_label_sets(chosen_splits(split), labels)  # the shipped label sets
        document, analysis = score_and_analyze(
            predictions,
            labels,
            loaded,
            split,
            limit=limit,
            image_rules=image_rules,
        )
        records = analysis.records()
        review_folder = page_path(output).parent
        if images is not None:  # before any result: a source that cannot be read writes nothing
            write_thumbnails(
                review_folder, [r["file_name"] for r in records], images, images_split=images_split
            )
        written: list[str] = []
        try:
            outputs.write_json(output / RESULTS_FILE, document)
            written.append(RESULTS_FILE)
            outputs.write_lines(output / MISTAKES_FILE, map(json.dumps, records))
            written.append(MISTAKES_FILE)
            write_review_page(
                output,
                records,
                labels=document["labels"],
                title=title or f"Mistakes of {source.name}",
            )
        except outputs.OutputWriteError as error:
            if not written:
                raise
            raise outputs.OutputWriteError(
                f"{error}. This run already replaced {' and '.join(written)} in "
                f"{str(output)!r}, so that folder now mixes this run's files with an earlier "
                "run's: run the same command again before reading it"
            ) from error
    return document


def _run_folder_files(folder: Path) -> dict[str, Path]:
    """The files of a `run` folder (one holding results or a run's identity next to the
    predictions): the run's record, none of them an output. Its subfolders (``analysis/``, the
    default output) are not the run's."""
    if not ((folder / RESULTS_FILE).is_file() or (folder / IDENTITY_FILE).is_file()):
        return {}
    return outputs.folder_inputs("run folder", folder, recursive=False)


def _refuse_outputs_over_inputs(
    output: Path, inputs: Mapping[str, str | os.PathLike | None]
) -> None:
    """Refuse, before anything is written, an output folder that is an input, or whose files
    (results, mistakes, the page, the thumbnails folder) would replace one."""
    review = output / REVIEW_FOLDER
    outputs.refuse_overwriting_inputs(
        {
            "`output_dir`": output,
            f"`output_dir`'s {RESULTS_FILE}": output / RESULTS_FILE,
            f"`output_dir`'s {MISTAKES_FILE}": output / MISTAKES_FILE,
            "`output_dir`'s review page": page_path(output),
            "`output_dir`'s review folder": review,
            "`output_dir`'s thumbnails": review / THUMBNAIL_FOLDER,
        },
        inputs,
    )


@dataclass(frozen=True)
class RunDirInputs:
    """What ``analyze --run-dir`` takes from a `run` output folder."""

    predictions: Path
    results: Path | None  # None: the run has not written its results (still going, or killed)
    title: str
    # Where the run's own labels come from: the published labels (the default) when it recorded
    # them, or when it wrote no results.
    labels: LabelSource = LabelSource()
    labels_description: str = "the published labels (the default)"


def run_dir_inputs(run_dir: str | os.PathLike, *, recorded_labels: bool = True) -> RunDirInputs:
    """A `run` output folder's predictions file, its results file, a page title naming its model
    (Hub id, or a local model's folder name) and, with ``recorded_labels``, the labels the run
    scored with (without: the caller has its own labels, and the run's are not looked for)."""
    folder = Path(run_dir)
    if not folder.is_dir():
        raise ToolkitError(f"--run-dir {str(folder)!r} is not a directory; expected `run`'s output")
    predictions = folder / PREDICTIONS_FILE
    results_path = folder / RESULTS_FILE
    fallback_title = f"Mistakes of {folder.resolve().name}"
    if not results_path.is_file():  # a run still going, or killed: its predictions still count
        return RunDirInputs(predictions, None, fallback_title)
    document = results.read_document(results_path)
    model = document.get("model")
    model_id = model.get("id") if isinstance(model, dict) else None
    title = (
        f"Mistakes of {escape.public_model_name(model_id, local=model.get('local') is True)}"
        if isinstance(model_id, str) and model_id
        else fallback_title
    )
    recorded = document.get("labels")
    if not recorded_labels or not isinstance(recorded, dict):
        return RunDirInputs(predictions, results_path, title)
    labels, description = run_labels(recorded, document, folder, results_path)
    return RunDirInputs(predictions, results_path, title, labels, description)


def run_labels(
    recorded: Mapping[str, Any],
    document: Mapping[str, Any],
    run_dir: Path,
    results_path: Path,
) -> tuple[LabelSource, str]:
    """The ``LabelSource`` of the labels a run recorded (its results' ``labels``), and
    those labels in words. The annotation file and each patch must still be where the run read
    them (patches: as named on its command line, or in the run folder) with the recorded
    sha256; otherwise the labels options are needed, and the error says which."""
    source = recorded.get("source")
    if not isinstance(source, str) or not source:
        raise _labels_not_found(results_path, "it records no labels source")
    patches = [
        _recorded_patch(entry, document, run_dir, results_path)
        for entry in recorded.get("patches") or []
    ]
    patch_words = f", patched with {', '.join(p.name for p in patches)}" if patches else ""
    if "annotations_source" in recorded:  # a labels dataset, local or on the Hub
        return (
            LabelSource(dataset=source, patches=tuple(patches)),
            f"the run's labels dataset {escape.public_model_name(source)}{patch_words}",
        )
    if source == PUBLISHED_URL:
        return LabelSource(patches=tuple(patches)), f"the published labels{patch_words}"
    path = Path(source)
    if not path.is_file() or sha256_of_file(path) != recorded.get("sha256"):
        raise _labels_not_found(
            results_path,
            f"its annotation file {source!r} is not here with the recorded sha256 "
            f"{recorded.get('sha256')}; pass --annotations PATH",
        )
    verified = recorded.get("base_verified", recorded.get("verified")) is True
    return (
        LabelSource(annotations=path, allow_unverified=not verified, patches=tuple(patches)),
        f"the run's annotation file {path.name}{patch_words}",
    )


def _recorded_patch(
    entry: Any, document: Mapping[str, Any], run_dir: Path, results_path: Path
) -> Path:
    """Where a patch the run applied is now: the absolute path the run recorded, a path of its
    command line, or the run folder, holding a file of that name and sha256."""
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise _labels_not_found(results_path, f"a recorded patch is not an object: {entry!r:.200}")
    name, sha256 = entry["file"], entry.get("sha256")
    command = (document.get("environment") or {}).get("command") or []
    recorded = (document.get("run") or {}).get("label_patch_paths") or []
    given = [part.split("=", 1)[-1] for part in [*recorded, *command] if isinstance(part, str)]
    for candidate in [*(Path(p) for p in given if Path(p).name == name), run_dir / name]:
        if candidate.is_file() and sha256_of_file(candidate) == sha256:
            return candidate
    raise _labels_not_found(
        results_path,
        f"its label patch {name!r} (sha256 {sha256}) is neither where its command line named it "
        "nor in the run folder; pass --label-patch PATH",
    )


def _labels_not_found(results_path: Path, why: str) -> ToolkitError:
    return ToolkitError(
        f"cannot reuse the labels the run recorded in {str(results_path)!r}: {why}; label "
        "options given to analyze are used instead of the run's"
    )

"""``analyze_predictions``, the API behind ``imagenet-multilabel analyze``: look at the mistakes.

Scores a predictions file exactly as ``score`` does (`eval_cli.score`), then writes into the
output folder (default: ``analysis/`` in the run folder or next to the predictions file)::

    results.json      the results document, with its ``mistakes`` block
    mistakes.jsonl    one record per rejected prediction (`eval_cli.analysis`), with its
                      automatic category in the paper's taxonomy and the evidence for it
    review/index.html the review page (`eval_cli.review`), thumbnails with ``images``

With ``images`` and a ``categorizer`` (``eval_cli.models.ImageCategorizer``, a CLIP-like model)
the taxonomy's two image rules look at the mistakes' images too.

Its files are declared to the command frame (`eval_cli.frame`): an output that would replace
one of the inputs is refused before anything is written, and the output folder is locked while
the command works in it, so two ``analyze`` never mix their files; each file is written whole
or not at all (`eval_cli.outputs`).
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
from ...dataset_script.hub.ids import hub_repo_id_problem
from ...dataset_script.images.choose import ImageOptions
from ...dataset_script.label_sets import chosen_splits, load_label_sets
from ...dataset_script.labels.loading import Labels, LabelSource, resolve_labels
from ...dataset_script.taxonomy.categories import ImageRuleMaker
from ...metric.errors import (
    ToolkitError,
    brief_repr,
    expect_count,
    expect_path,
    expect_text,
    named,
)
from .. import outputs
from ..choices import LABEL_SPLIT_CHOICES, check_choice
from ..frame import FILE, FOLDER, LABEL_FILES, MISTAKE_IMAGES, Read, Write, command
from ..outputs import IDENTITY_FILE, PREDICTIONS_FILE, RESULTS_FILE
from ..scores import results_document
from ..scores.predictions import Predictions, read_predictions
from ..scores.score import PREDICTIONS_EXPECTED, label_files_of, score_and_analyze
from .review import REVIEW_FOLDER, THUMBNAILS_FILE, page_path, write_review_page, write_thumbnails

ANALYSIS_FOLDER = "analysis"  # the default output, in the run folder or next to the predictions
MISTAKES_FILE = "mistakes.jsonl"  # one JSON object per rejected prediction


def default_output_dir(values: Mapping[str, Any]) -> Path | None:
    """``analysis/`` in the run folder, or next to the predictions file."""
    run_dir, predictions = values.get("run_dir"), values.get("predictions")
    if isinstance(run_dir, str | os.PathLike):
        return Path(run_dir) / ANALYSIS_FOLDER
    if isinstance(predictions, Predictions):
        predictions = predictions.source
    if isinstance(predictions, str | os.PathLike):
        return Path(predictions).parent / ANALYSIS_FOLDER
    return None


@command(
    # A run's record next to its predictions is an input too: never written over.
    Read("predictions", FILE, expected=PREDICTIONS_EXPECTED, beside=(RESULTS_FILE, IDENTITY_FILE)),
    Read(
        "run_dir",
        FOLDER,
        expected="a `run` output folder",
        needs=(PREDICTIONS_FILE,),
        may=(RESULTS_FILE, IDENTITY_FILE),
    ),
    LABEL_FILES,
    *MISTAKE_IMAGES,
    Write(
        "output_dir",
        FOLDER,
        writes=(RESULTS_FILE, MISTAKES_FILE, f"{REVIEW_FOLDER}/"),
        reads_back=(f"{REVIEW_FOLDER}/{THUMBNAILS_FILE}",),
        locked=True,
        default=default_output_dir,
    ),
    plain=("split", "limit", "images_split", "title"),
)
def analyze_predictions(
    predictions: str | os.PathLike | Predictions | None = None,
    *,
    run_dir: str | os.PathLike | None = None,
    output_dir: str | os.PathLike | None = None,
    split: str = "all",
    labels: Labels | LabelSource | None = None,
    limit: int | None = None,
    images: str | os.PathLike | None = None,
    images_split: str | None = None,
    categorizer: ImageRuleMaker | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """Score and analyze ``predictions`` (a file, or read ``Predictions``) or the predictions of
    the `run` folder ``run_dir``; write results.json, mistakes.jsonl and the review page into
    ``output_dir`` (default: ``analysis/`` in the run folder or next to the predictions file);
    return the results document.

    ``labels`` as `score_predictions` takes them; with ``run_dir`` and no labels given, the
    labels the run recorded. ``images``: an image source (`dataset_script.images`) for the review
    page's thumbnails and, with ``categorizer`` (``eval_cli.models.ImageCategorizer``), for the
    taxonomy's image rules. ``title`` heads the page (default: the model, or the file's name).
    """
    if (predictions is None) == (run_dir is None):
        raise ToolkitError(
            f"analyze needs {named('predictions')} or {named('run_dir')} (one of them); got "
            f"{'both' if predictions is not None else 'neither'}"
        )
    if not isinstance(predictions, Predictions):
        expect_path(predictions, "predictions", optional=True)
    expect_path(run_dir, "run_dir", optional=True)
    expect_path(output_dir, "output_dir", optional=True)
    expect_text(split, "split")
    expect_count(limit, "limit", optional=True)
    expect_path(images, "images", optional=True)
    for name, value in (("images_split", images_split), ("title", title)):
        expect_text(value, name, optional=True)
    if categorizer is not None and images is None:
        raise ToolkitError(
            f"{named('categorizer')} needs {named('images')}: the taxonomy's image rules look at "
            "the mistakes' images"
        )
    check_choice(split, "split", LABEL_SPLIT_CHOICES)
    ImageOptions(images, images_split)
    if run_dir is not None:
        given = labels is not None and (not isinstance(labels, LabelSource) or labels.given)
        run = run_dir_inputs(run_dir, recorded_labels=not given)
        predictions, title = run.predictions, title or run.title
        labels = labels if given else run.labels
    output = Path(output_dir or default_output_dir({"predictions": predictions}))
    source = Path(predictions.source if isinstance(predictions, Predictions) else predictions)
    if not isinstance(predictions, Predictions):
        predictions = read_predictions(predictions)
    label_files = label_files_of(labels)
    labels = resolve_labels(labels, chosen_splits(split))
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
        label_files=label_files,
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


@dataclass(frozen=True)
class RunDirInputs:
    """What ``analyze --run-dir`` takes from a `run` output folder."""

    predictions: Path
    title: str
    # The labels the run scored with: the published labels (the default) when it recorded none,
    # or when it wrote no results.
    labels: LabelSource = LabelSource()


def run_dir_inputs(run_dir: str | os.PathLike, *, recorded_labels: bool = True) -> RunDirInputs:
    """A `run` output folder's predictions file, a page title naming its model (Hub id, or a
    local model's folder name) and, with ``recorded_labels``, the labels the run scored with
    (without: the caller has its own labels, and the run's are not looked for)."""
    folder = Path(run_dir)
    predictions = folder / PREDICTIONS_FILE
    results_path = folder / RESULTS_FILE
    fallback_title = f"Mistakes of {Path(os.path.realpath(folder)).name}"
    if not results_path.is_file():  # a run still going, or killed: its predictions still count
        return RunDirInputs(predictions, fallback_title)
    document = results_document.read_document(results_path)
    model = document.get("model")
    model_id = model.get("id") if isinstance(model, dict) else None
    title = (
        f"Mistakes of {escape.public_model_name(model_id, local=model.get('local') is True)}"
        if isinstance(model_id, str) and model_id
        else fallback_title
    )
    recorded = document.get("labels")
    if not recorded_labels or not isinstance(recorded, dict):
        return RunDirInputs(predictions, title)
    return RunDirInputs(predictions, title, run_labels(recorded, document, folder, results_path))


def run_labels(
    recorded: Mapping[str, Any],
    document: Mapping[str, Any],
    run_dir: Path,
    results_path: Path,
) -> LabelSource:
    """The ``LabelSource`` of the labels a run recorded (its results' ``labels``). The
    annotation file and each patch must still be where the run read them (``label_files``; a
    patch may also be in the run folder) with the recorded sha256; otherwise the label options
    are needed, and the error says which."""
    source = recorded.get("source")
    if not isinstance(source, str) or not source:
        raise _labels_not_found(results_path, "it records no labels source")
    files = document.get("label_files")
    recorded_patches = files.get("patches") if isinstance(files, dict) else None
    patches = tuple(
        _recorded_patch(entry, recorded_patches or [], run_dir, results_path)
        for entry in recorded.get("patches") or []
    )
    if "annotations_source" in recorded:  # a labels dataset, local or on the Hub
        # Read from the results, not given: the frame never saw it (a folder since moved).
        if not os.path.isdir(source) and hub_repo_id_problem(source) is not None:
            raise _labels_not_found(
                results_path,
                f"its labels dataset {brief_repr(source)} is neither a folder here nor a Hub "
                f"dataset id; pass {named('dataset', 'HUB_ID_OR_DIR')}",
            )
        return LabelSource(dataset=source, patches=patches)
    if source == PUBLISHED_URL:
        return LabelSource(patches=patches)
    path = Path(source)
    if not path.is_file() or sha256_of_file(path) != recorded.get("sha256"):
        raise _labels_not_found(
            results_path,
            f"its annotation file {source!r} is not here with the recorded sha256 "
            f"{recorded.get('sha256')}; pass {named('annotations', 'PATH')}",
        )
    verified = recorded.get("base_verified", recorded.get("verified")) is True
    return LabelSource(annotations=path, allow_unverified=not verified, patches=patches)


def _recorded_patch(entry: Any, paths: Any, run_dir: Path, results_path: Path) -> Path:
    """Where a patch the run applied is now: the path its results record (``label_files``), or
    the run folder, holding a file of that name and sha256."""
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise _labels_not_found(results_path, f"a recorded patch is not an object: {entry!r:.200}")
    name, sha256 = entry["file"], entry.get("sha256")
    given = [Path(path) for path in paths if isinstance(path, str) and Path(path).name == name]
    for candidate in [*given, run_dir / name]:
        if candidate.is_file() and sha256_of_file(candidate) == sha256:
            return candidate
    raise _labels_not_found(
        results_path,
        f"its label patch {name!r} (sha256 {sha256}) is neither where it was read nor in the run "
        f"folder; pass {named('patches', 'PATH')}",
    )


def labels_in_words(provenance: Mapping[str, Any]) -> str:
    """Which labels a results document was scored on, for a person: the published labels, an
    annotation file or a labels dataset by name, and their patches."""
    source = str(provenance.get("source"))
    patches = [str(patch.get("file")) for patch in provenance.get("patches") or []]
    patched = f", patched with {', '.join(patches)}" if patches else ""
    if "annotations_source" in provenance:
        return f"the labels dataset {escape.public_model_name(source)}{patched}"
    if source == PUBLISHED_URL:
        return f"the published labels{patched}"
    return f"the annotation file {Path(source).name}{patched}"


def _labels_not_found(results_path: Path, why: str) -> ToolkitError:
    return ToolkitError(
        f"cannot reuse the labels the run recorded in {str(results_path)!r}: {why}; label "
        "options given to analyze are used instead of the run's"
    )

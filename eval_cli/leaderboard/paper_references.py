"""The paper's reference lines: ViT-3B and Greedy Soups, their top-1 predictions rebuilt from the
mistake metadata (`dataset_script.taxonomy.experts`) and scored by `metric` on the given labels,
as `score` scores and analyses any model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...dataset_script.annotations.published import PUBLISHED_SHA256, SPLITS, default_cache_dir
from ...dataset_script.taxonomy import experts
from ...metric import label_sets
from ...metric.errors import named
from ..scores import results
from ..scores.mistakes import analyze_split
from ..scores.score import with_lenient_accuracies
from .entries import Entry, checked_mistakes, labels_version_of
from .families import ModelFacts

if TYPE_CHECKING:  # loading labels imports datasets (seconds); only the reference lines need it
    from ...dataset_script.labels.loading import Labels, LabelSource

# Both are ViTs pretrained on JFT-3B: ViT-3B (Zhai et al. 2022, "Scaling Vision Transformers"),
# Greedy Soups a soup of fine-tuned ViT-G/14 (Wortsman et al. 2022, "Model soups").
PAPER_MODEL_FACTS = ModelFacts(family="ViT", pretraining="JFT-3B")


def published_labels_cached() -> bool:
    """Whether the published annotation file's parsed form is in the cache, so that the default
    labels load without a download (`dataset_script.annotations` keeps it under this name)."""
    return (default_cache_dir() / "compact" / f"{PUBLISHED_SHA256}.npz").is_file()


def paper_references(labels: Labels) -> list[Entry]:
    """ViT-3B and Greedy Soups, their predictions rebuilt from the paper's mistake metadata,
    scored by our scorer on ``labels`` (both label splits needed) and their mistakes analysed
    as `score` analyses any model's (automatic categories included)."""
    flags = results.short_names(results.label_problems(labels.provenance))
    source = f"{experts.SOURCE_REPOSITORY} at {experts.SOURCE_COMMIT}"
    references = []
    for model, name in experts.MODEL_NAMES.items():
        predictions = {
            split: experts.paper_model_predictions(model, labels.split(split)) for split in SPLITS
        }
        metrics = {
            split: label_sets.by_name(split).score(predictions[split], labels.split(split))
            for split in SPLITS
        }
        analysis = analyze_split(
            "validation",
            predictions["validation"],
            labels.split("validation"),
            imagenet_m_file_names=None,
        )
        references.append(
            Entry(
                model=f"{name} (paper reference)",
                revision=None,
                identity=("reference", model),
                source=source,
                created_at=None,
                metrics=with_lenient_accuracies(metrics, analysis),
                mistakes=checked_mistakes({"mistakes": analysis.summary}, source),
                labels_version=labels_version_of(labels.provenance),
                flags=flags,
                reference=True,
                family=PAPER_MODEL_FACTS.family,
                pretraining=PAPER_MODEL_FACTS.pretraining,
            )
        )
    return references


def reference_labels(labels: Labels | LabelSource | None) -> tuple[Labels | None, str | None]:
    """The labels for the reference lines, or None and why they are left out."""
    from ...dataset_script.labels.loading import LabelSource, resolve_labels

    if labels in (None, LabelSource()) and not published_labels_cached():
        return None, (
            "Paper reference lines left out: no labels given "
            f"({named('annotations')} or {named('dataset')}) and the "
            "published annotation file is not cached yet (any `score` or `run` caches it)"
        )
    return resolve_labels(labels), None

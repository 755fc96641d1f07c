"""The automatic taxonomy's two image rules: a CLIP/SigLIP model looks at a mistake's image.

`dataset_script.taxonomy.categories` puts every rejected top-1 prediction ``p`` (accepted labels
``L``, original label ``t``) in the paper's taxonomy by image-free rules; two rules need the
image, and an ``ImageCategorizer`` judges them with any dual encoder the zero-shot adapter loads
(`models.kinds.zero_shot.ZeroShotAdapter`). Every name is scored as one prompt, ``"a photo of a
{name}."``, ImageNet classes by their first WordNet lemma (the adapter's ``single`` prompts) and
WordNet relatives by theirs, so that no name is favoured by its wording:

- ``fine-grained-oov``: the image against the names of ``p``'s out-of-vocabulary WordNet
  relatives (`class_relations.relatives`: siblings and hyponyms that are no ImageNet class)
  and the ImageNet classes involved (``p``, ``t`` and ``L``). When the closest name is a
  relative, the image shows a kind of thing ImageNet has no class for, next to ``p``:
  "CLIP preferred 'tangerine' (not an ImageNet class) ...".
- ``non-prototypical``: the image against the 1,000 class prototypes. When its closest accepted
  label ranks below ``NON_PROTOTYPICAL_MIN_RANK`` of them and the prediction is closer still,
  the image is far from what its labels usually look like, in the direction of the prediction:
  an atypical instance. The rule reads only the image, its labels and ``p``, never a list of
  images (the experts' 36 included), so it means the same for every model.

Neither threshold is tuned: no validation images and no CLIP weights could be had where this was
built, so their agreement with the experts is not measured (docs/TAXONOMY.md).

Costs: the model is loaded once per process (per model, revision and device); the rules bound to
one image source (``image_rules``) decode and embed each image once, in batches of
``batch_size`` on the device, shared by both rules and by every later call (a run's models, a
comparison's pool). An image the source lacks, or one that does not decode, is not judged: the
mistake goes on to the later rules and the result counts it (``RuleResult.unjudged``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import torch

from ...dataset_script import escape
from ...dataset_script.classes import NUM_CLASSES
from ...dataset_script.images.decode import decode_image
from ...dataset_script.images.errors import CorruptImageError, MissingImagesError
from ...dataset_script.images.source import ImageSource
from ...dataset_script.taxonomy import class_relations
from ...dataset_script.taxonomy.categories import Candidates, ImageRules, RuleResult
from ...metric.errors import expect_text, named
from ..choices import DEFAULT_CATEGORIZER_MODEL
from .errors import ModelLoadError
from .kinds import detect_kind, load_model
from .kinds.zero_shot import ZERO_SHOT_MODEL_TYPES, ZeroShotAdapter
from .source import local_model_folder, resolve_model_source
from .zero_shot_prompts import ZERO_SHOT_TEMPLATE, zero_shot_class_names

__all__ = [
    "DEFAULT_CATEGORIZER_MODEL",
    "NON_PROTOTYPICAL_MIN_RANK",
    "ImageCategorizer",
    "NamedCategorizer",
]

# The closest accepted label must rank below this many of the 1,000 class prototypes (CLIP
# ViT-L/14's zero-shot top-5 accuracy is above 90%, so this leaves at most about a tenth of the
# images, those that look least like their labels). Not tuned: docs/TAXONOMY.md.
NON_PROTOTYPICAL_MIN_RANK = 5
DEFAULT_BATCH_SIZE = 64
_DECODE_THREADS = min(8, os.cpu_count() or 1)


def _not_clip_like(config: dict[str, Any]) -> str | None:
    """Why a model with this ``config.json`` cannot judge the image rules, or None."""
    model_type = config.get("model_type")
    kind = detect_kind(config) if model_type is not None or "architecture" in config else None
    if kind == "zero-shot" and model_type != "siglip2":
        return None
    what = f"model_type {model_type!r}" if model_type else "a timm or unknown model"
    return (
        f"it is {what}, not a CLIP-like dual encoder that scores images against text; expected "
        f"model_type {' or '.join(sorted(ZERO_SHOT_MODEL_TYPES - {'siglip2'}))} (a CLIP or a "
        "fixed-resolution SigLIP)"
    )


class ImageCategorizer:
    """A CLIP/SigLIP model as the taxonomy's image rules, checked at once, loaded when first used.

    ``model_id``: a Hub id or local folder (default ``DEFAULT_CATEGORIZER_MODEL``); a model that
    is not CLIP-like is a `ModelLoadError` here, before any work. ``device``: where the model
    runs (default: CUDA when there, else the CPU). ``batch_size``: images per forward pass.
    """

    def __init__(
        self,
        model_id: str = DEFAULT_CATEGORIZER_MODEL,
        *,
        revision: str | None = None,
        device: torch.device | str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        expect_text(model_id, "model_id")
        expect_text(revision, "revision", optional=True)
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ModelLoadError(
                f"{named('batch_size')}: expected a positive integer, got {batch_size!r}"
            )
        source = resolve_model_source(model_id, revision)
        problem = _not_clip_like(dict(source.config))
        if problem:
            raise ModelLoadError(
                f"`{named('categorizer_model')}` {escape.public_model_name(model_id)!r} cannot "
                f"judge the image rules: {problem}; nothing was run"
            )
        self.model_id, self.revision = source.model_id, source.revision
        self.local = local_model_folder(model_id) is not None
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.batch_size = batch_size

    def provenance(self) -> dict[str, Any]:
        """Who judges the image rules, and by which thresholds: for the results."""
        return {
            "model": escape.public_model_name(self.model_id, local=self.local),
            "revision": self.revision,
            "local": self.local,
            "device": str(self.device),
            "prompt": ZERO_SHOT_TEMPLATE,
            "non_prototypical_min_rank": NON_PROTOTYPICAL_MIN_RANK,
        }

    def image_rules(self, images: ImageSource) -> ImageRules:
        """The two image rules on the images of ``images``, loading the model on first use."""
        judge = _ImageJudge(
            _loaded(self.model_id, self.revision, str(self.device)), images, self.batch_size
        )
        return ImageRules(
            rules={
                "fine-grained-oov": judge.out_of_vocabulary,
                "non-prototypical": judge.non_prototypical,
            },
            provenance=self.provenance(),
        )


@dataclass(frozen=True)
class NamedCategorizer:
    """An `ImageCategorizer` named by its model (``model_id``: a Hub id or local folder), made
    when its rules are first asked for (``--categorizer-model``): inside the command frame, which
    examines the model's folder before anything in it is read."""

    model_id: str

    def image_rules(self, images: ImageSource) -> ImageRules:
        return ImageCategorizer(self.model_id).image_rules(images)


@cache
def _loaded(model_id: str, revision: str | None, device: str) -> ZeroShotAdapter:
    """The model, once per process: every categorizer of that model and device shares it."""
    adapter = load_model(
        model_id, revision=revision, kind="zero-shot", device=device, zero_shot_prompts="single"
    )
    assert isinstance(adapter, ZeroShotAdapter)
    return adapter


@dataclass
class _ImageJudge:
    """The image rules bound to one image source: each image embedded once, for both rules."""

    adapter: ZeroShotAdapter
    images: ImageSource
    batch_size: int

    def __post_init__(self) -> None:
        model_type = str(getattr(self.adapter.module.model.config, "model_type", ""))
        self.family = "SigLIP" if model_type.startswith("siglip") else "CLIP"  # for the evidence
        self._embedded: dict[str, np.ndarray | None] = {}  # None: no usable image
        self._names: dict[str, np.ndarray] = {}  # relative's name -> its prompt's embedding
        # (1000, D) prototypes: "a photo of a {first lemma}." per class, normalised.
        self._prototypes = _as_numpy(self.adapter.module.text_embeds)

    def out_of_vocabulary(self, candidates: Candidates) -> RuleResult:
        """``fine-grained-oov``: the closest name among ``p``'s out-of-vocabulary relatives and
        the ImageNet classes involved is a relative."""
        embeddings, usable = self._embeddings(candidates.file_names.tolist())
        names = class_relations.wordnet_nodes()
        relatives = class_relations.relatives()
        lemma = zero_shot_class_names()
        involved = _involved_classes(candidates)
        per_candidate: list[list[str]] = []
        for prediction, classes, seen in zip(
            candidates.predictions.tolist(), involved, usable.tolist(), strict=True
        ):
            if not seen:
                per_candidate.append([])
                continue
            inside = {lemma[index].lower() for index in classes}
            family = relatives[prediction]
            wnids = [*family["siblings"], *family["hyponyms"]]
            outside = dict.fromkeys(
                name
                for name in (names[wnid].lemmas[0].replace("_", " ") for wnid in wnids)
                if name.lower() not in inside
            )
            per_candidate.append(list(outside))
        self._embed_names({name for outside in per_candidate for name in outside})
        hits = np.zeros(len(candidates), dtype=bool)
        evidence = [""] * len(candidates)
        for position in np.flatnonzero(usable).tolist():
            outside = per_candidate[position]
            if not outside:
                continue
            image = embeddings[position]
            inside_scores = self._prototypes[involved[position]] @ image
            outside_scores = np.stack([self._names[name] for name in outside]) @ image
            best_outside, best_inside = int(outside_scores.argmax()), int(inside_scores.argmax())
            if outside_scores[best_outside] > inside_scores[best_inside]:
                closest = involved[position][best_inside]
                hits[position] = True
                evidence[position] = (
                    f"{self.family} preferred '{outside[best_outside]}' (not an ImageNet "
                    f"class; cosine {outside_scores[best_outside]:.3f}) to the closest ImageNet "
                    f"class involved, {closest} {lemma[closest]} "
                    f"({inside_scores[best_inside]:.3f})"
                )
        return RuleResult(hits=hits, evidence=evidence, unjudged=~usable)

    def non_prototypical(self, candidates: Candidates) -> RuleResult:
        """``non-prototypical``: the closest accepted label ranks below
        ``NON_PROTOTYPICAL_MIN_RANK`` of the 1,000 class prototypes and the prediction is
        closer than it."""
        embeddings, usable = self._embeddings(candidates.file_names.tolist())
        lemma = zero_shot_class_names()
        scores = embeddings @ self._prototypes.T  # (candidates, 1000)
        labels = candidates.labels
        has_label = np.zeros(len(candidates), dtype=bool)
        has_label[labels.rows] = True
        best_label = np.full(len(candidates), -1, dtype=np.int64)
        order = np.lexsort((-scores[labels.rows, labels.classes], labels.rows))
        rows, first = np.unique(labels.rows[order], return_index=True)
        best_label[rows] = labels.classes[order][first]
        judged = usable & has_label
        positions = np.flatnonzero(judged)
        label_scores = scores[positions, best_label[positions]]
        ranks = 1 + (scores[positions] > label_scores[:, None]).sum(axis=1)
        predicted_scores = scores[positions, candidates.predictions[positions]]
        decided = (ranks > NON_PROTOTYPICAL_MIN_RANK) & (predicted_scores > label_scores)
        hits = np.zeros(len(candidates), dtype=bool)
        hits[positions[decided]] = True
        evidence = [""] * len(candidates)
        for position, rank, label_score, predicted_score in zip(
            positions[decided].tolist(),
            ranks[decided].tolist(),
            label_scores[decided].tolist(),
            predicted_scores[decided].tolist(),
            strict=True,
        ):
            label = int(best_label[position])
            evidence[position] = (
                f"{self.family} ranks its closest label {label} {lemma[label]} #{rank} of the "
                f"{NUM_CLASSES:,} class prototypes (cosine {label_score:.3f}) and the prediction "
                f"above it ({predicted_score:.3f}): the image is far from its labels' prototypes"
            )
        return RuleResult(hits=hits, evidence=evidence, unjudged=~usable)

    def _embed_names(self, names: set[str]) -> None:
        """Text embeddings of the relatives' prompts not embedded yet (cut to the context)."""
        new = sorted(name for name in names if name not in self._names)
        if not new:
            return
        prompts = [ZERO_SHOT_TEMPLATE.format(name) for name in new]
        embedded = _as_numpy(self.adapter.text_encoder(prompts, truncate=True))
        self._names.update(zip(new, embedded, strict=True))

    def _embeddings(self, file_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(n, D) normalised image embeddings of ``file_names`` (zeros where unusable) and
        which are usable; each image not seen yet is read, decoded and embedded once."""
        self._embed_images([n for n in dict.fromkeys(file_names) if n not in self._embedded])
        dimension = self._prototypes.shape[1]
        rows = [self._embedded[name] for name in file_names]
        usable = np.array([row is not None for row in rows], dtype=bool)
        embeddings = np.zeros((len(rows), dimension), dtype=np.float32)
        for position in np.flatnonzero(usable).tolist():
            embeddings[position] = rows[position]
        return embeddings, usable

    def _embed_images(self, file_names: list[str]) -> None:
        """Embed ``file_names`` in batches on the model's device; one the source lacks or that
        does not decode is recorded as unusable."""
        try:
            located = self.images.locate(file_names)
        except MissingImagesError as error:
            missing = set(error.missing)
            self._embedded.update(dict.fromkeys(missing))
            located = self.images.locate([name for name in file_names if name not in missing])
        preprocess: Callable[[Any], torch.Tensor] = self.adapter.preprocess
        device = self.adapter.module.text_embeds.device

        def pixels(index: int) -> tuple[str, torch.Tensor | None]:
            file_name, data = located[index]
            try:
                return file_name, preprocess(decode_image(data, file_name))
            except CorruptImageError:
                return file_name, None

        with ThreadPoolExecutor(max_workers=_DECODE_THREADS) as pool:
            for start in range(0, len(located), self.batch_size):
                stop = min(start + self.batch_size, len(located))
                decoded = list(pool.map(pixels, range(start, stop)))
                good = [(name, tensor) for name, tensor in decoded if tensor is not None]
                self._embedded.update((name, None) for name, tensor in decoded if tensor is None)
                if not good:
                    continue
                batch = torch.stack([tensor for _, tensor in good]).to(device)
                with torch.no_grad():
                    embedded = _as_numpy(self.adapter.module.image_embeddings(batch))
                self._embedded.update(zip((name for name, _ in good), embedded, strict=True))


def _involved_classes(candidates: Candidates) -> list[list[int]]:
    """Per candidate, the ImageNet classes involved: the prediction, the original label and the
    accepted labels, each once, in that order."""
    accepted: list[list[int]] = [[] for _ in range(len(candidates))]
    labels = candidates.labels
    for row, label in zip(labels.rows.tolist(), labels.classes.tolist(), strict=True):
        accepted[row].append(label)
    predictions, originals = candidates.predictions.tolist(), candidates.original_labels.tolist()
    return [
        list(dict.fromkeys([prediction, original, *others]))
        for prediction, original, others in zip(predictions, originals, accepted, strict=True)
    ]


def _as_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy()

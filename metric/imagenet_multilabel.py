"""The ``evaluate`` module: ImageNet multi-label accuracy (labels v3.0.0) and ImageNet-M.

Input contract and documentation only; all scoring happens in ``scoring.py`` (with the labels in
``references.py``), and the other configurations are the registered label sets of
``label_sets.py`` that accept a set of classes per image; ``evaluate`` copies those files along
because of the relative imports below (only this file's own: each of them is imported here).
``evaluate`` reads the imports of this file as text: keep one plain import per line.
"""

import datasets
import evaluate

from .errors import ToolkitError, expect_flag
from .label_sets import configurations
from .references import LABEL_COLUMNS, References, SetReferences
from .scoring import check_raw_inputs, score

# ToolkitError is what compute raises on bad input; importing it here also makes evaluate copy
# errors.py, which scoring.py and references.py import, next to this module.
__all__ = ["ImagenetMultilabel", "ToolkitError"]

_CITATION = """\
@inproceedings{shankar2020evaluating,
  title     = {Evaluating Machine Accuracy on {ImageNet}},
  author    = {Shankar, Vaishaal and Roelofs, Rebecca and Mania, Horia and Fang, Alex and
               Recht, Benjamin and Schmidt, Ludwig},
  booktitle = {Proceedings of the 37th International Conference on Machine Learning},
  series    = {Proceedings of Machine Learning Research},
  volume    = {119},
  publisher = {PMLR},
  year      = {2020}
}
@inproceedings{vasudevan2022does,
  title     = {When does dough become a bagel? Analyzing the remaining mistakes on {ImageNet}},
  author    = {Vasudevan, Vijay and Caine, Benjamin and Gontijo-Lopes, Raphael and
               Fridovich-Keil, Sara and Roelofs, Rebecca},
  booktitle = {Advances in Neural Information Processing Systems},
  volume    = {35},
  year      = {2022}
}
@article{beyer2020done,
  title   = {Are we done with {ImageNet}?},
  author  = {Beyer, Lucas and H{\'e}naff, Olivier J. and Kolesnikov, Alexander and Zhai, Xiaohua
             and van den Oord, A{\"a}ron},
  journal = {arXiv preprint arXiv:2006.07159},
  year    = {2020}
}
@inproceedings{northcutt2021pervasive,
  title     = {Pervasive Label Errors in Test Sets Destabilize Machine Learning Benchmarks},
  author    = {Northcutt, Curtis G. and Athalye, Anish and Mueller, Jonas},
  booktitle = {Proceedings of the Neural Information Processing Systems Track on Datasets and
               Benchmarks},
  year      = {2021}
}
@inproceedings{tsipras2020imagenet,
  title     = {From {ImageNet} to Image Classification: Contextualizing Progress on Benchmarks},
  author    = {Tsipras, Dimitris and Santurkar, Shibani and Engstrom, Logan and Ilyas, Andrew and
               Madry, Aleksander},
  booktitle = {Proceedings of the 37th International Conference on Machine Learning},
  year      = {2020}
}
"""

_DESCRIPTION = """\
ImageNet multi-label accuracy scores ImageNet classifiers against the expert-reviewed multi-label
annotations of the ILSVRC-2012 validation set (Shankar et al. 2020, extended by Vasudevan et al.
2022, labels version 3.0.0). Images marked problematic are skipped; a top-1 prediction counts as
correct when it is one of the image's `correct` or `unclear` labels; accuracy is averaged per
original ImageNet class, then over the 1,000 classes. With `imagenet_m=True` it scores ImageNet-M,
the 68 "major mistake" images, as a number correct out of 68. Its other configurations score the
label sets that accept a set of classes per image instead (a top-1 prediction is correct when it
is in the image's set, over the images that have one): `real`, ReaL accuracy (Beyer et al. 2020);
`label_errors`, the original labels with the label errors that Northcutt et al. (2021) confirmed
corrected; `main_object`, the main object that Tsipras et al. (2020)'s annotators named.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one entry per image, aligned with `references`: the top-1 class id (int in
        0..999, the ILSVRC-2012 index order used by timm, torchvision and the Hub's imagenet-1k),
        or the top-k class ids best first (list of int; k >= 5 adds the top-5 keys).
    references: one dict per image, a row of the labels dataset's `labels` config, with exactly
        its keys: `file_name` (str), `image_id` (int), `original_label` (int),
        `correct_multi_labels`, `wrong_multi_labels`, `unclear_multi_labels` (lists of int) and
        `is_problematic` (bool).
    imagenet_m: the rows are the ImageNet-M split: report `imagenet_m_correct` out of
        `imagenet_m_total` and no per-class means. Defaults to False.
    allow_partial: score rows that do not cover all 1,000 classes; the per-class means are then
        over the covered classes and `partial` is True. Defaults to False, which raises instead.
    With a label set's configuration (`evaluate.load(..., "real")`), `references` are instead
    `{"file_name": str, COLUMN: list of int}` dicts, one per image, COLUMN `real_labels`,
    `corrected_labels` or `main_object_labels` (an empty list: the set does not judge the image,
    which is left out), and `imagenet_m`/`allow_partial` do not apply.
    Inputs are checked as given, before `evaluate` casts them to its features (which would make
    0.9 class 0 and "false" a problematic image): a float, string or bool where an int is
    expected, a class repeated within a top-k row, a flag that is not a bool (1, "true"), a row
    with a key missing or extra, or empty inputs raise a ValueError (the toolkit's
    ToolkitError) naming the first offending rows.
Returns:
    multilabel_accuracy: the official score (per-class mean, correct or unclear top-1).
    multilabel_accuracy_micro: the plain mean over scored images.
    multilabel_accuracy_strict: per-class mean counting only `correct` labels.
    top1_accuracy_original: per-class mean of top-1 == original label, on the same images.
    multilabel_accuracy_top5, top5_accuracy_original: the same with any of the top 5 (k >= 5).
    num_classes_covered, partial: classes with a scored image; whether that is fewer than 1,000.
    imagenet_m_correct, imagenet_m_total: with `imagenet_m=True` only.
    num_scored, num_problematic_skipped: images scored and images skipped as problematic.
    num_mistakes: top-1 predictions the experts judged wrong.
    num_outside_label_set, outside_label_set: top-1 predictions outside the label set (in none
        of the image's three label sets), as `{"file_name", "prediction"}` dicts: almost half of
        such novel predictions of top models were found correct, so they need a look rather
        than counting as plain errors. num_rejected: num_mistakes + num_outside_label_set.
    With a label set's configuration NAME: NAME_accuracy (top-1 in the image's set), for `real`
        with k >= 5 real_accuracy_top5 (any of the first five in it), num_NAME_scored and
        num_NAME_left_out (images with an empty set).
Examples:
    >>> import evaluate
    >>> import imagenet_multilabel.metric
    >>> metric = evaluate.load(imagenet_multilabel.metric.PATH)
    >>> references = [
    ...     {"file_name": "ILSVRC2012_val_00000001.JPEG", "image_id": 1, "original_label": 0,
    ...      "correct_multi_labels": [0], "wrong_multi_labels": [1],
    ...      "unclear_multi_labels": [], "is_problematic": False},
    ...     {"file_name": "ILSVRC2012_val_00000002.JPEG", "image_id": 2, "original_label": 0,
    ...      "correct_multi_labels": [0, 5], "wrong_multi_labels": [],
    ...      "unclear_multi_labels": [7], "is_problematic": False},
    ...     {"file_name": "ILSVRC2012_val_00000003.JPEG", "image_id": 3, "original_label": 1,
    ...      "correct_multi_labels": [1], "wrong_multi_labels": [2],
    ...      "unclear_multi_labels": [], "is_problematic": False},
    ...     {"file_name": "ILSVRC2012_val_00000004.JPEG", "image_id": 4, "original_label": 1,
    ...      "correct_multi_labels": [], "wrong_multi_labels": [],
    ...      "unclear_multi_labels": [], "is_problematic": True},
    ...     {"file_name": "ILSVRC2012_val_00000005.JPEG", "image_id": 5, "original_label": 1,
    ...      "correct_multi_labels": [1], "wrong_multi_labels": [],
    ...      "unclear_multi_labels": [], "is_problematic": False},
    ... ]
    >>> results = metric.compute(
    ...     predictions=[0, 7, 2, 1, 9], references=references, allow_partial=True
    ... )
    >>> results["multilabel_accuracy"], results["multilabel_accuracy_micro"]
    (0.5, 0.5)
    >>> results["multilabel_accuracy_strict"], results["top1_accuracy_original"]
    (0.25, 0.25)
    >>> results["num_classes_covered"], results["partial"]
    (2, True)
    >>> results["num_scored"], results["num_problematic_skipped"], results["num_mistakes"]
    (4, 1, 1)
    >>> results["outside_label_set"]
    [{'file_name': 'ILSVRC2012_val_00000005.JPEG', 'prediction': 9}]

    Top-5 predictions, best first, add the top-5 keys:

    >>> top5 = [[3, 0, 4, 6, 8], [7, 0, 4, 6, 8], [2, 3, 4, 1, 8], [1, 3, 4, 6, 8], [9, 3, 4, 6, 8]]
    >>> results = metric.compute(predictions=top5, references=references, allow_partial=True)
    >>> results["multilabel_accuracy"], results["multilabel_accuracy_top5"]
    (0.25, 0.75)
    >>> results["top1_accuracy_original"], results["top5_accuracy_original"]
    (0.0, 0.75)

    ImageNet-M is a count out of its 68 images (here out of the 4 non-problematic rows):

    >>> results = metric.compute(
    ...     predictions=[0, 7, 2, 1, 9], references=references, imagenet_m=True
    ... )
    >>> results["imagenet_m_correct"], results["imagenet_m_total"]
    (2, 4)

    Inputs are checked before `evaluate` casts them, so a float is refused, not truncated:

    >>> try:
    ...     metric.compute(predictions=[0.9, 7, 2, 1, 9], references=references)
    ... except ValueError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    predictions: expected integer class ids, got dtype float64; 1 offending row(s), first: 0 ...

    ReaL accuracy, with the `real` configuration (the second image has no ReaL label):

    >>> real = evaluate.load(imagenet_multilabel.metric.PATH, "real")
    >>> real_references = [
    ...     {"file_name": "ILSVRC2012_val_00000001.JPEG", "real_labels": [0, 5]},
    ...     {"file_name": "ILSVRC2012_val_00000002.JPEG", "real_labels": []},
    ...     {"file_name": "ILSVRC2012_val_00000003.JPEG", "real_labels": [1]},
    ... ]
    >>> results = real.compute(predictions=[5, 3, 2], references=real_references)
    >>> results["real_accuracy"], results["num_real_scored"], results["num_real_left_out"]
    (0.5, 2, 1)
"""

# Exactly the columns of the labels dataset, image_id included: evaluate 0.4 rejects a row whose
# keys differ from these with a KeyError (``_enforce_nested_string_type``), and that KeyError
# escapes its search over alternative feature sets, so rows with and rows without image_id
# cannot both be accepted. The dataset's own rows are the ones to take as they are.
_FEATURE_OF_KIND = {
    "file name": datasets.Value("string"),
    "image id": datasets.Value("int32"),
    "class id": datasets.Value("int64"),
    "class ids": datasets.Sequence(datasets.Value("int64")),
    "flag": datasets.Value("bool"),
}
_REFERENCE_FEATURES = {name: _FEATURE_OF_KIND[kind] for name, kind in LABEL_COLUMNS.items()}
# The label sets' configurations: one set of accepted classes per image, joined on file_name by the
# caller; named after the set (`label_sets.AcceptedSet`).
_CONFIGURATIONS = configurations()


def _set_features(column: str) -> dict:
    return {
        "file_name": datasets.Value("string"),
        column: datasets.Sequence(datasets.Value("int64")),
    }


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ImagenetMultilabel(evaluate.Metric):
    """ImageNet multi-label accuracy; see the module card for the rule and its limits."""

    def _info(self) -> evaluate.MetricInfo:
        if self.config_name != "default" and self.config_name not in _CONFIGURATIONS:
            raise ToolkitError(
                f"unknown configuration {self.config_name!r}: expected none (multi-label "
                f"accuracy) or a label set: {', '.join(map(repr, _CONFIGURATIONS))}"
            )
        label_set = _CONFIGURATIONS.get(self.config_name)
        references = (
            _REFERENCE_FEATURES if label_set is None else _set_features(label_set.reference_column)
        )
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {"predictions": datasets.Value("int64"), "references": references}
                ),
                datasets.Features(
                    {
                        "predictions": datasets.Sequence(datasets.Value("int64")),
                        "references": references,
                    }
                ),
            ],
            homepage="https://www.tensorflow.org/datasets/catalog/imagenet2012_multilabel",
            reference_urls=[
                "https://proceedings.mlr.press/v119/shankar20c.html",
                "https://arxiv.org/abs/2205.04596",
                "https://arxiv.org/abs/2006.07159",
                "https://arxiv.org/abs/2103.14749",
                "https://arxiv.org/abs/2005.11295",
            ],
        )

    def add_batch(self, *, predictions=None, references=None, **kwargs) -> None:
        """Check the batch as given, then store it: ``evaluate`` casts it to the features on the
        way in, which would turn bad values into wrong numbers. ``compute(predictions=...,
        references=...)`` comes through here too."""
        check_raw_inputs(predictions, references, column=self._reference_column)
        super().add_batch(predictions=predictions, references=references, **kwargs)

    @property
    def _reference_column(self) -> str | None:
        """The references' column of accepted classes in a label set's configuration."""
        label_set = _CONFIGURATIONS.get(self.config_name)
        return None if label_set is None else label_set.reference_column

    def add(self, *, prediction=None, reference=None, **kwargs) -> None:
        """Check one example as given (see ``add_batch``), then store it."""
        check_raw_inputs([prediction], [reference], column=self._reference_column)
        super().add(prediction=prediction, reference=reference, **kwargs)

    def _compute(
        self,
        predictions: list,
        references: list[dict],
        imagenet_m: bool = False,
        allow_partial: bool = False,
    ) -> dict:
        imagenet_m = expect_flag(imagenet_m, "imagenet_m")
        allow_partial = expect_flag(allow_partial, "allow_partial")
        label_set = _CONFIGURATIONS.get(self.config_name)
        if label_set is not None:
            if imagenet_m or allow_partial:
                raise ToolkitError(
                    "imagenet_m and allow_partial apply to multi-label accuracy, not to the "
                    f"{label_set.name!r} configuration"
                )
            references = SetReferences.from_rows(references, label_set.reference_column)
            return label_set.score(predictions, references)
        return score(
            predictions,
            References.from_rows(references),
            imagenet_m=imagenet_m,
            allow_partial=allow_partial,
        )

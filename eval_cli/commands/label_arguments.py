"""The label options of the command line, shared by every command that loads labels: where the
labels come from (`LabelSource`'s fields), the split scored, a label set's other copy of its
file (``--NAME-labels``, one option per set that reads one, into ``label_set_files``), and the
limit; `LabelSetOption`, how each label-set option is stored and spelled in messages.
"""

from __future__ import annotations

import argparse
from typing import Any

from ...dataset_script.label_sets import copy_options, copy_parameter, unverified_parameter
from ...metric import label_sets
from ..choices import FULL_SPLIT, LABEL_SPLIT_CHOICES, LABEL_SPLITS, SPLIT_CHOICES


def copy_flag(name: str) -> str:
    """The option that reads another copy of label set ``name``'s file: ``--NAME-labels``."""
    return f"--{name.replace('_', '-')}-labels"


class LabelSetOption(argparse.Action):
    """An option about one label set, NAME: ``--NAME-labels PATH`` sets ``label_set_files[NAME]``
    (a mapping, the other sets' entries kept), ``--allow-unverified-NAME-labels`` adds NAME to
    ``allow_unverified_label_set_files`` (a tuple): as `score_predictions` and `RunOptions` take
    them."""

    def __init__(self, *args: Any, label_set: str, **kwargs: Any) -> None:
        self.label_set = label_set
        super().__init__(*args, **kwargs)

    @property
    def parameter(self) -> str:
        """What it gives, as messages name it from Python (`option_names` spells it with the
        option): ``label_set_files['real']``, ``allow_unverified_label_set_files=['real']``."""
        if self.dest == "label_set_files":
            return copy_parameter(self.label_set)
        return unverified_parameter(self.label_set)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        given = getattr(namespace, self.dest)
        if isinstance(given, dict):
            setattr(namespace, self.dest, {**given, self.label_set: values})
        else:
            setattr(namespace, self.dest, (*given, self.label_set))


def add_label_source_arguments(
    parser: argparse.ArgumentParser, *, labels_dataset: bool = True
) -> None:
    """Where the labels come from, as `LabelSource.from_cli` reads them: every command that loads
    labels (`build` writes an annotation file's rows, so it takes no ``--labels``)."""
    parser.add_argument(
        "--annotations",
        metavar="PATH",
        help="local copy of human_accuracy_v3.0.0.json (default: download the published file "
        "into the Hugging Face cache)"
        + (
            "; with --labels, the published file that checks the labels dataset"
            if labels_dataset
            else ""
        ),
    )
    if labels_dataset:
        parser.add_argument(
            "--labels",
            dest="dataset",
            metavar="HUB_ID_OR_DIR",
            help="a labels dataset built by `imagenet-multilabel build` or published on the Hub",
        )
    parser.add_argument(
        "--allow-unverified-annotations",
        dest="allow_unverified",
        action="store_true",
        help="accept an --annotations file whose sha256 is not the published one; results are "
        "then marked unverified",
    )
    parser.add_argument(
        "--label-patch",
        dest="patches",
        nargs="+",
        action="extend",
        default=[],
        metavar="FILE",
        help="label patch file(s) (as the review page downloads them) applied to the labels, "
        "which then get a patched version (3.0.0+patch.<sha256>) and are never the official "
        "ones; patches that disagree on a pair are refused (merge them with `imagenet-multilabel "
        "patches merge`)",
    )


def add_label_arguments(
    parser: argparse.ArgumentParser, *, default_split: str, full_split: bool = False
) -> None:
    """The label options shared by `score`, `run` and `analyze`."""
    add_label_source_arguments(parser)
    parser.add_argument(
        "--split",
        choices=SPLIT_CHOICES if full_split else LABEL_SPLIT_CHOICES,
        default=default_split,
        help=f"which split to score (default: {default_split}; all: {', '.join(LABEL_SPLITS)})"
        + (
            f"; {FULL_SPLIT}: every label set: all 50,000 validation images ("
            + ", ".join(label_set.title for label_set in label_sets.in_split(FULL_SPLIT))
            + ") plus every label split"
            if full_split
            else ""
        ),
    )
    parser.set_defaults(label_set_files={}, allow_unverified_label_set_files=())
    for name, what in copy_options().items() if full_split else ():
        flag = copy_flag(name)
        parser.add_argument(
            flag,
            dest="label_set_files",
            action=LabelSetOption,
            label_set=name,
            metavar="PATH",
            help=f"with --split {label_sets.by_name(name).split}: {what}; its sha256 must be the "
            "published one",
        )
        parser.add_argument(
            f"--allow-unverified-{flag[2:]}",
            dest="allow_unverified_label_set_files",
            action=LabelSetOption,
            label_set=name,
            nargs=0,
            help=f"accept a {flag} file whose sha256 is not the published one; results are "
            "then marked unverified",
        )
    parser.add_argument(
        "--limit",
        type=positive_int,
        metavar="N",
        help="only the first N images (by image id) of each chosen split: a quick smoke test; "
        "results are marked partial, and the summary names each limited split",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 3 when the results are not official: partial (--limit), "
        "incomplete, or on labels that are not the published ones (unverified, unchecked or "
        "patched with --label-patch), e.g. in CI",
    )


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return int(value)

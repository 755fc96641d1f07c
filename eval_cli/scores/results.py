"""How a results document (`results_document`) is judged and shown.

This module owns the rule for what may be called official or published (`publication_problems`,
recomputed from what the document records), how its metrics are shown (`format_cell`,
`metric_rows`: the summary table and the model card; `COLUMN_METRICS`, `column_cell`: tables of
many results; the names, labels and styles are the registered label sets' one table,
`metric.label_sets.METRICS`) and the report that `score` and `run` print (`report`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from ...dataset_script import label_sets as label_set_files
from ...dataset_script.annotations.published import PUBLISHED_SHA256
from ...dataset_script.taxonomy.categories import FAMILIES
from ...metric import label_sets
from ...metric.label_sets import METRIC_BY_KEY, METRICS, OF_TOTAL, PCT, REJECTED, Metric
from ...metric.references import NUM_CLASSES

# The official score's key: the metric that says so when a result is official.
OFFICIAL_KEY = next(metric.key for metric in METRICS if metric.official_label)
_SHOWN_OUTSIDE_LABEL_SET = 3
_NOTE_WIDTH = 96
# Metric keys of results written before the rename (``unreviewed`` meant two things): readers of
# old files look a current key up under its old name too.
OLD_METRIC_KEYS = {"num_outside_label_set": "num_unreviewed", "outside_label_set": "unreviewed"}


def publication_problems(document: Mapping[str, Any]) -> list[str]:
    """Why these numbers are not the published benchmark's (empty when they are).

    The one rule for what may be called official or published, recomputed from what the
    document records: the published labels (`label_problems`), no ``--limit``, every split fully
    predicted, every per-class mean over all 1,000 classes, an exact decoder.
    """
    problems = label_problems(document.get("labels", {}))
    split_problems = []
    for split, split_metrics in document.get("metrics", {}).items():
        if split_metrics.get("limit") is not None:
            split_problems.append(
                f"PARTIAL ({split}): only the first {split_metrics['limit']:,} images of the "
                "split were scored (--limit)"
                + (
                    f"; the predictions of its {past:,} later images were left out"
                    if (past := split_metrics.get("num_past_limit"))
                    else ""
                )
            )
        elif split_metrics.get("partial") or _covers_fewer_classes(split_metrics):
            split_problems.append(
                f"PARTIAL ({split}): the per-class means cover "
                f"{split_metrics.get('num_classes_covered')} of {NUM_CLASSES} classes"
            )
        if split_metrics.get("num_missing_predictions"):
            split_problems.append(
                f"INCOMPLETE ({split}): {split_metrics['num_missing_predictions']:,} images of "
                "the split have no prediction and were not scored"
            )
    problems.extend(split_problems)
    decoder = (document.get("run") or {}).get("decode")
    if isinstance(decoder, str) and decoder.endswith("(approximate)"):  # eval_cli.jpeg_decode
        problems.append(
            f"APPROXIMATE DECODE: the images were decoded by {decoder}, whose pixels are not "
            "libjpeg-turbo's (run --decode-on device is for screening); rerun with --decode-on cpu"
        )
    if document.get("complete") is not True and not split_problems:
        problems.append("INCOMPLETE: the results document is not marked complete")
    return problems


def _covers_fewer_classes(split_metrics: Mapping[str, Any]) -> bool:
    """Whether the per-class means miss a class, recomputed from the count of classes covered
    (a stored ``partial: false`` beside 900 classes is still partial)."""
    covered = split_metrics.get("num_classes_covered")
    return isinstance(covered, int) and covered < NUM_CLASSES


def label_problems(labels: Mapping[str, Any]) -> list[str]:
    """The part of `publication_problems` about the labels alone (patched, unchecked, unverified
    labels; another label set's labels unverified): what a command can say before any prediction
    exists.

    Recomputed from what the document records (the annotation file's sha256, the patches, how a
    labels dataset was checked, each label set's sha256 against its published one), never taken
    from a ``verified`` alone: a stored ``verified: true`` beside another sha256 is flagged."""
    problems = []
    patches = labels.get("patches")
    if labels.get("patched") or patches:
        problems.append(
            f"PATCHED labels: version {labels.get('version')}, "
            f"{len(patches) if isinstance(patches, list) else 'some'} label patch(es) applied, so "
            "these are not the official labels"
        )
    elif labels.get("verification") == "unchecked":  # dataset_script.labels_dataset.UNCHECKED
        problems.append(
            "UNCHECKED labels: the labels dataset claims to hold the published labels, but "
            "the published annotation file was not at hand to prove its "
            "rows (any command run once without --labels caches it), so these are not the "
            "benchmark's numbers"
        )
    elif not labels_verified(labels):
        claim = " (although it records them as verified)" if labels.get("verified") else ""
        problems.append(
            f"UNVERIFIED labels: annotation file sha256 {labels.get('sha256')} is not the "
            f"published one{claim}, so these are not the benchmark's numbers"
            if labels.get("sha256") != PUBLISHED_SHA256
            else "UNVERIFIED labels: the result does not record its labels as verified against "
            "the published annotation file, so these are not the benchmark's numbers"
        )
    for label_set in label_sets.REGISTRY:
        block = labels.get(label_set.provenance_key) if label_set.provenance_key else None
        if isinstance(block, Mapping) and not _label_set_file_verified(label_set, block):
            claim = " (although it records it as verified)" if block.get("verified") else ""
            problems.append(
                f"UNVERIFIED {label_set.title} labels: {block.get('source')} has sha256 "
                f"{block.get('sha256')}, not the published file{claim}, so the "
                f"{label_set.title} numbers are not the benchmark's"
            )
    return problems


def _label_set_file_verified(label_set: label_sets.LabelSet, block: Mapping[str, Any]) -> bool:
    """Whether a label set's recorded file is its published one: the recorded sha256 compared
    with the set's published sha256 where it has one (its stored ``verified`` otherwise)."""
    published = label_set_files.published_sha256(label_set)
    if published is None:
        return block.get("verified") is True
    return block.get("sha256") == published


def labels_verified(labels: Mapping[str, Any]) -> bool:
    """Whether a results document's labels are the published ones: the published file's
    sha256, and verified when they were loaded (a labels dataset's rows checked against it).
    Patched labels record ``verified: false``."""
    return (
        labels.get("sha256") == PUBLISHED_SHA256
        and labels.get("verified") is True
        and labels.get("verification") != "unchecked"
    )


def metric_label(key: str, *, official: bool) -> str:
    """A metric row's label; only the official score of a publishable result says so."""
    metric = METRIC_BY_KEY[key]
    return metric.official_label if official and metric.official_label else metric.label


# The metrics that tables of many results show as columns (the leaderboard, compare), as
# (split, metric), in registry order.
COLUMN_METRICS: tuple[tuple[str, Metric], ...] = tuple(
    (label_set.split, metric)
    for label_set in label_sets.REGISTRY
    for metric in label_set.metrics
    if metric.column is not None
)


def column_cell(split_metrics: Mapping[str, Any], metric: Metric) -> str:
    """A column metric's cell in such tables: a percentage (no sign) or a count of its total
    (``correct/total``); empty where the result lacks the number."""
    value = split_metrics.get(metric.key)
    if value is None:
        return ""
    if metric.style == OF_TOTAL:
        return f"{value}/{split_metrics.get(metric.total)}"
    return f"{100 * value:.2f}"


def format_cell(split_metrics: Mapping[str, Any], key: str) -> str:
    """One metric as the summary table and the model card show it."""
    value = metric_value(split_metrics, key)
    if value is None:
        return "-"
    metric = METRIC_BY_KEY[key]
    if metric.style == PCT:
        return f"{100 * value:.2f}%"
    if metric.style == OF_TOTAL:
        return f"{value} / {split_metrics[metric.total]}"
    if metric.style == REJECTED:
        outside = metric_value(split_metrics, "num_outside_label_set")
        return f"{value:,} ({split_metrics['num_mistakes']:,} + {outside:,})"
    return f"{value:,}"


def metric_value(split_metrics: Mapping[str, Any], key: str) -> Any:
    """``split_metrics[key]``, or the value under its old name (``OLD_METRIC_KEYS``); None if
    neither is there."""
    value = split_metrics.get(key)
    return (
        split_metrics.get(OLD_METRIC_KEYS[key])
        if value is None and key in OLD_METRIC_KEYS
        else value
    )


def metric_rows(document: Mapping[str, Any]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The splits and (label, cells) of every metric row any split has."""
    metrics = document["metrics"]
    splits = list(metrics)
    official = not publication_problems(document)
    rows = [
        (metric_label(key, official=official), [format_cell(metrics[s], key) for s in splits])
        for key in METRIC_BY_KEY
        if any(metric_value(metrics[split], key) is not None for split in splits)
    ]
    return splits, rows


def report(document: Mapping[str, Any]) -> str:
    """What `score` and `run` print: the summary table, then every caveat in words."""
    splits, rows = metric_rows(document)
    lines = text_table(["Metric", *splits], [[label, *values] for label, values in rows])
    lines.extend(textwrap.fill(note, width=_NOTE_WIDTH) for note in label_set_notes(document))
    if "mistakes" in document:
        lines.extend(mistakes_report(document["mistakes"]))
    for split in splits:
        outside = metric_value(document["metrics"][split], "outside_label_set") or []
        if outside:
            lines.append(
                f"Top-1 predictions outside the label set ({split}): {len(outside):,}; the first "
                f"{min(len(outside), _SHOWN_OUTSIDE_LABEL_SET)}:"
            )
            lines.extend(
                f"  {entry['file_name']}  {entry['prediction']:>3} "
                f"{entry.get('prediction_name', '').split(',')[0]}"
                for entry in outside[:_SHOWN_OUTSIDE_LABEL_SET]
            )
    for problem in publication_problems(document):
        lines.append(f"{problem}.")
    outside = document.get("predictions", {}).get("num_outside_chosen_splits")
    if outside:
        lines.append(f"Ignored {outside:,} predictions for images outside the chosen split(s).")
    return "\n".join(lines)


def label_set_notes(document: Mapping[str, Any]) -> list[str]:
    """What the numbers of each label set scored in ``document`` mean, one line each."""
    scored = document.get("metrics", {})
    return [label_set.note for label_set in label_sets.REGISTRY if label_set.split in scored]


def mistakes_report(mistakes: Mapping[str, Any]) -> list[str]:
    """The ``mistakes`` block in words: counts by source, the automatic categories, the paper's
    category x severity table."""
    auto = mistakes.get("auto_categories")  # absent from results written before it existed
    return [
        *_sources_report(mistakes),
        *(
            auto_categories_report(
                auto, f"all {auto['num_mistakes']:,} rejected predictions ({mistakes['split']})"
            )
            if auto
            else []
        ),
        *_expert_report(mistakes),
    ]


def auto_categories_report(auto: Mapping[str, Any], what: str) -> list[str]:
    """Automatic categories (`categories.AutoCategories.summary` and ``image_rules``) of
    ``what`` in words: a count per category and family, which categories were not available
    and where their mistakes were counted, and who judged the image rules."""
    families = {category: family for family, members in FAMILIES.items() for category in members}
    rows = [
        [category, f"{count:,}", families.get(category, "")]
        for category, count in auto["categories"].items()
    ]
    lines = [
        f"Automatic categories (docs/TAXONOMY.md) of {what}:",
        *text_table(["Category", "mistakes", "family"], rows),
        "Families: " + ", ".join(f"{count:,} {name}" for name, count in auto["families"].items()),
    ]
    for category, counted_under in auto.get("not_available", {}).items():
        lines.append(
            f"Not available: {category} (needs the images: --images with --categorizer-model); "
            f"its mistakes are counted under {' or '.join(counted_under)}."
        )
    lines += _agreement_report(auto.get("agreement_with_experts"))
    rules = auto.get("image_rules")
    if rules:
        lines.append(
            f"Image rules judged by {rules.get('model')} on {rules.get('device')}."
            + "".join(
                f" {rule}: {count:,} mistake(s) without a usable image, counted under later rules."
                for rule, count in auto.get("not_judged", {}).items()
                if count
            )
        )
    return lines


def _agreement_report(agreement: Mapping[str, Any] | None) -> list[str]:
    """The automatic categories' agreement with the experts (`taxonomy.agreement`) in words:
    nothing when the experts reviewed none of the mistakes."""
    if not agreement or not agreement["num_reviewed"]:
        return []

    def kappas(block: Mapping[str, Any]) -> str:
        return ", ".join(
            f"{level} kappa "
            + ("undefined" if block[level]["kappa"] is None else f"{block[level]['kappa']:.3f}")
            + f" (observed agreement {block[level]['observed_agreement']:.3f})"
            for level in ("family", "category")
        )

    held_out = agreement["held_out"]
    tuned_on = agreement["num_reviewed"] - held_out["num_reviewed"]
    lines = [
        f"Agreement with the paper's experts on the {agreement['num_reviewed']:,} of these "
        f"mistakes they reviewed: {kappas(agreement)}"
        + (f"; {tuned_on:,} of them are ViT-3B's, the rules' tuning set." if tuned_on else ".")
    ]
    if held_out["num_reviewed"]:
        lines.append(
            f"  Held out (the {held_out['num_reviewed']:,} reviewed for Greedy Soups only; "
            f"ViT-3B's were the rules' tuning set): {kappas(held_out)}."
        )
    return lines


def _sources_report(mistakes: Mapping[str, Any]) -> list[str]:
    """The rejected predictions by source, and those outside the label set."""
    by_source = dict(mistakes["by_source"])
    expert = by_source.pop("expert", 0)
    lines = [
        f"Rejected top-1 predictions ({mistakes['split']}) by source:\n"
        f"  {expert:,} expert (reviewed by the paper's experts); not reviewed by the paper's "
        "experts: " + ", ".join(f"{count:,} {source}" for source, count in by_source.items())
    ]
    outside = mistakes.get("num_outside_label_set")
    if outside:
        reviewed = mistakes.get("num_outside_label_set_expert_reviewed", 0)
        lines.append(
            f"Outside the label set: {outside:,} (in none of the image's label sets); "
            f"{reviewed:,} of them reviewed by the paper's experts (source expert), "
            f"{outside - reviewed:,} not (source outside-label-set)."
        )
    return lines


def _expert_report(mistakes: Mapping[str, Any]) -> list[str]:
    """The paper's experts' category x severity table of the mistakes they reviewed."""
    table = mistakes["expert_category_severity"]
    if not mistakes["by_source"].get("expert", 0):
        return ["None of them is a mistake the paper's experts reviewed (ViT-3B, Greedy Soups)."]
    lines = []
    severities = list(next(iter(table.values())))
    totals = [sum(row[severity] for row in table.values()) for severity in severities]
    rows = [
        [category, *map(str, row.values()), str(sum(row.values()))]
        for category, row in table.items()
    ]
    rows.append(["total", *map(str, totals), str(sum(totals))])
    lines.extend(text_table(["Expert category", *severities, "total"], rows))
    collapsed = mistakes["expert_severity_collapsed"]
    lines.append(
        f"Collapsed as in the paper (borderline = minor): {collapsed['minor']:,} minor, "
        f"{collapsed['major']:,} major.\nconfusion-pair: a class pair ViT-3B confused (a "
        "heuristic, not an expert verdict)."
    )
    imagenet_m = mistakes.get("imagenet_m")
    if imagenet_m and (imagenet_m["solved"] or imagenet_m["missed"]):
        lines.append(
            f"ImageNet-M images among them: {len(imagenet_m['solved'])} solved, "
            f"{len(imagenet_m['missed'])} missed."
        )
    return lines


def text_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Fixed-width lines: the header, a rule, then the rows."""
    widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(_aligned(cells, widths)) for cells in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _aligned(row: list[str], widths: list[int]) -> list[str]:
    """Label column left-aligned, numbers right-aligned."""
    return [row[0].ljust(widths[0])] + [
        cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)
    ]


def problem_flags(document: Mapping[str, Any]) -> tuple[str, ...]:
    """Short names of the publication problems: partial, incomplete, unverified, patched."""
    return short_names(publication_problems(document))


# Short names that are not the problem's first words without " labels".
_SHORT_NAMES = {
    "patched labels": "patched",
    **{
        f"unverified {s.title.lower()} labels": f"unverified {s.title}" for s in label_sets.REGISTRY
    },
}


def short_names(problems: Sequence[str]) -> tuple[str, ...]:
    """Each problem of `publication_problems` (or `label_problems`) by its short name, once."""
    found = []
    for problem in problems:
        word = problem.split(":")[0].split(" (")[0].lower()
        flag = _SHORT_NAMES.get(word, word.replace(" labels", ""))
        if flag not in found:
            found.append(flag)
    return tuple(found)

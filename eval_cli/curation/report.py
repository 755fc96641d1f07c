"""What ``compare`` writes for people to read: compare.md (tables, the queue's head, the plot),
compare.csv (every number as one long table) and the solved-vs-accuracy plot, all from the
compare.json document that ``eval_cli.compare`` computes. Each goes through its format's writer
(`dataset_script.writers`): model names, file names and class names are outside text, escaped for
the format, and the labels' source is named by its last path component only."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...dataset_script import escape, writers
from ...dataset_script.escape import MarkdownText, markdown_format, plot_text
from ...dataset_script.taxonomy import experts
from ...dataset_script.taxonomy.categories import CATEGORIES
from ...dataset_script.writers import draw_text
from ..scores import results

MARKDOWN_FILE = "compare.md"
CSV_FILE = "compare.csv"
QUEUE_FILE = "queue.jsonl"
PLOT_STEM = "solved_vs_top1"
PLOT_SUFFIXES = (".png", ".svg")
_CSV_COLUMNS = (
    "section",
    "model",
    "other_model",
    "paper_set",
    "category",
    "severity",
    "measure",
    "value",
)


def _solved_fraction(cell: Mapping[str, int]) -> float | None:
    return cell["solved"] / cell["scored"] if cell["scored"] else None


def _category_cells(by_model: Mapping[str, Any], category: str) -> dict[str, int]:
    """A model's counts of one category, every severity together."""
    cells = by_model["by_category_severity"][category].values()
    return {key: sum(cell[key] for cell in cells) for key in ("scored", "solved")}


def csv_rows(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every number of ``document`` as one long table (``_CSV_COLUMNS``)."""
    rows = []

    def add(section: str, model: str, measure: str, value: Any, **where: str) -> None:
        rows.append(
            {"section": section, "model": model, "measure": measure, "value": value, **where}
        )

    for summary in document["models"]:
        for measure in (
            "multilabel_accuracy",
            "num_scored",
            "num_missing_predictions",
            "num_rejected",
            "num_wrong",
            "num_outside_label_set",
        ):
            add("models", summary["name"], measure, summary[measure])
        for metrics in summary["label_sets"].values():  # metric keys are unique across splits
            for measure, value in metrics.items():
                add("label_sets", summary["name"], measure, value)
    for paper_set, report in document["solved"].items():
        for model, counts in report["by_model"].items():
            for measure in ("scored", "solved", "same_mistake"):
                add("solved", model, measure, counts[measure], paper_set=paper_set)
            for category, severities in counts["by_category_severity"].items():
                for severity, cell in severities.items():
                    for measure in ("scored", "solved"):
                        add(
                            "solved",
                            model,
                            measure,
                            cell[measure],
                            paper_set=paper_set,
                            category=category,
                            severity=severity,
                        )
    for model, by_category in document["solved_auto"]["by_model"].items():
        for category, counts in by_category.items():
            for measure, value in counts.items():
                add("solved_auto", model, measure, value, category=category)
    for (model, other), counts in _pair_lookup(document).items():
        for measure, value in counts.items():
            add("pairs", model, measure, value, other_model=other)
    return rows


def csv_text(document: Mapping[str, Any]) -> str:
    """compare.csv: every text cell (model names, categories) escaped for spreadsheets."""
    return writers.csv_document(
        [escape.csv_cell(column) for column in _CSV_COLUMNS],
        ([_csv_value(row.get(column)) for column in _CSV_COLUMNS] for row in csv_rows(document)),
    )


def _csv_value(value: Any) -> escape.CsvCell | int | float | None:
    """A number as it is, a text escaped for spreadsheets, a missing cell empty."""
    return value if value is None or isinstance(value, int | float) else escape.csv_cell(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[MarkdownText]:
    """A markdown table of texts (escaped here) and numbers (right-aligned)."""
    return [
        writers.markdown_table(
            [escape.markdown_text(text) for text in header],
            [
                [value if isinstance(value, int) else escape.markdown_text(value) for value in row]
                for row in rows
            ],
        )
    ]


def _label_sets_table(summaries: Sequence[Mapping[str, Any]]) -> list[MarkdownText]:
    """Each model on every registered label set (the leaderboard's columns), where it predicted
    the set's whole split; empty cells where it did not."""
    columns = [
        (split, metric)
        for split, metric in results.COLUMN_METRICS
        if not metric.from_analysis  # a model's own analysis; compare pools the categories
        and any(split in summary["label_sets"] for summary in summaries)
    ]
    if not columns:
        return []
    return [
        markdown_format("## Label sets"),
        markdown_format(
            "Every registered label set on which a model predicted all the images of its split "
            "(percentages; `--split full` for the 50,000-image ones): {}.",
            "; ".join(f"{metric.column.header}: {metric.column.legend}" for _, metric in columns),
        ),
        *_table(
            ["model", *(metric.column.header for _, metric in columns)],
            [
                [
                    summary["name"],
                    *(
                        results.column_cell(summary["label_sets"].get(split, {}), metric)
                        for split, metric in columns
                    ),
                ]
                for summary in summaries
            ],
        ),
    ]


def _pair_lookup(document: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, int]]:
    """(model, other model) -> images compared, mistakes in common, with the same wrong class,
    and ``only_model``: the model's mistakes that the other gets right."""
    lookup = {}
    for pair in document["pairs"]:
        first, second = pair["models"]
        shared = {key: pair[key] for key in ("images_compared", "common", "same_wrong_class")}
        lookup[first, second] = {**shared, "only_model": pair["only_first"]}
        lookup[second, first] = {**shared, "only_model": pair["only_second"]}
    return lookup


def markdown(document: Mapping[str, Any], queue: Sequence[Mapping[str, Any]]) -> str:
    """compare.md: the models, the queue's head, what each solves, the pair matrices, the slice."""
    labels = document["labels"]
    names = [summary["name"] for summary in document["models"]]
    blocks = [
        markdown_format("# Model comparison"),
        markdown_format(
            "{} models judged on split {} of the labels {} (version {}, sha256 {}"
            + (", patched" if labels.get("patched") else "")
            + "). Accuracy: multi-label top-1, per class, on the images each model predicted. "
            "Mistakes: top-1 predictions judged wrong or outside the label set.",
            len(names),
            document["split"],
            escape.public_model_name(str(labels.get("source"))),
            labels.get("version"),
            labels.get("sha256"),
        ),
        markdown_format("## Models"),
        *_table(
            ["model", "accuracy", "scored", "missing", "mistakes", "wrong", "outside label set"],
            [
                [
                    s["name"],
                    f"{100 * s['multilabel_accuracy']:.2f}%"
                    + (" (partial)" if s["partial"] else ""),
                    s["num_scored"],
                    s["num_missing_predictions"],
                    s["num_rejected"],
                    s["num_wrong"],
                    s["num_outside_label_set"],
                ]
                for s in document["models"]
            ],
        ),
        *_label_sets_table(document["models"]),
        *_queue_section(document["queue"], queue),
    ]
    for report in document["solved"].values():
        blocks += _solved_section(report)
    blocks.append(markdown_format(f"![{PLOT_STEM}]({PLOT_STEM}.png)"))
    blocks += _solved_auto_section(document["solved_auto"])
    blocks.append(markdown_format("## Shared and unique mistakes"))
    lookup = _pair_lookup(document)
    for title, key in (
        ("Mistakes in common", "common"),
        ("Mistakes in common with the same wrong class", "same_wrong_class"),
        ("Mistakes of the row model that the column model gets right", "only_model"),
    ):
        blocks.append(markdown_format("{}:", title))
        blocks += _table(
            ["", *names],
            [
                [row, *(lookup[row, col][key] if row != col else "" for col in names)]
                for row in names
            ],
        )
    blocks += _slice_section(document["major_candidates"])
    return writers.markdown_document(blocks)


def _queue_section(
    summary: Mapping[str, Any], queue: Sequence[Mapping[str, Any]], shown: int = 20
) -> list[MarkdownText]:
    """The queue's size and its first ``shown`` items."""
    return [
        markdown_format("## Novel-prediction queue"),
        markdown_format(
            "{} (image, class) pairs predicted top-1 and outside the label set, {} of them by "
            "exactly one model (first in the queue). All in `" + QUEUE_FILE + "`; the first {}:",
            summary["num_items"],
            summary["num_predicted_by_one_model"],
            min(shown, len(queue)),
        ),
        *_table(
            ["rank", "image", "class", "models", "probabilities", "paper's experts"],
            [
                [
                    item["rank"],
                    item["file_name"],
                    f"{item['class_id']} {item['class_name']}",
                    ", ".join(item["models"]),
                    ", ".join("?" if p is None else f"{p:.3f}" for p in item["probabilities"]),
                    ""
                    if item["expert"] is None
                    else f"{item['expert']['category']}, {item['expert']['severity']}",
                ]
                for item in queue[:shown]
            ],
        ),
    ]


def _solved_section(report: Mapping[str, Any]) -> list[MarkdownText]:
    """What each model solves of one paper model's reviewed mistakes, per category x severity."""
    cells = [(c, s) for c in experts.CATEGORIES for s in experts.SEVERITIES]
    cells = [(c, s) for c, s in cells if _any_scored(report, c, s)]
    rows = []
    for model, counts in report["by_model"].items():
        table = counts["by_category_severity"]
        rows.append(
            [model, f"{counts['solved']} / {counts['scored']}", counts["same_mistake"]]
            + [f"{table[c][s]['solved']} / {table[c][s]['scored']}" for c, s in cells]
        )
    return [
        markdown_format(
            "## What each model solves of the mistakes of {} reviewed by the paper's experts",
            report["paper_model"],
        ),
        markdown_format(
            "{} mistakes reviewed by the paper's experts, {} on images of these labels. Solved: "
            "the model's top-1 is accepted (correct or unclear); same: it repeats the very "
            "mistake. Cells: solved / scored, per category x severity.",
            report["num_reviewed"],
            report["num_in_labels"],
        ),
        *_table(["model", "solved", "same"] + [f"{c} {s}" for c, s in cells], rows),
    ]


def _slice_section(slice_: Mapping[str, Any]) -> list[MarkdownText]:
    """The images that enough models get wrong with a major mistake."""
    imagenet_m = slice_["imagenet_m"]
    among = (
        markdown_format(
            "; {} of the {} ImageNet-M images among them (marked M).",
            imagenet_m["among_candidates"],
            imagenet_m["total"],
        )
        if imagenet_m
        else markdown_format(".")
    )
    return [
        markdown_format("## Major-mistake slice candidates"),
        markdown_format(
            "{} images that at least {} of the models get wrong with a major mistake (the "
            "experts' severity where they reviewed that prediction, else the labels' `wrong`){}",
            slice_["num_candidates"],
            slice_["min_models"],
            among,
        ),
        *_table(
            ["image", "M", "models", "predictions"],
            [
                [
                    image["file_name"],
                    "M" if image["in_imagenet_m"] else "",
                    image["num_models"],
                    "; ".join(
                        f"{m['model']}: {m['prediction']} {m['prediction_name']} ({m['major_by']})"
                        for m in image["models"]
                    ),
                ]
                for image in slice_["images"]
            ],
        ),
    ]


def _solved_auto_section(auto: Mapping[str, Any]) -> list[MarkdownText]:
    """What each model solves of the other models' mistakes, per automatic category."""
    rules = auto["image_rules"]
    judged = (
        f"the image rules judged by {rules['model']}"
        if rules
        else "image-free rules only: "
        + "; ".join(
            f"{category} not available (counted under {' or '.join(under)})"
            for category, under in auto["not_available"].items()
        )
    )
    shown = [c for c in CATEGORIES if auto["categories"][c]]
    rows = [
        [model]
        + [
            f"{counts[c]['solved']} / {counts[c]['others_mistakes']} ({counts[c]['mistakes']})"
            for c in shown
        ]
        for model, counts in auto["by_model"].items()
    ]
    return [
        markdown_format(
            "## What each model solves of the other models' mistakes, per automatic category"
        ),
        markdown_format(
            "{} distinct (image, class) mistakes of all the models, each in one automatic "
            "category (docs/TAXONOMY.md; {}). Cells: solved / the other models' mistakes on "
            "images the model was scored on (the model's own mistakes of that category).",
            auto["num_pairs"],
            judged,
        ),
        *_table(["model", *shown], rows),
    ]


def _any_scored(report: Mapping[str, Any], category: str, severity: str) -> bool:
    return any(
        counts["by_category_severity"][category][severity]["scored"]
        for counts in report["by_model"].values()
    )


def plot_solved(document: Mapping[str, Any]) -> dict[str, bytes]:
    """The solved fraction of each category of each paper set against each model's accuracy,
    one line per category (the paper's finding 2: no category is solved first), as PNG and SVG."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figure registry

    summaries = sorted(document["models"], key=lambda s: s["multilabel_accuracy"])
    xs = [100 * s["multilabel_accuracy"] for s in summaries]
    figure = Figure(figsize=(12, 5.5), dpi=100)
    panels = figure.subplots(1, len(document["solved"]), sharey=True, squeeze=False)[0]
    for axes, report in zip(panels, document["solved"].values(), strict=True):
        for category in experts.CATEGORIES:
            cells = [_category_cells(report["by_model"][s["name"]], category) for s in summaries]
            if not any(cell["scored"] for cell in cells):
                continue
            fractions = [_solved_fraction(cell) for cell in cells]
            ys = [np.nan if f is None else 100 * f for f in fractions]
            draw_text(
                axes.plot,
                xs,
                ys,
                marker="o",
                color=f"C{experts.CATEGORIES.index(category)}",  # one colour per category
                label=plot_text(f"{category} (n={max(c['scored'] for c in cells)})"),
            )
        draw_text(
            axes.set_title,
            plot_text(f"{report['paper_model']}: {report['num_in_labels']} reviewed mistakes"),
        )
        draw_text(axes.set_xlabel, plot_text("model's multi-label top-1 accuracy (%)"))
        axes.set_ylim(-3, 103)
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend(fontsize=8, loc="best")
        else:
            draw_text(
                axes.text,
                0.5,
                0.5,
                plot_text("none of these mistakes is among the compared images"),
                transform=axes.transAxes,
                ha="center",
                color="0.35",
            )
    draw_text(panels[0].set_ylabel, plot_text("solved (%)"))
    draw_text(
        figure.suptitle, plot_text("Solved fraction of the paper's reviewed mistakes, per category")
    )
    figure.tight_layout()
    rendered = {}
    for suffix in PLOT_SUFFIXES:
        buffer = io.BytesIO()
        figure.savefig(buffer, format=suffix[1:])
        rendered[suffix] = buffer.getvalue()
    return rendered

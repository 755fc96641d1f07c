"""`imagenet-multilabel leaderboard`: results of `score` and `run` in one table and three plots."""

from __future__ import annotations

import csv
import errno
import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.annotations.published import PUBLISHED_SHA256
from imagenet_multilabel.dataset_script.labels.loading import load_labels
from imagenet_multilabel.dataset_script.taxonomy import experts
from imagenet_multilabel.dataset_script.taxonomy.categories import CATEGORIES
from imagenet_multilabel.eval_cli import outputs
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.eval_cli.leaderboard import accuracy_plots, category_bars, plots
from imagenet_multilabel.eval_cli.leaderboard import entries as leaderboard_entries
from imagenet_multilabel.eval_cli.leaderboard.ranking import build_leaderboard
from imagenet_multilabel.eval_cli.leaderboard.table import row_cells
from imagenet_multilabel.eval_cli.scores import results
from imagenet_multilabel.eval_cli.scores.mistakes import LENIENT_ACCURACIES
from imagenet_multilabel.metric.scoring import score
from markdown_it import MarkdownIt

# What a result scored on the published annotation file records about its labels.
PUBLISHED_LABELS = {"verified": True, "version": "3.0.0", "sha256": PUBLISHED_SHA256}


def _label_args(annotation_file) -> list[str]:
    return ["--annotations", str(annotation_file[0]), "--allow-unverified-annotations"]


def _predictions(path: Path, seed: int, accuracy: float, limit: int | None = None) -> Path:
    """Top-5 for every validation image: the original label first for about ``accuracy`` of
    them, else a random class."""
    rng = np.random.default_rng(seed)
    original = classes.validation_labels().astype(np.int64)[:limit]
    top5 = np.stack([rng.permutation(1000)[:5] for _ in range(original.size)])
    right = rng.random(original.size) < accuracy
    top5[right, 0] = original[right]
    top5[right, 1:] = (original[right, None] + np.arange(1, 5)) % 1000
    path.write_text(
        "".join(
            json.dumps({"file_name": classes.file_name_from_image_id(i + 1), "top5": row}) + "\n"
            for i, row in enumerate(top5.tolist())
        )
    )
    return path


@pytest.fixture(scope="module")
def scored(annotation_file, tmp_path_factory) -> dict[str, Path]:
    """Results of `score --split full` for three prediction files, one incomplete; one of them
    also laid out as a `run` directory (results.json with a model block)."""
    root = tmp_path_factory.mktemp("results")
    outputs = {}
    for name, seed, accuracy, limit in (
        ("alpha", 0, 0.8, None),
        ("beta", 1, 0.6, None),
        ("gamma", 2, 0.7, 30_000),
    ):
        predictions = _predictions(root / f"{name}.jsonl", seed, accuracy, limit)
        output = root / f"{name}.json"
        args = ["score", "--predictions", str(predictions), "--split", "full"]
        assert main([*args, *_label_args(annotation_file), "--output", str(output)]) == 0
        outputs[name] = output
    run_dir = root / "run_delta"
    run_dir.mkdir()
    document = json.loads(outputs["alpha"].read_text())
    document["model"] = {"id": "org/delta", "revision": "abc123", "kind": "timm"}
    (run_dir / "results.json").write_text(json.dumps(document))
    outputs["delta"] = run_dir
    return outputs


@pytest.fixture(scope="module")
def board_dir(scored, annotation_file, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("board")
    args = ["leaderboard", *map(str, scored.values()), "--output-dir", str(output)]
    assert main([*args, *_label_args(annotation_file)]) == 0
    return output


def _csv_rows(board_dir: Path) -> list[dict[str, str]]:
    with open(board_dir / "leaderboard.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_table_rows_are_the_results_numbers(scored, board_dir):
    rows = {row["model"]: row for row in _csv_rows(board_dir)}
    assert set(rows) == {
        "alpha",
        "beta",
        "gamma",
        "org/delta",
        "ViT-3B (paper reference)",
        "Greedy Soups (paper reference)",
    }
    for name in ("alpha", "beta", "gamma"):
        document = json.loads(scored[name].read_text())
        metrics, row = document["metrics"], rows[name]
        assert row["top1_50k"] == f"{100 * metrics['full']['top1_accuracy']:.2f}"
        assert row["real"] == f"{100 * metrics['full']['real_accuracy']:.2f}"
        validation = metrics["validation"]
        assert row["multilabel_accuracy"] == f"{100 * validation['multilabel_accuracy']:.2f}"
        assert row["multilabel_accuracy_strict"] == (
            f"{100 * validation['multilabel_accuracy_strict']:.2f}"
        )
        imagenet_m = metrics["imagenet_m"]
        assert row["imagenet_m"] == (
            f"{imagenet_m['imagenet_m_correct']}/{imagenet_m['imagenet_m_total']}"
        )
        assert row["top1_annotated"] == f"{100 * validation['top1_accuracy_original']:.2f}"
        assert row["num_outside_label_set"] == str(
            results.metric_value(validation, "num_outside_label_set")
        )
        for source, count in document["mistakes"]["by_source"].items():
            source = leaderboard_entries.OLD_MISTAKE_SOURCES.get(source, source)
            assert row[f"rejected_{source}"] == str(count)
        severity_table = document["mistakes"]["expert_category_severity"]
        assert row["expert_major"] == str(sum(r["major"] for r in severity_table.values()))
    assert rows["org/delta"]["revision"] == "abc123"
    assert rows["org/delta"]["source"] == "run_delta"  # the run folder, no local path
    assert rows["alpha"]["source"] == "alpha.json"
    predictions_sha256 = json.loads(scored["alpha"].read_text())["predictions"]["sha256"]
    assert rows["alpha"]["revision"] == f"predictions sha256 {predictions_sha256[:12]}"
    assert rows["gamma"]["flags"] == "unverified, incomplete"
    assert rows["alpha"]["flags"] == "unverified"  # the synthetic annotation file
    ranks = [row["rank"] for row in _csv_rows(board_dir)]
    assert ranks == ["1", "2", "3", "4", "ref", "ref"]


def test_reference_lines_are_our_scorer_on_the_papers_metadata(annotation_file, board_dir):
    labels = load_labels(annotations=annotation_file[0], allow_unverified=True)
    rows = {row["model"]: row for row in _csv_rows(board_dir)}
    for model, name in experts.MODEL_NAMES.items():
        validation, imagenet_m = (
            score(
                experts.paper_model_predictions(model, labels.split(split)),
                labels.split(split),
                imagenet_m=split == "imagenet_m",
                allow_partial=True,
            )
            for split in ("validation", "imagenet_m")
        )
        row = rows[f"{name} (paper reference)"]
        assert row["multilabel_accuracy"] == f"{100 * validation['multilabel_accuracy']:.2f}"
        assert row["imagenet_m"] == f"{imagenet_m['imagenet_m_correct']}/68"
        assert row["top1_50k"] == "" and row["flags"] == "unverified"


def test_markdown_and_both_plots_are_written(board_dir):
    text = (board_dir / "leaderboard.md").read_text()
    assert text.startswith("# ImageNet multi-label leaderboard")
    assert "| 1 |" in text and "ref:" in text and "Flags:" in text
    for plot in accuracy_plots.PLOTS:
        assert f"]({plot}.png)" in text
        png = (board_dir / f"{plot}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
        svg = (board_dir / f"{plot}.svg").read_text()
        for label in ("alpha", "org/delta", "annotated validation images", "flagged"):
            assert label in svg, (plot, label)
        assert "ViT-3B (paper reference)" in svg and "unverified labels" in svg
        assert "gamma" not in svg  # incomplete: in the table, not beside complete results
    assert "y = x" in (board_dir / "multilabel_vs_top1.svg").read_text()
    assert "left out of them: gamma (partial or incomplete)" in text
    assert "Unreviewed" not in text and "| Outside label set |" in text


def test_newest_result_of_a_model_wins_and_the_table_says_so(scored, tmp_path, capsys):
    older = json.loads(scored["alpha"].read_text())
    newer = json.loads(scored["beta"].read_text())
    for document, created in (
        (older, "2026-01-01T00:00:00+00:00"),
        (newer, "2026-03-01T00:00:00+00:00"),
    ):
        document["model"] = {"id": "org/same", "revision": "main"}
        document["environment"]["created_at"] = created
    (tmp_path / "old.json").write_text(json.dumps(older))
    (tmp_path / "new.json").write_text(json.dumps(newer))
    output = tmp_path / "board"
    paths = [str(tmp_path / "old.json"), str(tmp_path / "new.json")]
    assert main(["leaderboard", *paths, "--output-dir", str(output)]) == 0
    rows = _csv_rows(output)
    assert [row["model"] for row in rows] == ["org/same"]
    assert rows[0]["source"] == "new.json"
    text = (output / "leaderboard.md").read_text()
    assert "org/same @ main: 2 results; kept the newest, new.json" in text
    assert "left out old.json (2026-01-01" in text
    printed = capsys.readouterr().out
    assert "Paper reference lines left out: no labels given" in printed


def test_label_versions_and_flags_are_never_mixed_silently(scored, tmp_path):
    official = json.loads(scored["alpha"].read_text())
    official["labels"].update(PUBLISHED_LABELS)
    official["predictions"]["source"] = "official.jsonl"
    patched = json.loads(scored["beta"].read_text())
    patched["labels"].update(
        PUBLISHED_LABELS, patched=True, version="3.0.0+patch.1234", patches=[{}]
    )
    patched["predictions"]["source"] = "patched.jsonl"
    paths = []
    for name, document in (("official", official), ("patched", patched)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(document))
    board = build_leaderboard(paths)
    flags = {entry.model: entry.flags for entry in board.entries}
    assert flags == {"official": (), "patched": ("patched",)}
    assert any("2 label versions (3.0.0, 3.0.0+patch.1234" in note for note in board.notes)
    assert [entry.official for entry in board.entries] == [True, False]


def test_automatic_categories_and_lenient_accuracies_are_columns(scored, board_dir):
    rows = {row["model"]: row for row in _csv_rows(board_dir)}
    for name in ("alpha", "beta", "gamma"):
        document = json.loads(scored[name].read_text())
        validation, row = document["metrics"]["validation"], rows[name]
        for key in LENIENT_ACCURACIES:
            assert row[key] == f"{100 * validation[key]:.2f}"
        auto = document["mistakes"]["auto_categories"]
        for category in CATEGORIES:  # score runs the image-free rules: the others not available
            expected = (
                "n/a" if category in auto["not_available"] else str(auto["categories"][category])
            )
            assert row[f"auto_{category}"] == expected
        assert rows[name]["auto_fine-grained-oov"] == "n/a"
    for reference in ("ViT-3B (paper reference)", "Greedy Soups (paper reference)"):
        counted = sum(
            int(rows[reference][f"auto_{c}"])
            for c in CATEGORIES
            if rows[reference][f"auto_{c}"] != "n/a"
        )
        assert counted == int(rows[reference]["rejected_expert"]) > 0  # all the experts' own
        assert float(rows[reference]["multilabel_accuracy_minor_forgiven"]) >= float(
            rows[reference]["multilabel_accuracy"]
        )
    text = (board_dir / "leaderboard.md").read_text()
    assert "| Auto: fine grained |" in text and "| Minor as right |" in text


def test_the_error_category_plot_sorts_the_models_by_top1(scored, board_dir):
    png = (board_dir / f"{plots.CATEGORY_PLOT}.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    svg = (board_dir / f"{plots.CATEGORY_PLOT}.svg").read_text()
    assert "model-failure (failure)" in svg and "image rules did not run" in svg
    assert "gamma" not in svg  # incomplete: in the table, not beside the complete results
    top1 = {
        name: json.loads(
            (scored[name] / "results.json" if scored[name].is_dir() else scored[name]).read_text()
        )["metrics"]["validation"]["top1_accuracy_original"]
        for name in ("alpha", "beta", "delta")
    }
    labels = {"alpha": "alpha (", "beta": "beta (", "delta": "org/delta ("}
    drawn = sorted(labels, key=lambda name: svg.index(labels[name]))  # drawn bottom to top
    assert [top1[name] for name in drawn] == sorted(top1.values())
    assert "ViT-3B (paper reference)" in svg  # the paper's models among them
    assert f"]({plots.CATEGORY_PLOT}.png)" in (board_dir / "leaderboard.md").read_text()


def test_the_notes_say_where_the_categoriser_counted_what_image_rules_did_not_judge(
    scored, board_dir
):
    # What the categoriser recorded when its image rules did not run (score has no images): the
    # table's note, the plot's and the page's must say the same, category by category.
    document = json.loads(scored["alpha"].read_text())
    not_available = document["mistakes"]["auto_categories"]["not_available"]
    assert set(not_available) == {"fine-grained-oov", "non-prototypical"}
    written = [
        (board_dir / name).read_text()
        for name in ("leaderboard.md", f"{plots.CATEGORY_PLOT}.svg", "leaderboard.html")
    ]
    for category, counted_under in not_available.items():
        said = f"{category} under {' or '.join(counted_under)}"
        assert all(said in text for text in written), said


def test_the_error_category_plot_stays_legible_with_thirty_models():
    entries = []
    for i in range(30):
        counts = dict.fromkeys(CATEGORIES, 10 + i)
        entries.append(
            leaderboard_entries.Entry(
                model=f"timm/a_rather_long_model_name_number_{i}.fb_in22k_ft_in1k_384",
                revision=None,
                identity=("model", str(i)),
                source=f"{i}.json",
                created_at="",
                metrics={"validation": {"top1_accuracy_original": 0.7 + i / 200}},
                mistakes={
                    "by_source": {},
                    "severities": {},
                    "auto_categories": counts,
                    "auto_not_available": ("fine-grained-oov",) if i % 2 else (),
                },
                labels_version="3.0.0",
                flags=("patched",) if i % 3 else (),
            )
        )
    board = leaderboard_entries.Leaderboard(entries=entries, references=[], plotted=entries)
    figure = _drawn(category_bars.categories_figure(board))
    axes = figure.axes[0]
    boxes = [label.get_window_extent() for label in axes.get_yticklabels()]
    assert len(boxes) == 30
    page = figure.bbox
    for box in boxes:
        assert page.x0 <= box.x0 and box.x1 <= axes.get_window_extent().x0  # left of the bars
    for lower, upper in itertools.pairwise(sorted(boxes, key=lambda box: box.y0)):
        assert lower.y1 <= upper.y0  # no two names overlap
    texts = [label.get_text() for label in axes.get_yticklabels()]
    assert texts[0].startswith("timm/a_rather_long_model_name_number_0") and texts[0].endswith(
        "(70.0%)"
    )
    assert texts[1].endswith("(70.5%) *")  # image rules did not run
    legend = figure.legends[0].get_window_extent()
    title = axes.title.get_window_extent()
    assert legend.y0 >= title.y1 and title.y0 >= axes.get_window_extent().y1
    assert page.y0 <= axes.xaxis.label.get_window_extent().y0


def test_a_result_without_a_mistakes_block_has_empty_cells(scored, tmp_path):
    document = json.loads(scored["alpha"].read_text())
    del document["mistakes"]
    path = tmp_path / "no_mistakes.json"
    path.write_text(json.dumps(document))
    (entry,) = build_leaderboard([path]).entries
    cells = row_cells(1, entry)
    assert cells["rejected_expert"] == "" and cells["expert_major"] == ""
    assert cells["auto_model-failure"] == ""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "RESULTS '"),  # the frame: does not exist
        ("not json", "results.json' is not valid JSON: Expecting value"),
        ('{"labels": {}}', "is not a results document"),
    ],
)
def test_unusable_inputs_are_errors_naming_the_file(tmp_path, capsys, content, message):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    assert main(["leaderboard", str(path), "--output-dir", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert message in error and str(path) in error


def test_label_placement_never_overlaps():
    """Dense random points: every placed label's box is free of the others and of markers."""
    rng = np.random.default_rng(0)
    points = rng.uniform(100, 500, (300, 2))
    texts = [str(i) for i in range(len(points))]
    size = 9.0
    offsets = accuracy_plots._place_labels(
        points, texts, size_px=size, bounds=np.array([80, 80, 520, 520])
    )
    placed = [i for i, offset in enumerate(offsets) if offset is not None]
    assert 50 < len(placed) < len(points)  # crowded: many are placed, some left out
    boxes = []
    for i in placed:
        dx, dy = offsets[i]
        width, height = len(texts[i]) * 0.62 * size + 4, 1.25 * size
        x0 = points[i, 0] + (dx if dx > 0 else dx - width if dx < 0 else -width / 2)
        y0 = points[i, 1] + (dy if dy > 0 else dy - height if dy < 0 else -height / 2)
        boxes.append((x0, y0, x0 + width, y0 + height))
    for a, first in enumerate(boxes):
        for second in boxes[a + 1 :]:
            assert not (
                first[0] < second[2]
                and second[0] < first[2]
                and first[1] < second[3]
                and second[1] < first[3]
            )
        for x, y in points:
            assert not (
                first[0] < x + 5 and x - 5 < first[2] and first[1] < y + 5 and y - 5 < first[3]
            )


def _write(path: Path, document) -> Path:
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def _leaderboard_error(paths, output: Path, capsys) -> str:
    assert main(["leaderboard", *map(str, paths), "--output-dir", str(output)]) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("split", "key", "value", "expected"),
    [
        ("validation", "multilabel_accuracy", float("nan"), "expected an accuracy"),
        ("validation", "multilabel_accuracy", True, "expected a number"),
        ("validation", "multilabel_accuracy", -3.0, "expected an accuracy"),
        ("validation", "multilabel_accuracy", "0.9", "expected a number"),
        ("full", "top1_accuracy", 1.5, "expected an accuracy"),
        ("imagenet_m", "imagenet_m_correct", 69, "expected a count, an integer in 0..68"),
        ("validation", "num_outside_label_set", 2.5, "expected a count"),
        ("validation", "limit", "10", "expected a number"),
    ],
)
def test_metrics_that_are_not_numbers_in_range_are_refused(
    scored, tmp_path, capsys, split, key, value, expected
):
    """Today a NaN broke the ranking of the others silently, true printed 100.00, -3.0 -300.00."""
    document = json.loads(scored["alpha"].read_text())
    document["metrics"][split][key] = value
    path = _write(tmp_path / "bad.json", document)
    error = _leaderboard_error([path, scored["beta"]], tmp_path / "out", capsys)
    assert str(path) in error and repr(key) in error and expected in error
    assert "Traceback" not in error and not (tmp_path / "out" / "leaderboard.md").exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(model=5), "'model' is 5; expected a JSON object"),
        (lambda d: d.update(labels=["x"]), "'labels' is ['x']; expected a JSON object"),
        (lambda d: d["metrics"].update(validation="x"), "'metrics.validation' is 'x'"),
        (lambda d: d["metrics"].update(test={}), "unknown split(s) ['test']"),
        (lambda d: d.update(mistakes={"by_source": [1]}), "'mistakes.by_source' is [1]"),
        (lambda d: d["mistakes"]["by_source"].update(expert="3"), "mistakes.by_source.expert"),
        (lambda d: d.update(model={"id": ["a"]}), "'model.id' is ['a']; expected a string"),
        (lambda d: d["labels"].update(patches=3), "'labels.patches' is 3; expected a list"),
        (lambda d: d["labels"].update(verified="yes"), "'labels.verified' is 'yes'"),
        (lambda d: d.update(complete="yes"), "'complete' is 'yes'"),
        (lambda d: d["metrics"]["validation"].update(partial=1), "'metrics.validation.partial'"),
    ],
)
def test_malformed_blocks_are_errors_naming_the_file_and_key(
    scored, tmp_path, capsys, change, expected
):
    document = json.loads(scored["alpha"].read_text())
    change(document)
    path = _write(tmp_path / "malformed.json", document)
    error = _leaderboard_error([path], tmp_path / "out", capsys)
    assert str(path) in error and expected in error, error


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"metrics": {"validation": {"num_scored": ' + "9" * 5000 + "}}}", "integer string"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"metrics": {"validation": {"multilabel_accuracy": 1e400}}}', "inf"),
    ],
    ids=["huge int", "deep nesting", "huge float"],
)
def test_huge_or_deep_numbers_are_errors_not_tracebacks(tmp_path, capsys, content, expected):
    path = _write(tmp_path / "hostile.json", content)
    error = _leaderboard_error([path], tmp_path / "out", capsys)
    assert str(path) in error and expected in error and "Traceback" not in error


def test_the_output_dir_may_not_be_a_file(scored, tmp_path, capsys):
    occupied = _write(tmp_path / "board", "a file")
    error = _leaderboard_error([scored["alpha"]], occupied, capsys)
    assert f"--output-dir {str(occupied)!r} is a regular file; expected a folder" in error


def test_a_partial_result_never_replaces_the_complete_one(scored, tmp_path):
    """Keyed by the model identity recorded in the results, not by the file name."""
    complete = json.loads(scored["alpha"].read_text())
    partial = json.loads(scored["gamma"].read_text())  # incomplete, scored later
    for document, created in ((complete, "2026-01-01T00:00:00+00:00"), (partial, "2026-05-01")):
        document["model"] = {"id": "org/same", "revision": "main"}
        document["environment"]["created_at"] = created
    paths = [_write(tmp_path / "a.json", complete), _write(tmp_path / "b.json", partial)]
    board = build_leaderboard(paths)
    assert [entry.source for entry in board.entries] == ["a.json"]
    assert any(
        "org/same @ main: 2 results; kept the complete one, a.json" in note
        and "left out b.json (2026-05-01T00:00:00+00:00, unverified, incomplete)" in note
        for note in board.notes
    )


def test_a_result_of_fewer_splits_never_hides_one_of_more(scored, tmp_path):
    """`analyze` of ImageNet-M alone, run after `score --split all` of the same model: the
    newer result covers less, so the one covering every split is kept and the note says why."""
    everything = json.loads(scored["alpha"].read_text())
    fewer = json.loads(scored["alpha"].read_text())
    fewer["metrics"] = {"imagenet_m": fewer["metrics"]["imagenet_m"]}
    everything["environment"]["created_at"] = "2026-01-01T00:00:00+00:00"
    fewer["environment"]["created_at"] = "2026-05-01T00:00:00+00:00"
    paths = [_write(tmp_path / "all.json", everything), _write(tmp_path / "m.json", fewer)]
    board = build_leaderboard(paths)
    assert [entry.source for entry in board.entries] == ["all.json"]
    assert any("kept the one covering the most splits, all.json" in note for note in board.notes)


def test_an_official_result_is_kept_over_a_newer_one_on_patched_labels(scored, tmp_path):
    """Both complete, the same model: the newer run on patched labels never hides the official
    number, and the note names the rule that decided."""
    official = json.loads(scored["alpha"].read_text())
    official["labels"].update(PUBLISHED_LABELS)
    patched = json.loads(scored["beta"].read_text())
    patched["labels"].update(PUBLISHED_LABELS, patched=True, version="3.0.0+patch.1", patches=[{}])
    for document, created in ((official, "2026-01-01"), (patched, "2026-02-01")):
        document["model"] = {"id": "org/same", "revision": "main"}
        document["environment"]["created_at"] = created
    paths = [_write(tmp_path / "official.json", official), _write(tmp_path / "p.json", patched)]
    board = build_leaderboard(paths)
    assert [(entry.source, entry.official) for entry in board.entries] == [("official.json", True)]
    assert any(
        "org/same @ main: 2 results; kept the official one, official.json "
        "(2026-01-01T00:00:00+00:00)"
        in note
        and "left out p.json (2026-02-01T00:00:00+00:00, patched)" in note
        for note in board.notes
    )


def _official(scored, **labels) -> dict:
    """alpha's result, complete, recorded as scored on the published labels (with ``labels``
    changed)."""
    document = json.loads(scored["alpha"].read_text())
    document["labels"].update(PUBLISHED_LABELS, **labels)
    return document


@pytest.mark.parametrize(
    ("claim", "flags"),
    [
        ({}, ()),
        ({"sha256": "0" * 64}, ("unverified",)),  # verified: true beside another sha256
        ({"verified": False}, ("unverified",)),
        ({"verification": "unchecked"}, ("unchecked",)),
        ({"patches": [{"sha256": "1" * 64}]}, ("patched",)),  # patched: absent, patches listed
        (
            {"real": {"source": "real.json", "sha256": "2" * 64, "verified": True}},
            ("unverified ReaL",),
        ),
    ],
)
def test_official_is_recomputed_from_the_record_not_read(scored, tmp_path, claim, flags):
    """A stored ``verified: true`` proves nothing: the leaderboard (and compare, through the
    same rule) decides from the recorded sha256s, patches and checks (issue 19, problem 11)."""
    path = _write(tmp_path / "claims.json", _official(scored, **claim))
    (entry,) = build_leaderboard([path]).entries
    assert entry.flags == flags


def test_a_claimed_verified_beside_another_sha256_is_versioned_unverified(scored, tmp_path):
    """Its version is never grouped with the published labels' ("3.0.0") on a stored claim."""
    path = _write(tmp_path / "claims.json", _official(scored, sha256="0" * 64))
    (entry,) = build_leaderboard([path]).entries
    assert entry.labels_version == "3.0.0 (unverified)"


def test_a_stored_partial_false_beside_missing_classes_is_partial(scored, tmp_path):
    document = _official(scored)
    document["metrics"]["validation"].update(partial=False, num_classes_covered=900)
    (entry,) = build_leaderboard([_write(tmp_path / "r.json", document)]).entries
    assert entry.flags == ("partial",)


def test_newest_compares_dates_not_strings(scored, tmp_path, capsys):
    """ "2026-12-31T23:00:00-05:00" is after "2027-01-01" (UTC); as strings it sorts first. A
    date that is not one ("zzz" beat every year) is refused, naming the file."""
    paths = []
    for name, created in (("utc", "2027-01-01"), ("eastern", "2026-12-31T23:00:00-05:00")):
        document = _official(scored)
        document["model"] = {"id": "org/same", "revision": "main"}
        document["environment"]["created_at"] = created
        paths.append(_write(tmp_path / f"{name}.json", document))
    (kept,) = build_leaderboard(paths).entries
    assert kept.source == "eastern.json"
    document = _official(scored)
    document["environment"]["created_at"] = "zzz"
    error = _leaderboard_error([_write(tmp_path / "zzz.json", document)], tmp_path / "b", capsys)
    assert "zzz.json': 'environment.created_at' is 'zzz'; expected an ISO 8601 date" in error


def test_results_of_different_predictions_files_are_never_merged_by_name(scored, tmp_path):
    """Two `score` results whose predictions files share a name: two models, two rows; the same
    predictions file scored twice: one model, the merge said."""
    first, second = (json.loads(scored[name].read_text()) for name in ("alpha", "beta"))
    second["predictions"]["source"] = first["predictions"]["source"]
    paths = [
        _write(tmp_path / "one.json", first),
        _write(tmp_path / "two.json", second),
        _write(tmp_path / "again.json", first),
    ]
    board = build_leaderboard(paths)
    assert [entry.model for entry in board.entries] == ["alpha", "alpha"]
    assert len({entry.revision for entry in board.entries}) == 2  # their sha256s
    assert sum("alpha @ predictions sha256" in note for note in board.notes) == 1


def test_old_result_keys_read_as_today_and_unreviewed_is_gone(scored, tmp_path):
    document = json.loads(scored["alpha"].read_text())
    validation = document["metrics"]["validation"]
    count = results.metric_value(validation, "num_outside_label_set")
    validation.pop("num_outside_label_set", None)
    validation["num_unreviewed"] = count
    by_source = document["mistakes"]["by_source"]
    by_source["unreviewed"] = by_source.pop("outside-label-set", by_source.pop("unreviewed", 0))
    path = _write(tmp_path / "old.json", document)
    output = tmp_path / "board"
    assert main(["leaderboard", str(path), "--output-dir", str(output)]) == 0
    (row,) = _csv_rows(output)
    assert row["num_outside_label_set"] == str(count)
    assert row["rejected_outside-label-set"] == str(by_source["unreviewed"])
    for name in ("leaderboard.md", "leaderboard.csv", "multilabel_vs_top1.svg"):
        assert "nreviewed" not in (output / name).read_text(), name


HOSTILE_MODEL = "[x](javascript:alert(1)) *em* `code` <b>|cell\n=HYPERLINK(1) $\\frac{1}{$"


def test_hostile_names_are_escaped_and_local_paths_cut(scored, tmp_path):
    """A model id that is a local path (absolute or relative) shows as its folder name only;
    markup, formulas and mathtext in it stay text in the md, the csv and the plots."""
    paths = []
    for number, model_id in enumerate(
        (f"{tmp_path}/models/{HOSTILE_MODEL}", "../checkpoints/=cmd|calc", "org/fine-model")
    ):
        document = json.loads(scored["alpha"].read_text())
        document["model"] = {"id": model_id, "revision": f"rev\n{number}|*"}
        document["metrics"]["validation"]["top1_accuracy_original"] = 0.5 + number / 10
        paths.append(_write(tmp_path / f"hostile{number}.json", document))
    output = tmp_path / "board"
    assert main(["leaderboard", *map(str, paths), "--output-dir", str(output)]) == 0
    texts = {path.name: path.read_text() for path in output.iterdir() if path.suffix != ".png"}
    for name, text in texts.items():
        assert str(tmp_path) not in text and "../checkpoints" not in text, name
    models = [row["model"] for row in _csv_rows(output)]
    assert sorted(models) == sorted(["org/fine-model", "'=cmd|calc", HOSTILE_MODEL])
    html = MarkdownIt("commonmark").enable("table").render(texts["leaderboard.md"])
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    assert "<a " not in body and "<em>" not in body and "<code>" not in body and "<b>" not in body
    header_cells = len(re.findall(r"<th[ >]", html.split("</thead>")[0]))
    for body_row in body.split("</tr>")[:-1]:
        assert body_row.count("<td") == header_cells  # no "|" split a row
    assert "=HYPERLINK(1) $\\frac{1}{$" in texts["multilabel_vs_top1.svg"]  # not mathtext


def test_two_leaderboards_into_one_directory_the_second_is_refused(scored, tmp_path, capsys):
    output = tmp_path / "board"
    with outputs.locked_folder(output):  # another leaderboard is writing there
        error = _leaderboard_error([scored["alpha"]], output, capsys)
    assert f"output folder {str(output)!r} is in use by another command" in error
    assert not (output / "leaderboard.md").exists() and not (output / "leaderboard.csv").exists()


def test_a_full_disk_is_an_error_naming_the_path_and_keeps_the_old_files(
    scored, tmp_path, monkeypatch, capsys
):
    output = tmp_path / "board"
    assert main(["leaderboard", str(scored["alpha"]), "--output-dir", str(output)]) == 0
    before = {path.name: path.read_bytes() for path in output.iterdir()}
    synced = []

    def disk_fills_on_the_third_file(descriptor: int) -> None:
        synced.append(descriptor)
        if len(synced) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")

    capsys.readouterr()
    with monkeypatch.context() as patch:
        patch.setattr(outputs.os, "fsync", disk_fills_on_the_third_file)
        error = _leaderboard_error([scored["beta"]], output, capsys)
    assert "(No space left on device); the existing file is unchanged" in error
    assert str(output) in error
    after = {path.name: path.read_bytes() for path in output.iterdir()}
    assert set(after) == set(before)  # no temporary file left behind
    # the third file (a plot) kept whole, and the table pair not yet replaced: never mixed
    for name in ("imagenet_m_vs_top1.png", "leaderboard.md", "leaderboard.csv"):
        assert after[name] == before[name], name
    assert main(["leaderboard", str(scored["beta"]), "--output-dir", str(output)]) == 0
    assert [row["model"] for row in _csv_rows(output)] == ["beta"]


def test_plots_draw_one_label_version_and_say_unverified(scored, tmp_path):
    """x is top-1 on the annotated images, present without --split full; other label versions
    and incomplete results are left out of the plots with a note."""
    no_full = json.loads(scored["alpha"].read_text())
    del no_full["metrics"]["full"]
    other = json.loads(scored["beta"].read_text())
    other["labels"]["version"] = "9.9.9"
    paths = [
        _write(tmp_path / "no_full.json", no_full),
        _write(tmp_path / "other.json", other),
        scored["gamma"],
    ]
    board = build_leaderboard(paths)
    assert [entry.source for entry in board.plotted] == ["no_full.json"]
    (note,) = [note for note in board.notes if note.startswith("The plots draw")]
    assert "beta (labels 9.9.9 (unverified))" in note and "gamma (partial or incomplete)" in note
    assert "?" not in note
    svg = plots.render_plot(board, "multilabel_vs_top1")["multilabel_vs_top1.svg"].decode()
    assert "(unverified labels)" in svg and "annotated validation images" in svg


def test_labels_keep_clear_of_obstacles():
    """A reference line's boxes are never under a label."""
    points = np.array([[200.0, 200.0], [260.0, 200.0]])
    line = np.array([[x, 197.0, x + 6, 203.0] for x in range(80, 520, 4)])
    offsets = accuracy_plots._place_labels(
        points,
        ["long label", "other"],
        size_px=9.0,
        bounds=np.array([80, 80, 520, 520]),
        obstacles=line,
    )
    assert all(offset is not None and offset[1] != 0 for offset in offsets)


def _plotted_board(*points: tuple[str, float, int], flags=(), version="3.0.0") -> object:
    """A board drawing one result per (model, top-1 and multi-label accuracy, ImageNet-M
    correct of 68)."""
    entries = [
        leaderboard_entries.Entry(
            model=model,
            revision=None,
            identity=("model", model),
            source=f"{model}.json",
            created_at=None,
            metrics={
                "validation": {"top1_accuracy_original": accuracy, "multilabel_accuracy": accuracy},
                "imagenet_m": {"imagenet_m_correct": correct, "imagenet_m_total": 68},
            },
            mistakes=None,
            labels_version=version,
            flags=tuple(flags),
        )
        for model, accuracy, correct in points
    ]
    return leaderboard_entries.Leaderboard(entries=entries, references=[], plotted=entries)


def _drawn(figure):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure).draw()
    return figure


@pytest.mark.parametrize("which", accuracy_plots.PLOTS)
def test_a_long_title_with_every_caveat_is_never_clipped(which):
    board = _plotted_board(
        ("org/a", 0.7, 30),
        ("org/b", 0.8, 40),
        flags=("unverified", "partial"),
        version="3.0.0+patch.0123456789abcdef-reviewed-by-alice-and-bob (unverified)",
    )
    figure = _drawn(accuracy_plots.plot_figure(board, which))
    title = figure.axes[0].title
    box, page = title.get_window_extent(), figure.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    assert box.y0 >= figure.axes[0].get_window_extent().y1  # above the plot, not over it
    assert " ".join(title.get_text().split()).endswith(
        "(unverified labels; partial or incomplete results)"
    )


@pytest.mark.parametrize("correct", [0, 68])
def test_equal_imagenet_m_counts_keep_an_integer_axis_within_the_split(correct):
    board = _plotted_board(("org/a", 0.5, correct), ("org/b", 0.6, correct))
    axes = _drawn(accuracy_plots.plot_figure(board, "imagenet_m_vs_top1")).axes[0]
    ticks = list(axes.get_yticks())
    assert len(ticks) >= 3 and all(tick == int(tick) and 0 <= tick <= 68 for tick in ticks)
    assert correct in ticks and ticks[-1] - ticks[0] >= 5
    low, high = axes.get_ylim()
    assert low < correct < high  # the markers whole, not cut by the frame


@pytest.mark.parametrize("which", accuracy_plots.PLOTS)
@pytest.mark.parametrize("corner", [0.0, 1.0])
def test_a_lone_point_at_a_corner_is_drawn_whole_and_labelled(which, corner):
    board = _plotted_board(("org/lonely-model", corner, int(68 * corner)))
    axes = _drawn(accuracy_plots.plot_figure(board, which)).axes[0]
    y = 100 * corner if which == "multilabel_vs_top1" else 68 * corner
    x_display, y_display = axes.transData.transform((100 * corner, y))
    window = axes.get_window_extent()
    marker = 5  # px: the marker's radius
    assert window.x0 + marker < x_display < window.x1 - marker
    assert window.y0 + marker < y_display < window.y1 - marker
    texts = [text.get_text() for text in axes.texts]
    assert "org/lonely-model" in texts
    assert not any("unlabelled" in text for text in texts)

"""`imagenet-multilabel leaderboard`: results of `score` and `run` in one table and two plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from imagenet_multilabel.dataset_script import classes, mistakes
from imagenet_multilabel.dataset_script.labels import load_labels
from imagenet_multilabel.eval_cli import leaderboard
from imagenet_multilabel.metric.scoring import score

from imagenet_multilabel.cli import main


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
        assert row["num_unreviewed"] == str(validation["num_unreviewed"])
        for source, count in document["mistakes"]["by_source"].items():
            assert row[f"rejected_{source}"] == str(count)
        severity_table = document["mistakes"]["expert_category_severity"]
        assert row["expert_major"] == str(sum(r["major"] for r in severity_table.values()))
    assert rows["org/delta"]["revision"] == "abc123"
    assert rows["gamma"]["flags"] == "unverified, incomplete"
    assert rows["alpha"]["flags"] == "unverified"  # the synthetic annotation file
    ranks = [row["rank"] for row in _csv_rows(board_dir)]
    assert ranks == ["1", "2", "3", "4", "ref", "ref"]


def test_reference_lines_are_our_scorer_on_the_papers_metadata(annotation_file, board_dir):
    labels = load_labels(annotations=annotation_file[0], allow_unverified=True)
    rows = {row["model"]: row for row in _csv_rows(board_dir)}
    for model, name in leaderboard.PAPER_MODELS.items():
        validation, imagenet_m = (
            score(
                mistakes.paper_model_predictions(model, labels.split(split)),
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
    for plot in leaderboard.PLOTS:
        assert f"]({plot}.png)" in text
        png = (board_dir / f"{plot}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
        svg = (board_dir / f"{plot}.svg").read_text()
        for label in ("alpha", "org/delta", "(%)", "ViT-3B (paper reference)", "flagged"):
            assert label in svg, (plot, label)
    assert "y = x" in (board_dir / "multilabel_vs_top1.svg").read_text()


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
    assert rows[0]["source"] == str(tmp_path / "new.json")
    text = (output / "leaderboard.md").read_text()
    assert "org/same @ main: 2 results; kept the newest" in text and "old.json" in text
    printed = capsys.readouterr().out
    assert "Paper reference lines left out: no labels given" in printed


def test_label_versions_and_flags_are_never_mixed_silently(scored, tmp_path):
    official = json.loads(scored["alpha"].read_text())
    official["labels"].update(verified=True, version="3.0.0")
    official["predictions"]["source"] = "official.jsonl"
    patched = json.loads(scored["beta"].read_text())
    patched["labels"].update(verified=True, patched=True, version="3.0.0+patch.1234", patches=[{}])
    patched["predictions"]["source"] = "patched.jsonl"
    paths = []
    for name, document in (("official", official), ("patched", patched)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(document))
    board = leaderboard.build_leaderboard(paths)
    flags = {entry.model: entry.flags for entry in board.entries}
    assert flags == {"official": (), "patched": ("patched",)}
    assert any("2 label versions (3.0.0, 3.0.0+patch.1234" in note for note in board.notes)
    assert [entry.official for entry in board.entries] == [True, False]


def test_a_mistakes_block_is_read_defensively(scored, tmp_path):
    document = json.loads(scored["alpha"].read_text())
    document["mistakes"] = {"by_source": ["not", "a", "mapping"], "expert_category_severity": 3}
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(document))
    (entry,) = leaderboard.build_leaderboard([path]).entries
    cells = leaderboard.row_cells(1, entry)
    assert cells["rejected_expert"] == "" and cells["expert_major"] == ""
    del document["mistakes"]
    path.write_text(json.dumps(document))
    (entry,) = leaderboard.build_leaderboard([path]).entries
    assert leaderboard.row_cells(1, entry)["rejected_unreviewed"] == ""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no results file"),
        ("not json", "cannot read results file"),
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
    offsets = leaderboard._place_labels(
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

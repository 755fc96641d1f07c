"""docs/EXTENDING.md's recipes, followed exactly as written: each test applies a recipe's blocks to
a copy of the package and uses what it added, so a recipe that stops working fails here."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from imagenet_multilabel.dataset_script import classes

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "docs" / "EXTENDING.md"
PACKAGE_FOLDERS = ("imagenet_multilabel", "metric", "dataset_script", "eval_cli", "cards")
# A block the recipe gives for a file: "`path`:" (or "`path`, in `NAME`:", or "`path`, at its
# end:"), a blank line, the block.
BLOCK = re.compile(r"^`([^`]+)`(?:, in `(\w+)`|, at (its end))?:\n\n```\w*\n(.*?)^```", re.M | re.S)


def recipe_blocks(title: str) -> list[tuple[str, str, str, str]]:
    """(path, the name it goes in or "", "its end" or "", text) of each block of a recipe."""
    text = RECIPES.read_text(encoding="utf-8")
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return BLOCK.findall(section)


def package_copy(destination: Path) -> Path:
    for folder in PACKAGE_FOLDERS:
        shutil.copytree(
            ROOT / folder, destination / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return destination


def apply_recipe(root: Path, title: str) -> list[str]:
    """Write each block: a whole file, an entry appended to the tuple ``NAME = (...)``, or code
    appended at the end of a file (after two blank lines)."""
    applied = []
    for path, name, at_end, block in recipe_blocks(title):
        target = root / path
        if at_end:
            source = target.read_text(encoding="utf-8")
            target.write_text(source + "\n\n" + block, encoding="utf-8")
        elif not name:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block, encoding="utf-8")
        else:
            source = target.read_text(encoding="utf-8")
            start = source.index(f"\n{name}")
            end = source.index("\n)\n", start)  # the tuple's closing line
            target.write_text(source[: end + 1] + block + source[end + 1 :], encoding="utf-8")
        applied.append(path)
    return applied


def followed(tmp_path: Path, title: str, *files: str) -> Path:
    """A copy of the package with the recipe applied; it writes exactly ``files``, in order."""
    root = package_copy(tmp_path / "checkout")
    assert apply_recipe(root, title) == list(files)
    return root


def test_the_add_a_label_set_recipe(annotation_file, tmp_path):
    root = followed(
        tmp_path,
        "Add a label set",
        "dataset_script/label_sets/data/tiny/labels.csv",
        "dataset_script/label_sets/tiny.py",
        "metric/label_sets.py",
    )
    # Every image predicted as its devkit label: right on images 1 and 3 of the tiny set, wrong
    # on image 2 (it accepts 795, the devkit says 970).
    predictions = tmp_path / "predictions.jsonl"
    labels = classes.validation_labels().tolist()
    predictions.write_text(
        "".join(
            json.dumps({"file_name": name, "prediction": label}) + "\n"
            for name, label in zip(classes.validation_file_names(), labels, strict=True)
        )
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    labels_args = ["--annotations", str(annotation_file[0]), "--allow-unverified-annotations"]
    results = tmp_path / "results.json"
    score = [sys.executable, "-m", "imagenet_multilabel", "score", "--predictions"]
    score += [str(predictions), "--split", "full", *labels_args, "--output", str(results)]
    scored = subprocess.run(score, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr
    assert "Tiny accuracy (top-1 is the tiny label)" in scored.stdout
    document = json.loads(results.read_text())
    full = document["metrics"]["full"]
    assert full["tiny_accuracy"] == 2 / 3
    assert (full["num_tiny_scored"], full["num_tiny_left_out"]) == (3, 49_997)
    assert document["labels"]["tiny"]["licence"] == "CC0-1.0"

    board = [sys.executable, "-m", "imagenet_multilabel", "leaderboard", str(results)]
    board += ["--output-dir", str(tmp_path / "board")]
    drawn = subprocess.run(board, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert drawn.returncode == 0, drawn.stderr
    header, row = (tmp_path / "board" / "leaderboard.csv").read_text().splitlines()[:2]
    assert dict(zip(header.split(","), row.split(","), strict=True))["tiny"] == "66.67"
    assert "| Tiny |" in (tmp_path / "board" / "leaderboard.md").read_text()


def _save_pixel_mean_model(folder: Path) -> Path:
    """A random-free `pixel-mean` model in the recipe's layout: its outputs name the classes in
    reverse, and the last output always wins, so every image is class 0 (WNIDS[0]) when outputs
    are mapped by wnid, and class 999 if they were taken by position."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir()
    wnids = list(reversed(classes.WNIDS))
    config = {"model_type": "pixel-mean", "class_wnids": wnids}
    (folder / "config.json").write_text(json.dumps(config))
    weights = {"weight": torch.zeros(len(wnids), 3), "bias": torch.arange(len(wnids)).float()}
    save_file(weights, folder / "model.safetensors")
    return folder


def test_the_add_a_model_kind_recipe(tmp_path):
    from annotation_fixtures import synthetic_annotations, write_annotation_file
    from image_fixtures import make_val_tar
    from imagenet_multilabel.eval_cli.scores.predictions import read_predictions

    kind = "eval_cli/models/kinds/pixel_mean.py"
    root = followed(tmp_path, "Add a model kind", kind, "eval_cli/choices.py")
    model = _save_pixel_mean_model(tmp_path / "pixel-mean-model")
    data = synthetic_annotations()
    validation = sorted(name for name in data["initial_annots"] if name.startswith("ILSVRC"))
    keep = sorted(set(validation[:6]) | set(data["imagenet_m"]))
    data["initial_annots"] = {name: data["initial_annots"][name] for name in keep}
    write_annotation_file(tmp_path / "annotations.json", data)
    make_val_tar(tmp_path / "val.tar", [classes.image_id_from_file_name(name) for name in keep])

    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1"}
    helped = [sys.executable, "-m", "imagenet_multilabel", "run", "--help"]
    help_text = subprocess.run(helped, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert help_text.returncode == 0, help_text.stderr
    assert "{transformers,timm,zero-shot,pixel-mean}" in help_text.stdout  # --model-kind's choices
    run = [sys.executable, "-m", "imagenet_multilabel", "run", "--model", str(model)]
    run += ["--images", str(tmp_path / "val.tar"), "--split", "validation"]
    run += ["--annotations", str(tmp_path / "annotations.json"), "--allow-unverified-annotations"]
    run += ["--output-dir", str(tmp_path / "out"), "--num-workers", "0"]
    completed = subprocess.run(run, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    assert document["model"]["kind"] == "pixel-mean"
    assert document["model"]["preprocessing"]["input_size"] == [3, 32, 32]
    assert "class_wnids" in document["model"]["label_mapping"]["source"]
    predictions = read_predictions(tmp_path / "out" / "predictions.jsonl")
    assert sorted(predictions.file_names.tolist()) == keep  # the annotated images, every one
    assert set(predictions.topk[:, 0].tolist()) == {0}


def test_the_add_an_output_format_recipe(tmp_path):
    files = ("dataset_script/escape.py", "dataset_script/writers.py")
    root = followed(tmp_path, "Add an output format", *files, "eval_cli/leaderboard/table.py")
    hostile = "50%_{x} & \\input{evil} $y$ #1 ~2^3\nrow"
    document = {
        "model": {"id": hostile, "revision": None},
        "labels": {"source": "annotations", "sha256": "ab" * 32, "version": "3.0.0"},
        "metrics": {"validation": {"multilabel_accuracy": 0.5, "top1_accuracy_original": 0.6}},
    }
    results = tmp_path / "results.json"
    results.write_text(json.dumps(document), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(root)}
    board = [sys.executable, "-m", "imagenet_multilabel", "leaderboard", str(results)]
    board += ["--output-dir", str(tmp_path / "board")]
    drawn = subprocess.run(board, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert drawn.returncode == 0, drawn.stderr
    table = (tmp_path / "board" / "leaderboard.tex").read_text(encoding="utf-8")
    lines = table.splitlines()
    assert lines[0].startswith("\\begin{tabular}{l") and lines[-1] == "\\end{tabular}"
    assert lines[1].startswith("rank & model & ") and lines[2] == "\\hline"
    escaped = (
        "50\\%\\_\\{x\\} \\& \\textbackslash{}input\\{evil\\} \\$y\\$ \\#1 "
        "\\textasciitilde{}2\\textasciicircum{}3 row"
    )
    assert escaped in lines[3]  # the model, literal, on its own row
    refuse = [sys.executable, "-c", "from imagenet_multilabel.dataset_script import writers; "]
    refuse[-1] += "writers.latex_table(['plain'], [])"
    refused = subprocess.run(refuse, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert "TypeError: latex_table takes LatexText" in refused.stderr

"""`--limit N`: the summary names each limited split, and the predictions of a split's images
past the first N are counted as such, never as images "outside the chosen split(s)"."""

from __future__ import annotations

import json

import pytest
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.annotations.published import load_annotations
from imagenet_multilabel.eval_cli.commands.cli import main


def test_limit_names_its_splits_and_never_calls_later_images_outside(
    annotation_file, tmp_path, capsys
):
    path, sha256 = annotation_file
    annotations = load_annotations(path, expected_sha256=sha256)
    names = {
        split: annotations.split_columns(split)["file_name"]
        for split in ("validation", "imagenet_m")
    }
    annotated = set(names["validation"]) | set(names["imagenet_m"])
    unannotated = next(name for name in classes.validation_file_names() if name not in annotated)
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(
        "".join(
            json.dumps({"file_name": name, "top5": [0, 1, 2, 3, 4]}) + "\n"
            for name in [*sorted(annotated), unannotated]
        )
    )
    output = tmp_path / "results.json"
    args = ["score", "--predictions", str(predictions), "--annotations", str(path)]
    args += ["--allow-unverified-annotations", "--split", "all", "--limit", "10"]
    assert main([*args, "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    document = json.loads(output.read_text())

    assert document["predictions"]["num_outside_chosen_splits"] == 1  # the unannotated image
    assert "Ignored 1 predictions for images outside the chosen split(s)." in printed
    for split, split_names in names.items():
        assert document["metrics"][split]["num_past_limit"] == len(split_names) - 10
        assert (
            f"PARTIAL ({split}): only the first 10 images of the split were scored (--limit); "
            f"the predictions of its {len(split_names) - 10:,} later images were left out"
        ) in printed


def test_help_says_what_the_image_check_strict_and_limit_do(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "header (format, size, pixel mode) before the model runs" in text
    assert "fully decoded once, during the run" in text
    assert "patched with --label-patch" in text and "summary names each limited split" in text

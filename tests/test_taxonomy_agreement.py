"""The automatic categories' agreement with the paper's experts (`taxonomy.agreement`), and the
benchmark that measures it on the two reviewed models with any labels in the published schema."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from annotation_fixtures import write_annotation_file
from imagenet_multilabel.dataset_script.taxonomy import experts
from imagenet_multilabel.dataset_script.taxonomy.agreement import (
    level_agreement,
    reviewed_agreement,
)
from mistake_fixtures import paper_mistake_annotations

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_taxonomy  # noqa: E402


def test_kappa_and_confusion_at_both_levels():
    expert = ["fine-grained", "fine-grained", "spurious-correlation", "non-prototypical"]
    auto = ["fine-grained", "model-failure", "spurious-correlation", "fine-grained"]
    result = level_agreement(expert, auto)
    family = result["family"]
    # minor/minor, minor/failure, explainable/explainable, explainable/minor: observed 2/4;
    # chance (2/4 * 2/4) minor + (2/4 * 1/4) explainable = 3/8; kappa (1/2 - 3/8) / (5/8) = 0.2
    assert family["observed_agreement"] == 0.5 and family["kappa"] == pytest.approx(0.2)
    assert family["confusion"]["minor"] == {"minor": 1, "explainable": 0, "failure": 1}
    assert family["confusion"]["failure"] == {"minor": 0, "explainable": 0, "failure": 0}
    category = result["category"]
    assert category["observed_agreement"] == 0.5
    assert category["confusion"]["non-prototypical"]["fine-grained"] == 1
    assert set(category["confusion"]) == set(category["confusion"]["fine-grained"])


def test_only_reviewed_mistakes_count_and_greedy_soups_own_are_held_out():
    vit3b = next(iter(experts.model_mistakes("vit3b").values()))
    shared_keys = {(m.file_name, m.prediction) for m in experts.model_mistakes("vit3b").values()}
    soups_only = next(
        m
        for m in experts.model_mistakes("greedy_soups").values()
        if (m.file_name, m.prediction) not in shared_keys
    )
    unreviewed = ("ILSVRC2012_val_00000001.JPEG", 999)
    assert unreviewed not in experts.expert_mistakes()
    result = reviewed_agreement(
        [vit3b.file_name, soups_only.file_name, unreviewed[0]],
        [vit3b.prediction, soups_only.prediction, unreviewed[1]],
        ["model-failure", "model-failure", "fine-grained"],
    )
    assert result["num_reviewed"] == 2 and result["held_out"]["num_reviewed"] == 1
    assert result["family"]["observed_agreement"] == 0  # the experts never say model failure
    assert (
        result["held_out"]["category"]["confusion"][
            bench_taxonomy.EXPERT_CATEGORY[soups_only.category]
        ]["model-failure"]
        == 1
    )


def test_nothing_reviewed_gives_undefined_kappas():
    result = reviewed_agreement(["ILSVRC2012_val_00000001.JPEG"], [999], ["fine-grained"])
    assert result["num_reviewed"] == 0 and result["family"]["kappa"] is None


def test_the_benchmark_reads_the_labels_from_an_annotation_file(tmp_path, capsys):
    """With the file's labels, L is its correct ∪ unclear (here only the original label: no
    ReaL), and a reviewed prediction the file accepts is left out and said."""
    data = paper_mistake_annotations("vit3b")
    accepted = next(iter(experts.model_mistakes("vit3b").values()))
    data["initial_annots"][accepted.file_name]["correct"].append(
        data["initial_annots"][accepted.file_name].pop("wrong")[0]
    )
    path = tmp_path / "annotations.json"
    write_annotation_file(path, data)
    bench_taxonomy.measure_agreement(["vit3b"], bench_taxonomy.published_references(path))
    out = capsys.readouterr().out
    assert "1 of ViT-3B (tuning set)'s 378 reviewed mistakes are not rejected" in out
    assert "==== ViT-3B (tuning set): 377 mistakes" in out
    file_out = out
    bench_taxonomy.measure_agreement(["vit3b"], bench_taxonomy.mistake_references)
    assert capsys.readouterr().out.split("family level")[1] != file_out.split("family level")[1]

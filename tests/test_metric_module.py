"""The evaluate module, its card and its Space files, loaded the way users load them."""

from __future__ import annotations

import ast
import doctest
import re
import sys
from pathlib import Path

import datasets
import evaluate
import numpy as np
import pytest
import yaml
from imagenet_multilabel.dataset_script import build
from imagenet_multilabel.dataset_script.annotations.published import load_annotations
from imagenet_multilabel.metric.references import References
from imagenet_multilabel.metric.scoring import PartialCoverageError, score
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
METRIC_DIR = ROOT / "metric"
MODULE_PATH = METRIC_DIR / "imagenet_multilabel.py"
CARD_PATH = METRIC_DIR / "README.md"
CARD_SECTIONS = (
    "Metric Description",
    "How to Use",
    "Inputs",
    "Output Values",
    "Limitations and Bias",
    "Citation",
)


@pytest.fixture(scope="module")
def metric() -> evaluate.EvaluationModule:
    return evaluate.load(str(MODULE_PATH))


def full_split(seed: int) -> tuple[list[dict], np.ndarray]:
    """Two images per class, some problematic, random label sets, top-5 predictions (five
    distinct ids per row, as the module requires)."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(2000):
        original = index // 2
        others = rng.integers(0, 1000, 3).tolist()
        rows.append(
            {
                "file_name": f"ILSVRC2012_val_{index + 1:08d}.JPEG",
                "image_id": index + 1,
                "original_label": original,
                "correct_multi_labels": [original, others[0]],
                "wrong_multi_labels": [others[1]],
                "unclear_multi_labels": [others[2]] if index % 3 == 0 else [],
                "is_problematic": index % 2 == 1 and rng.random() < 0.3,
            }
        )
    top1 = rng.integers(0, 1000, len(rows))
    top1[::2] = np.arange(1000)
    offsets = np.stack([rng.choice(999, 4, replace=False) + 1 for _ in rows])  # distinct ids
    return rows, np.column_stack([top1, (top1[:, None] + offsets) % 1000])


def doctest_examples(text: str) -> list[tuple[str, str]]:
    return [(e.source, e.want) for e in doctest.DocTestParser().get_examples(text)]


def card_examples() -> list[tuple[str, str]]:
    blocks = re.findall(r"```python\n(.*?)```", CARD_PATH.read_text(encoding="utf-8"), re.S)
    return [example for block in blocks for example in doctest_examples(block)]


def test_module_is_a_thin_contract_over_scoring(metric):
    """evaluate parses imports as text and copies only relative imports' files: one plain import
    per line, and every line of scoring comes from scoring.py."""
    tree = ast.parse(MODULE_PATH.read_text(encoding="utf-8"))
    imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    assert [ast.unparse(node) for node in imports] == [
        "import datasets",
        "import evaluate",
        "from .errors import ToolkitError, expect_flag",
        "from .label_sets import configurations",
        "from .references import LABEL_COLUMNS, References, SetReferences",
        "from .scoring import check_raw_inputs, score",
    ]
    assert type(metric).__name__ == "ImagenetMultilabel"


def relative_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level
    }


def test_the_module_imports_every_file_its_files_import():
    """evaluate copies only the files the module itself imports (it does not follow their
    imports), so each of those may import only files the module imports too."""
    imported = relative_imports(MODULE_PATH)
    for name in imported:
        assert relative_imports(MODULE_PATH.with_name(f"{name}.py")) <= imported, name


@pytest.mark.parametrize("k", [1, 5])
def test_compute_equals_the_scoring_core(metric, k):
    rows, predictions = full_split(seed=k)
    predictions = predictions[:, 0] if k == 1 else predictions
    expected = score(predictions, References.from_rows(rows))
    assert expected["partial"] is False
    assert ("multilabel_accuracy_top5" in expected) == (k == 5)
    assert metric.compute(predictions=predictions.tolist(), references=rows) == expected


def test_add_batch_then_compute_with_imagenet_m(metric):
    rows, predictions = full_split(seed=3)
    rows, predictions = rows[:68], predictions[:68, 0]
    for start in range(0, 68, 30):
        metric.add_batch(
            predictions=predictions[start : start + 30], references=rows[start : start + 30]
        )
    results = metric.compute(imagenet_m=True)
    assert results == score(predictions, References.from_rows(rows), imagenet_m=True)
    assert "multilabel_accuracy" not in results


def test_scoring_errors_reach_the_caller(metric):
    rows, predictions = full_split(seed=4)
    with pytest.raises(ValueError, match="cover 50 of 1000 classes") as raised:
        metric.compute(predictions=predictions[:100, 0].tolist(), references=rows[:100])
    # evaluate imports its own copy of scoring.py, hence a distinct but same-named class.
    assert type(raised.value).__name__ == PartialCoverageError.__name__


def test_references_must_match_the_features(metric):
    rows, predictions = full_split(seed=5)
    rows[0] = {**rows[0], "file_name": 1}
    with pytest.raises(ValueError, match="'file_name': expected strings.*rows: 0"):
        metric.compute(predictions=predictions[:, 0].tolist(), references=rows)


def test_card_front_matter_is_a_space_config():
    text = CARD_PATH.read_text(encoding="utf-8")
    front_matter = yaml.safe_load(text.split("---\n")[1])
    assert front_matter["sdk"] == "gradio" and front_matter["app_file"] == "app.py"
    assert front_matter["pinned"] is False
    assert {"evaluate", "metric"} <= set(front_matter["tags"])
    for key in ("title", "emoji", "colorFrom", "colorTo", "sdk_version", "description"):
        assert front_matter[key], key
    headings = re.findall(r"^#+ (.+)$", text, re.M)
    assert all(section in headings for section in CARD_SECTIONS), headings


def test_card_examples_are_the_module_examples_and_run(metric, monkeypatch, tmp_path):
    examples = card_examples()
    assert len(examples) > 10
    assert examples == doctest_examples(metric.info.inputs_description)
    monkeypatch.chdir(tmp_path)  # the examples load the module by its installed path
    blocks = re.findall(r"```python\n(.*?)```", CARD_PATH.read_text(encoding="utf-8"), re.S)
    test = doctest.DocTestParser().get_doctest("\n".join(blocks), {}, "card", str(CARD_PATH), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    summary = runner.summarize(verbose=False)
    assert summary.failed == 0 and summary.attempted == len(examples)


CARD_REPO_ID = "test-org/imagenet-labels"  # a Hub id, as build requires


@pytest.fixture(scope="module")
def labels_folder(annotation_file, tmp_path_factory) -> Path:
    """A labels dataset built from the synthetic annotation file, as ``CARD_REPO_ID`` (the card's
    code names it; the test points that name at the folder)."""
    path, _ = annotation_file
    directory = tmp_path_factory.mktemp("labels")
    annotations = load_annotations(path, allow_unverified=True, cache_dir=directory / "cache")
    folder = directory / "dataset"
    return build.build_dataset(folder, annotations, repo_id=CARD_REPO_ID)


def python_block(text: str, containing: str) -> str:
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if containing in b]
    return block


def card_predictions(split: datasets.Dataset) -> list[int]:
    """Top-1 ids for the rows of ``split``: the original label for two rows in three, else a
    class that is mostly wrong, so that the scores are neither 0 nor 1."""
    return [
        label if index % 3 else (label + 1) % 1000
        for index, label in enumerate(split["original_label"])
    ]


@pytest.mark.parametrize("card", ["dataset", "metric"])
def test_card_code_scores_the_rows_of_a_built_labels_dataset(
    labels_folder, monkeypatch, capsys, card, tmp_path
):
    """The dataset card's "How to score" code and the metric card's dataset example, run as
    written on the rows of both splits of a real labels dataset (they carry ``image_id``)."""
    validation = datasets.load_dataset(str(labels_folder), "labels", split="validation")
    imagenet_m = datasets.load_dataset(str(labels_folder), "labels", split="imagenet_m")
    assert "image_id" in validation.column_names and len(imagenet_m) == 68
    namespace = {
        "top1_ids": card_predictions(validation),
        "top1_ids_m": card_predictions(imagenet_m),
    }
    if card == "dataset":
        text = (labels_folder / "README.md").read_text(encoding="utf-8")
        code = python_block(text, "metric.compute")
        assert repr(CARD_REPO_ID) in code or f'"{CARD_REPO_ID}"' in code
        code = code.replace(f'"{CARD_REPO_ID}"', repr(str(labels_folder)))
        assert 'evaluate.load("ORG/SPACE")' in text and "imagenet-multilabel push-metric" in text
    else:
        code = python_block(CARD_PATH.read_text(encoding="utf-8"), "DATASET_ID")
        namespace["DATASET_ID"] = str(labels_folder)
    monkeypatch.chdir(tmp_path)  # the code loads the module by its installed path
    exec(compile(code, f"{card} card", "exec"), namespace)

    expected = score(namespace["top1_ids"], References.from_arrow(validation.data.table))
    expected_m = score(
        namespace["top1_ids_m"], References.from_arrow(imagenet_m.data.table), imagenet_m=True
    )
    assert namespace["results"] == expected and namespace["results_m"] == expected_m
    assert 0 < expected["multilabel_accuracy"] < 1 and not expected["partial"]
    assert expected["num_scored"] == validation["is_problematic"].count(False)
    assert 0 < expected_m["imagenet_m_correct"] < expected_m["imagenet_m_total"] == 68
    if card == "dataset":
        assert capsys.readouterr().out == (
            f"{expected['multilabel_accuracy']}\n{expected_m['imagenet_m_correct']} of 68\n"
        )


def test_card_cites_both_papers(metric):
    card = CARD_PATH.read_text(encoding="utf-8")
    for key in ("shankar2020evaluating", "vasudevan2022does"):
        assert key in card and key in metric.info.citation


def test_space_requirements_cover_the_uploaded_imports(tmp_path):
    """Every import of the files as staged for the Space (where the toolkit is not installed)."""
    from imagenet_multilabel.dataset_script.hub import push_metric as push

    staged = push.stage_space("some-org/imagenet-multilabel-v3", tmp_path)
    requirements = [
        Requirement(line)
        for line in (METRIC_DIR / "requirements.txt").read_text().splitlines()
        if line.strip()
    ]
    assert all(req.specifier and str(req.specifier).startswith(">=") for req in requirements)
    imported = set()
    for file in staged:
        if not file.path_in_repo.endswith(".py"):
            continue
        tree = ast.parse(file.staged.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported if name not in sys.stdlib_module_names}
    assert third_party == {req.name for req in requirements}

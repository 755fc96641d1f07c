"""`patches merge`: consensus, conflicts and kappa, against hand-computed examples."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.labels.consensus import cohen_kappa, merge_patches
from imagenet_multilabel.dataset_script.labels.patches import read_patch
from imagenet_multilabel.eval_cli import outputs
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.eval_cli.curation import merge
from imagenet_multilabel.eval_cli.frame import OutputOverwritesInputError
from imagenet_multilabel.metric.errors import ToolkitError

BASE = "b" * 64
ITEMS = [(classes.file_name_from_image_id(i), 10 * i) for i in range(1, 5)]  # items 1..4


def _patch(root: Path, reviewer: str, verdicts: dict[int, str], base: str = BASE, **extra) -> Path:
    """A patch deciding ``verdicts`` (item number 1..4 -> verdict), with ``extra`` fields per
    item number (category, severity, note)."""
    decisions = []
    for item, verdict in verdicts.items():
        file_name, class_id = ITEMS[item - 1]
        decision: dict[str, Any] = {"file_name": file_name, "class_id": class_id}
        decision["verdict"] = verdict
        decision.update(extra.get(f"item{item}", {}))
        decisions.append(decision)
    document = {
        "format": "imagenet-multilabel-label-patch",
        "format_version": 1,
        "base": base,
        "created": "2026-01-31T12:00:00Z",
        "reviewer": reviewer,
        "decisions": decisions,
    }
    path = root / f"{reviewer or 'anonymous'}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _kept(document: dict[str, Any]) -> dict[int, str]:
    return {
        ITEMS.index((d["file_name"], d["class_id"])) + 1: d["verdict"]
        for d in document["decisions"]
    }


def test_all_agree(tmp_path: Path) -> None:
    verdicts = {1: "correct", 2: "wrong", 3: "unclear"}
    paths = [_patch(tmp_path, name, verdicts) for name in ("ana", "ben")]
    document, conflicts, report = merge_patches(paths)
    assert _kept(document) == verdicts and conflicts == []
    (cohen,) = report["agreement"]["cohen"]
    # po = 1, pe = 3 * (1/3)^2 = 1/3: kappa 1
    assert (cohen["num_items"], cohen["observed_agreement"], cohen["kappa"]) == (3, 1.0, 1.0)
    assert cohen["expected_agreement"] == pytest.approx(1 / 3)
    fleiss = report["agreement"]["fleiss"]
    assert (fleiss["num_items"], fleiss["num_raters"], fleiss["kappa"]) == (3, 2, 1.0)


def test_total_disagreement(tmp_path: Path) -> None:
    paths = [
        _patch(tmp_path, "ana", {1: "correct", 2: "wrong"}),
        _patch(tmp_path, "ben", {1: "wrong", 2: "correct"}),
    ]
    document, conflicts, report = merge_patches(paths, min_agreement=1)
    assert document["decisions"] == []  # a tie keeps nothing, whatever min_agreement
    assert conflicts == [
        {
            "file_name": ITEMS[0][0],
            "class_id": 10,
            "verdicts": {"ana": "correct", "ben": "wrong"},
            "kept": None,
        },
        {
            "file_name": ITEMS[1][0],
            "class_id": 20,
            "verdicts": {"ana": "wrong", "ben": "correct"},
            "kept": None,
        },
    ]
    # po = 0, pe = 0.5 * 0.5 + 0.5 * 0.5 = 0.5: kappa -1; Fleiss: P = 0, Pe = 0.5: -1
    assert report["agreement"]["cohen"][0]["kappa"] == -1.0
    assert report["agreement"]["fleiss"]["kappa"] == -1.0


def test_partial_overlap(tmp_path: Path) -> None:
    paths = [
        _patch(tmp_path, "ana", {1: "correct", 2: "correct", 3: "wrong"}),
        _patch(tmp_path, "ben", {2: "correct", 3: "unclear", 4: "wrong"}),
    ]
    document, conflicts, report = merge_patches(paths, min_agreement=2)
    assert _kept(document) == {2: "correct"}
    assert [(c["file_name"], c["kept"]) for c in conflicts] == [(ITEMS[2][0], None)]
    assert (report["num_pairs_decided"], report["num_held_back"]) == (4, 2)  # items 1 and 4
    # on items 2, 3: po = 1/2, pe = 0.5 * 0.5 (correct) = 1/4: kappa (1/2 - 1/4) / (3/4) = 1/3
    (cohen,) = report["agreement"]["cohen"]
    assert cohen["num_items"] == 2 and cohen["kappa"] == pytest.approx(1 / 3)
    # P = (1 + 0) / 2, Pe = (2/4)^2 + (1/4)^2 + (1/4)^2 = 3/8: kappa (1/2 - 3/8) / (5/8) = 1/5
    fleiss = report["agreement"]["fleiss"]
    assert fleiss["num_items"] == 2 and fleiss["kappa"] == pytest.approx(0.2)
    document, _, _ = merge_patches(paths, min_agreement=1)
    assert _kept(document) == {1: "correct", 2: "correct", 4: "wrong"}


def test_three_reviewers_majority(tmp_path: Path) -> None:
    paths = [
        _patch(tmp_path, "ana", {1: "correct", 2: "correct", 3: "wrong", 4: "unclear"}),
        _patch(tmp_path, "ben", {1: "correct", 2: "correct", 3: "unclear", 4: "unclear"}),
        _patch(tmp_path, "cy", {1: "correct", 2: "wrong", 3: "wrong", 4: "unclear"}),
    ]
    document, conflicts, report = merge_patches(paths, min_agreement=2)
    assert _kept(document) == {1: "correct", 2: "correct", 3: "wrong", 4: "unclear"}
    assert [(c["class_id"], c["kept"]) for c in conflicts] == [(20, "correct"), (30, "wrong")]
    assert report["num_conflicts_resolved"] == 2
    # ana / ben: po = 3/4, pe = 0.5 * 0.5 + 0.25 * 0.5 = 3/8: kappa (3/4 - 3/8) / (5/8) = 0.6
    cohen = {tuple(pair["reviewers"]): pair["kappa"] for pair in report["agreement"]["cohen"]}
    assert cohen["ana", "ben"] == pytest.approx(0.6)
    # P = (1 + 1/3 + 1/3 + 1) / 4 = 2/3; Pe = (5/12)^2 + (3/12)^2 + (4/12)^2 = 25/72: 23/47
    assert report["agreement"]["fleiss"]["kappa"] == pytest.approx(23 / 47)
    assert report["agreement"]["fleiss"]["num_raters"] == 3
    document, _, _ = merge_patches(paths, min_agreement=3)
    assert _kept(document) == {1: "correct", 4: "unclear"}


def test_kappa_undefined_when_every_verdict_is_the_same(tmp_path: Path) -> None:
    paths = [_patch(tmp_path, name, {1: "correct", 2: "correct"}) for name in ("ana", "ben")]
    _, _, report = merge_patches(paths)
    for result in (report["agreement"]["cohen"][0], report["agreement"]["fleiss"]):
        assert result["kappa"] is None and "chance agreement is 1" in result["undefined"]
        assert result["observed_agreement"] == 1.0 and result["num_items"] == 2
    paths = [_patch(tmp_path, "ana", {1: "correct"}), _patch(tmp_path, "ben", {2: "wrong"})]
    _, _, report = merge_patches(paths)
    assert report["agreement"]["cohen"][0] == {
        "reviewers": ["ana", "ben"],
        "num_items": 0,
        "kappa": None,
        "undefined": "no (image, class) was decided by both",
    }


def test_cohen_kappa_takes_any_labels() -> None:
    """Not only verdicts: the taxonomy benchmark compares the experts' mistake categories with
    the automatic ones. Observed 3/4, chance (2*1 + 2*3)/16 = 1/2: kappa 1/2."""
    first = ["fine-grained", "fine-grained", "model-failure", "model-failure"]
    second = ["fine-grained", "model-failure", "model-failure", "model-failure"]
    result = cohen_kappa(first, second)
    assert result["kappa"] == pytest.approx(0.5)
    assert result["expected_agreement"] == pytest.approx(0.5)


def test_merged_patch_is_a_patch_with_its_sources(tmp_path: Path) -> None:
    paths = [
        _patch(tmp_path, "ana", {1: "wrong"}, item1={"category": "fine-grained", "note": "dog"}),
        _patch(tmp_path, "ben", {1: "wrong"}, item1={"category": "non-prototypical"}),
    ]
    report = merge.write_merged_patch(paths, tmp_path / "out" / "merged.json")
    merged = read_patch(tmp_path / "out" / "merged.json")
    assert merged.base == BASE and len(merged.decisions) == 1
    decision = merged.decisions[0]
    assert decision.category is None  # they differ: left out, and said in the note
    assert decision.note == "ana: dog; category differs: ana fine-grained, ben non-prototypical"
    document = json.loads((tmp_path / "out" / "merged.json").read_text())
    assert [(s["file"], s["reviewer"]) for s in document["sources"]] == [
        ("ana.json", "ana"),
        ("ben.json", "ben"),
    ]
    assert document["sources"][0]["sha256"] == read_patch(paths[0]).sha256
    assert document["merge"] == report
    assert (tmp_path / "out" / "conflicts.jsonl").read_text() == ""


@pytest.mark.parametrize(
    ("make", "kwargs", "message"),
    [
        (lambda root: [_patch(root, "ana", {1: "wrong"})], {}, r"^paths: expected two or more"),
        (
            lambda root: [
                _patch(root, "ana", {1: "wrong"}),
                _patch(root, "ben", {1: "wrong"}, base="c" * 64),
            ],
            {},
            "different annotation files",
        ),
        (
            lambda root: [_patch(root, "ana", {1: "wrong"}), _patch(root, "ben", {1: "wrong"})],
            {"base_sha256": "c" * 64},
            f"different annotation files.*expected {'c' * 64}",
        ),
        (
            lambda root: [_patch(root, "ana", {1: "wrong"})] * 2,
            {},
            "the same file is given 2 times",
        ),
        (
            lambda root: [
                _patch(root, "ana", {1: "wrong"}),
                _patch(root / "other", "ana", {1: "correct"}),
            ],
            {},
            "the same reviewer is given 2 times",
        ),
        (
            lambda root: [_patch(root, "ana", {1: "wrong"}), _patch(root, "ben", {1: "wrong"})],
            {"min_agreement": 3},
            "min_agreement 3 is not between 1 and the 2",
        ),
    ],
)
def test_bad_merges_are_refused(tmp_path: Path, make, kwargs, message: str) -> None:
    (tmp_path / "other").mkdir()
    with pytest.raises(ToolkitError, match=message):  # a LabelPatchError, or a count
        merge_patches(make(tmp_path), **kwargs)


def test_output_that_is_a_patch_is_refused(tmp_path: Path) -> None:
    paths = [
        _patch(tmp_path, "ana", {1: "correct", 2: "wrong"}),
        _patch(tmp_path, "ben", {1: "correct", 2: "correct"}),
    ]
    before = paths[0].read_bytes()
    with pytest.raises(OutputOverwritesInputError, match="^output .* is one of the paths it"):
        merge.write_merged_patch(paths, paths[0])
    assert paths[0].read_bytes() == before


def _two_reviewers(root: Path) -> list[Path]:
    return [
        _patch(root, "ana", {1: "correct", 2: "wrong"}),
        _patch(root, "ben", {1: "correct", 2: "correct"}),
    ]


def test_fleiss_counts_the_reviewers_when_no_pair_was_decided_by_all(tmp_path: Path) -> None:
    """Two reviewers who decided different pairs: "Fleiss' kappa (0 reviewers)" was printed."""
    paths = [_patch(tmp_path, "ana", {1: "correct"}), _patch(tmp_path, "ben", {2: "wrong"})]
    report = merge.write_merged_patch(paths, tmp_path / "merged.json", min_agreement=1)
    fleiss = report["agreement"]["fleiss"]
    assert (fleiss["num_raters"], fleiss["num_items"], fleiss["kappa"]) == (2, 0, None)
    assert "Fleiss' kappa (2 reviewers): undefined on 0 item(s)" in merge.summary(report)


def test_output_and_conflicts_in_one_file_are_refused(tmp_path: Path, capsys) -> None:
    """`--output m.json --conflicts m.json` exited 0 with the conflicts lost; under another
    name (a relative spelling, a hard link) too."""
    paths = _two_reviewers(tmp_path)
    merged = tmp_path / "m.json"
    merged.write_text("old")
    os.link(merged, tmp_path / "linked.jsonl")
    for conflicts in (merged, tmp_path / "sub" / ".." / "m.json", tmp_path / "linked.jsonl"):
        args = ["patches", "merge", *map(str, paths), "--output", str(merged)]
        assert main([*args, "--conflicts", str(conflicts)]) == 2
        assert "error: --output and --conflicts are one file " in capsys.readouterr().err
    assert merged.read_text() == "old"


def test_output_that_is_a_folder_leaves_nothing_behind(tmp_path: Path, capsys) -> None:
    """`--output` a directory wrote conflicts.jsonl beside it, then failed."""
    paths = _two_reviewers(tmp_path)
    folder = tmp_path / "merged"
    folder.mkdir()
    assert main(["patches", "merge", *map(str, paths), "--output", str(folder)]) == 2
    assert f"error: --output {str(folder)!r} is a directory" in capsys.readouterr().err
    assert not (tmp_path / merge.CONFLICTS_FILE).exists() and not any(folder.iterdir())


def test_patch_and_conflicts_are_written_both_or_neither(tmp_path: Path, monkeypatch) -> None:
    """A full disk while the second file is written leaves both old files as they were."""
    paths = _two_reviewers(tmp_path)
    merged, conflicts = tmp_path / "m.json", tmp_path / "c.jsonl"
    merged.write_text("old patch")
    conflicts.write_text("old conflicts")
    synced = []

    def full_disk_on_the_second(descriptor: int) -> None:
        synced.append(descriptor)
        if len(synced) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs.os, "fsync", full_disk_on_the_second)
    with pytest.raises(outputs.OutputWriteError, match="none of the files was changed"):
        merge.write_merged_patch(paths, merged, conflicts=conflicts)
    assert (merged.read_text(), conflicts.read_text()) == ("old patch", "old conflicts")
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.endswith(".tmp")) == []


def test_a_second_merge_into_the_same_place_is_refused(tmp_path: Path) -> None:
    """Two merges at once mixed one's patch with the other's conflicts (1 in 12 rounds): the
    folder is locked while both files are written, so the second is refused at once."""
    paths = _two_reviewers(tmp_path)
    out = tmp_path / "out"
    refused = pytest.raises(outputs.OutputDirectoryInUseError, match="in use by another command")
    with outputs.locked_folder(out), refused:  # another merge holds the folder
        merge.write_merged_patch(paths, out / "m.json", conflicts=tmp_path / "c.jsonl")
    assert not (out / "m.json").exists() and not (tmp_path / "c.jsonl").exists()

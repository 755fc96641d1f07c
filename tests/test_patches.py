"""Label patches: read and validated, applied to References, versioned, errors that name inputs."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from imagenet_multilabel.dataset_script.annotations.published import load_annotations
from imagenet_multilabel.dataset_script.build import build_dataset
from imagenet_multilabel.dataset_script.labels import patches
from imagenet_multilabel.dataset_script.labels.loading import LabelSource
from imagenet_multilabel.dataset_script.labels.patches import LabelPatchError
from imagenet_multilabel.eval_cli.commands.cli import main
from imagenet_multilabel.metric.errors import ToolkitError
from imagenet_multilabel.metric.references import References

BASE = "ab" * 32
NAMES = [f"ILSVRC2012_val_{i:08d}.JPEG" for i in (1, 2, 3)]


def _references() -> References:
    return References.from_columns(
        {
            "file_name": NAMES,
            "original_label": [10, 20, 30],
            "correct_multi_labels": [[10, 11], [20], [30]],
            "wrong_multi_labels": [[12, 13], [21], []],
            "unclear_multi_labels": [[14], [], []],
            "is_problematic": [False, False, True],
        }
    )


def _write_patch(
    path: Path, decisions: list[dict[str, Any]], *, base: str = BASE, **fields: Any
) -> Path:
    document = {
        "format": patches.PATCH_FORMAT,
        "format_version": patches.PATCH_FORMAT_VERSION,
        "base": base,
        "created": "2026-01-31T12:00:00Z",
        "reviewer": "a reviewer",
        "decisions": decisions,
        **fields,
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _decision(file_name: str, class_id: int, verdict: str, **extra: Any) -> dict[str, Any]:
    return {"file_name": file_name, "class_id": class_id, "verdict": verdict, **extra}


def _label_lists(references: References) -> dict[str, list[list[int]]]:
    return {name: references.label_lists(name) for name in patches.PATCH_VERDICTS}


def test_a_class_moves_into_the_verdicts_set_and_nothing_else_changes(tmp_path: Path) -> None:
    path = _write_patch(
        tmp_path / "p.json",
        [
            _decision(NAMES[0], 12, "correct", category="Fine-grained with OOV", note="a <b>"),
            _decision(NAMES[0], 11, "unclear", severity="Borderline"),
            _decision(NAMES[1], 999, "wrong"),  # a class no set held
        ],
    )
    patch = patches.read_patch(path)
    assert patch.decisions[0].category == "fine-grained-oov"
    assert patch.decisions[1].severity == "borderline"
    patched = patches.apply_patches(_references(), [patch], base_sha256=BASE)
    assert _label_lists(patched) == {
        "correct": [[10, 12], [20], [30]],
        "unclear": [[14, 11], [], []],
        "wrong": [[13], [21, 999], []],
    }
    assert _label_lists(_references()) != _label_lists(patched)
    assert patched.file_names.tolist() == NAMES


def test_the_same_patch_twice_is_a_no_op_and_the_version_names_the_patches(
    tmp_path: Path,
) -> None:
    first = patches.read_patch(
        _write_patch(tmp_path / "a.json", [_decision(NAMES[0], 12, "correct")])
    )
    second = patches.read_patch(
        _write_patch(tmp_path / "b.json", [_decision(NAMES[1], 5, "wrong")])
    )
    once = patches.apply_patches(_references(), [first], base_sha256=BASE)
    twice = patches.apply_patches(_references(), [first, first], base_sha256=BASE)
    assert _label_lists(once) == _label_lists(twice)
    provenance = patches.patched_provenance(
        {"sha256": BASE, "version": "3.0.0", "verified": True}, [first, second, first]
    )
    assert re.fullmatch(r"3\.0\.0\+patch\.[0-9a-f]{8}", provenance["version"])
    assert provenance["version"] == patches.patched_version("3.0.0", [second, first])
    assert provenance["version"] != patches.patched_version("3.0.0", [first])
    assert provenance["verified"] is False and provenance["patched"] is True
    assert [entry["file"] for entry in provenance["patches"]] == ["a.json", "b.json"]
    assert provenance["patches"][0]["num_decisions"] == 1
    assert provenance["patches"][0]["sha256"] == first.sha256
    with pytest.raises(LabelPatchError, match=r"patched already \(version 3\.0\.0\+patch\."):
        patches.patched_provenance(provenance, [second])


def test_decisions_on_another_split_leave_it_unchanged(tmp_path: Path) -> None:
    patch = patches.read_patch(
        _write_patch(tmp_path / "p.json", [_decision(NAMES[0], 12, "correct")])
    )
    annotated = _references()
    other_split = annotated.take([1])
    patched = patches.apply_patches(other_split, [patch], base_sha256=BASE, annotated=annotated)
    assert _label_lists(patched) == _label_lists(other_split)


@pytest.mark.parametrize(
    ("decisions", "fields", "message"),
    [
        (
            [_decision(NAMES[0], 1000, "correct")],
            {},
            r"#0 \(ILSVRC2012_val_00000001.JPEG\): class_id 1000",
        ),
        ([_decision(NAMES[0], True, "correct")], {}, r"class_id True is not a class index"),
        ([_decision(NAMES[0], 1, "maybe")], {}, r"verdict 'maybe'; expected one of correct"),
        ([_decision("cat.jpg", 1, "wrong")], {}, r"'cat.jpg' is not an ImageNet validation file"),
        (
            [_decision(NAMES[0], 1, "wrong", category="big")],
            {},
            r"decision #0: unknown mistake category 'big'",
        ),
        ([], {"base": "abc"}, r"'base' is 'abc'; expected the 64"),
        (
            [],
            {"format_version": 2},
            r"version 2; expected 'imagenet-multilabel-label-patch' version 1 \(an integer\)",
        ),
        ([], {"format_version": True}, r"version True; expected .* version 1 \(an integer\)"),
        ([], {"format_version": 1.0}, r"version 1.0; expected .* version 1 \(an integer\)"),
        ([], {"reviewer": None}, r"expected 'created' and 'reviewer' strings"),
        (
            [_decision(NAMES[0], 1, "wrong"), _decision(NAMES[0], 1, "correct")],
            {},
            r"disagree on 1 .* #0 \(ILSVRC2012_val_00000001.JPEG, class 1, wrong\) vs\. .*#1",
        ),
    ],
)
def test_invalid_patches_are_refused_naming_file_and_decisions(
    tmp_path: Path, decisions: list, fields: dict, message: str
) -> None:
    path = _write_patch(tmp_path / "bad.json", decisions, **fields)
    with pytest.raises(LabelPatchError, match=message) as error:
        patches.read_patch(path)
    assert "bad.json" in str(error.value)


def test_patches_that_cannot_apply_to_these_labels(tmp_path: Path) -> None:
    def patch(name: str, decisions: list, **fields: Any) -> patches.LabelPatch:
        return patches.read_patch(_write_patch(tmp_path / name, decisions, **fields))

    cases = [
        ([patch("other.json", [], base="cd" * 32)], r"'.*other.json' applies to .* sha256 cdcd"),
        (
            [patch("unknown.json", [_decision("ILSVRC2012_val_00000009.JPEG", 1, "correct")])],
            r"1 unknown file name.*unknown.json #0 \(ILSVRC2012_val_00000009.JPEG, class 1",
        ),
        (
            [patch("problematic.json", [_decision(NAMES[2], 1, "correct")])],
            r"1 problematic image.*problematic.json #0 \(ILSVRC2012_val_00000003.JPEG",
        ),
        (
            [
                patch("one.json", [_decision(NAMES[1], 4, "correct")]),
                patch("two.json", [_decision(NAMES[1], 4, "unclear")]),
            ],
            r"one.json #0 .*class 4, correct\) vs\. .*two.json #0 .*class 4, unclear\)",
        ),
    ]
    for given, message in cases:
        with pytest.raises(LabelPatchError, match=message):
            patches.apply_patches(_references(), given, base_sha256=BASE)


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(LabelPatchError, match=r"'.*missing.json' does not exist"):
        patches.read_patch(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(LabelPatchError, match=r"'.*broken.json' is not valid JSON"):
        patches.read_patch(tmp_path / "broken.json")


def test_build_with_a_patch_writes_patched_labels_and_lists_the_patch(
    annotation_file: tuple[Path, str], tmp_path: Path
) -> None:
    path, sha256 = annotation_file
    annotations = load_annotations(path, allow_unverified=True, cache_dir=tmp_path / "cache")
    columns = annotations.split_columns("imagenet_m")
    file_name, wrong = columns["file_name"][0], (columns["original_label"][0] + 1) % 1000
    patch_file = _write_patch(
        tmp_path / "patch.json",
        [_decision(file_name, wrong, "wrong")],
        base=sha256,
        reviewer="R | <b>",
    )
    source = LabelSource(annotations=path, allow_unverified=True, patches=(patch_file, patch_file))
    output = build_dataset(tmp_path / "out", source)
    for split in ("validation", "imagenet_m"):
        table = pq.read_table(output / "labels" / f"{split}-00000-of-00001.parquet").to_pydict()
        row = table["file_name"].index(file_name)
        assert wrong in table["wrong_multi_labels"][row]
        assert wrong not in table["correct_multi_labels"][row] + table["unclear_multi_labels"][row]
    card = (output / "README.md").read_text(encoding="utf-8")
    version = patches.patched_version("unverified", [patches.read_patch(patch_file)])
    assert f"**This build applies label patches** (version {version};" in card
    patch_sha256 = patches.read_patch(patch_file).sha256
    assert f"| patch.json | `{patch_sha256}` | R \\| &lt;b&gt; |" in card
    assert card.count(patch_sha256) == 1


def test_disagreeing_patches_are_refused_naming_the_merge_in_each_surface(
    annotation_file: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path, sha256 = annotation_file
    reviewers = [
        _write_patch(tmp_path / f"{verdict}.json", [_decision(NAMES[0], 1, verdict)], base=sha256)
        for verdict in ("wrong", "correct")
    ]
    source = LabelSource(annotations=path, allow_unverified=True, patches=tuple(reviewers))
    with pytest.raises(LabelPatchError, match="consensus patch with `merge_patches`") as raised:
        build_dataset(tmp_path / "api", source)
    assert "--" not in str(raised.value)
    command = ["build", "--output", str(tmp_path / "cli"), "--annotations", str(path)]
    command += ["--allow-unverified-annotations", "--label-patch", *map(str, reviewers)]
    assert main(command) == 2
    assert "consensus patch with `imagenet-multilabel patches merge`" in capsys.readouterr().err
    assert not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()


def test_build_takes_no_labels_dataset_and_no_second_patch_option(tmp_path: Path) -> None:
    with pytest.raises(ToolkitError, match="labels dataset `dataset` 'built' is no source"):
        build_dataset(tmp_path / "out", LabelSource(dataset="built"))
    with pytest.raises(SystemExit):
        main(["build", "--output", str(tmp_path / "out"), "--patch", "p.json"])


def test_a_fifo_is_refused_not_read(tmp_path: Path) -> None:
    """Reading a named pipe would block until a writer came."""
    fifo = tmp_path / "patch.json"
    os.mkfifo(fifo)
    with pytest.raises(LabelPatchError, match=r"'.*patch.json' is a FIFO \(named pipe\)"):
        patches.read_patch(fifo)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"decisions": [' + "9" * 5000 + "]}", "is not valid JSON: .*digits"),
        ("[" * 100_000 + "]" * 100_000, "is JSON nested too deeply to read"),
    ],
)
def test_huge_ints_and_deep_nesting_are_clear_errors(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "hostile.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LabelPatchError, match=f"'.*hostile.json' {message}"):
        patches.read_patch(path)


LONG = "x" * 1_000_000


@pytest.mark.parametrize(
    ("decisions", "fields"),
    [
        ([], {"base": LONG}),
        ([], {"format": LONG}),
        ([], {"reviewer": [LONG]}),
        ([], {"created": 10**4000}),
        ([_decision(LONG, 1, "wrong")], {}),
        ([_decision(NAMES[0], 1, "wrong", note=[LONG])], {}),
        ([_decision(NAMES[0], 1, "wrong", category=LONG)], {}),
        ([_decision(NAMES[0], 1, "wrong", severity=LONG)], {}),
        ([_decision(NAMES[0], 1, LONG)], {}),
        ([_decision(NAMES[0], [LONG], "wrong")], {}),
        ([{"file_name": [[[LONG]]]}], {}),
    ],
)
def test_long_values_are_quoted_short(tmp_path: Path, decisions: list, fields: dict) -> None:
    path = _write_patch(tmp_path / "long.json", decisions, **fields)
    with pytest.raises(LabelPatchError) as raised:
        patches.read_patch(path)
    assert "long.json" in str(raised.value) and len(str(raised.value)) < 700

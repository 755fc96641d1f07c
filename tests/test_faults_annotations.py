"""Broken caches and hostile annotation files: the cache repairs itself, every other fault is a
clear error naming the file, never a traceback (issue 8)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from annotation_fixtures import synthetic_annotations, write_annotation_file
from imagenet_multilabel.dataset_script.annotations import cache
from imagenet_multilabel.dataset_script.annotations import published as ann
from imagenet_multilabel.dataset_script.annotations.download import sha256_of_file
from imagenet_multilabel.dataset_script.annotations.parse import AnnotationError
from imagenet_multilabel.eval_cli.commands.cli import main

# An unreachable URL: a test that touched the network would fail, not hang.
OFFLINE_URL = "http://127.0.0.1:9/human_accuracy_v3.0.0.json"


def _flip_a_data_byte(compact: Path) -> None:
    """Change one byte inside the stored image ids: the zip stays readable, its CRC fails."""
    with zipfile.ZipFile(compact) as archive:
        member = archive.getinfo("image_ids.npy")
    data = bytearray(compact.read_bytes())
    name_length, extra_length = np.frombuffer(data, "<u2", 2, member.header_offset + 26)
    start = member.header_offset + 30 + int(name_length) + int(extra_length)
    data[start + member.compress_size - 3] ^= 0xFF  # past the .npy header, in the array
    compact.write_bytes(bytes(data))


def _edited(compact: Path, name: str, edit) -> None:
    """Rewrite one array of a loadable entry with ``edit`` applied."""
    with np.load(compact) as data:
        arrays = dict(data)
    arrays[name] = edit(arrays[name])
    with open(compact, "wb") as handle:
        np.savez(handle, **arrays)


def _inconsistent(compact: Path) -> None:
    """A loadable entry whose label values are not class ids."""
    _edited(compact, "correct_values", lambda values: values + 5000)


def _other_format(compact: Path) -> None:
    _edited(compact, "format", lambda _: np.int32(99))


CORRUPTIONS = {
    "truncated": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
    "zero-bytes": lambda path: path.write_bytes(b""),
    "crc-error": _flip_a_data_byte,
    "inconsistent": _inconsistent,
    "other-format": _other_format,
    "duplicate-image-ids": lambda path: _edited(
        path, "image_ids", lambda ids: np.concatenate([ids[:1], ids[:-1]])
    ),
    "duplicate-imagenet-m-ids": lambda path: _edited(
        path, "imagenet_m_ids", lambda ids: np.concatenate([ids[:1], ids[:-1]])
    ),
    "imagenet-m-wrong-shape": lambda path: _edited(
        path, "imagenet_m_ids", lambda ids: ids.reshape(2, -1)
    ),
    "flags-wrong-shape": lambda path: _edited(path, "is_problematic", lambda f: f[:, None]),
}
REASONS = {
    "truncated": "BadZipFile",
    "zero-bytes": "EOFError",
    "crc-error": "Bad CRC-32",
    "inconsistent": "'correct' labels are not ragged class ids",
    "other-format": "format 99, expected 1",
    "duplicate-image-ids": "image ids are not increasing ids of validation images",
    "duplicate-imagenet-m-ids": "ImageNet-M ids are not increasing, distinct ids",
    "imagenet-m-wrong-shape": "ImageNet-M ids are not increasing, distinct ids in a 1-d array",
    "flags-wrong-shape": "problematic flags do not match the image ids",
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_unreadable_cache_entry_is_rebuilt_with_a_note(
    annotation_file, tmp_path, capsys, monkeypatch, corruption
):
    path, sha = annotation_file
    first = ann.load_annotations(path, expected_sha256=sha, cache_dir=tmp_path)
    compact = tmp_path / "compact" / f"{sha}.npz"
    CORRUPTIONS[corruption](compact)
    capsys.readouterr()

    rebuilt = ann.load_annotations(path, expected_sha256=sha, cache_dir=tmp_path)

    assert rebuilt.split_columns("validation") == first.split_columns("validation")
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line
    assert f"label cache {compact} is unreadable" in err and REASONS[corruption] in err
    assert f"rebuilding it from {path}" in err
    monkeypatch.setattr(ann, "parse_annotation_json", pytest.fail)  # the entry is good again
    again = ann.load_annotations(path, expected_sha256=sha, cache_dir=tmp_path)
    assert np.array_equal(again.image_ids, first.image_ids)
    assert capsys.readouterr().err == ""


def test_published_labels_are_rebuilt_from_the_verified_download(annotation_file, tmp_path, capsys):
    """The published file's entry is trusted by its name; broken, it is rebuilt from the cached
    download, whose sha256 is checked again (no network: the URL is unreachable)."""
    path, sha = annotation_file
    download = tmp_path / "downloads" / sha / "human_accuracy_v3.0.0.json"
    download.parent.mkdir(parents=True)
    download.write_bytes(path.read_bytes())
    first = ann.load_annotations(url=OFFLINE_URL, expected_sha256=sha, cache_dir=tmp_path)
    (tmp_path / "compact" / f"{sha}.npz").write_bytes(b"")
    rebuilt = ann.load_annotations(url=OFFLINE_URL, expected_sha256=sha, cache_dir=tmp_path)
    assert rebuilt.verified and np.array_equal(rebuilt.image_ids, first.image_ids)
    assert f"rebuilding it from {OFFLINE_URL}" in capsys.readouterr().err


def test_unwritable_cache_names_the_path_and_loses_nothing(annotation_file, tmp_path, capsys):
    """A cache directory that cannot be created (here under a regular file, which stops root
    too): the error names it and says that nothing was lost."""
    path, sha = annotation_file
    blocked = tmp_path / "not_a_directory"
    blocked.write_text("")
    with pytest.raises(AnnotationError) as raised:
        ann.load_annotations(path, expected_sha256=sha, cache_dir=blocked / "cache")
    message = str(raised.value)
    assert f"cannot write the annotation cache in '{blocked / 'cache'}'" in message
    assert "NotADirectoryError" in message and "nothing was lost" in message
    assert sha256_of_file(path) == sha


def test_read_only_hf_home_is_a_clear_error(annotation_file, tmp_path, monkeypatch, capsys):
    """Tests run as root, where a read-only directory still accepts writes: the cache write is
    replaced by one raising what a read-only HF_HOME raises, and the CLI reports it."""
    path, _ = annotation_file

    def read_only(target: Path, arrays) -> None:
        raise PermissionError(13, "Permission denied", str(target.parent))

    monkeypatch.setattr(cache, "_write_compact", read_only)
    monkeypatch.setattr(ann, "default_cache_dir", lambda: tmp_path / "hf_home" / "cache")
    predictions = tmp_path / "p.jsonl"
    predictions.write_text('{"file_name": "ILSVRC2012_val_00000001.JPEG", "prediction": 1}\n')
    args = ["score", "--predictions", str(predictions), "--annotations", str(path)]
    assert main([*args, "--allow-unverified-annotations"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write the annotation cache in ")
    assert "PermissionError" in err and "Permission denied" in err
    assert "nothing was lost" in err and "Traceback" not in err


def test_annotations_option_says_what_the_path_is(annotation_file, tmp_path, capsys):
    fifo = tmp_path / "annotations.json"
    os.mkfifo(fifo)  # reading it would block forever
    for target, what in ((tmp_path, "is a directory"), (fifo, r"is a FIFO \(named pipe\)")):
        with pytest.raises(AnnotationError, match=f"'{target}' {what}; expected the JSON"):
            ann.load_annotations(target, allow_unverified=True, cache_dir=tmp_path)
    predictions = tmp_path / "p.jsonl"
    predictions.write_text('{"file_name": "ILSVRC2012_val_00000001.JPEG", "prediction": 1}\n')
    assert main(["score", "--predictions", str(predictions), "--annotations", str(fifo)]) == 2
    assert "is a FIFO" in capsys.readouterr().err


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "bad.json"
    write_annotation_file(path, data)
    return path


@pytest.mark.parametrize("value", [5, "ILSVRC2012_val_00000001.JPEG", None])
def test_problematic_images_of_another_type(tmp_path, value):
    data = synthetic_annotations()
    data["problematic_images"] = value
    with pytest.raises(AnnotationError, match="bad.json': 'problematic_images' must map"):
        ann.load_annotations(_write(tmp_path, data), allow_unverified=True, cache_dir=tmp_path)


def test_deeply_nested_annotation_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(AnnotationError, match="bad.json' is JSON nested too deeply"):
        ann.load_annotations(path, allow_unverified=True, cache_dir=tmp_path)


def test_empty_imagenet_m_is_blamed_on_the_annotation_file(tmp_path, capsys):
    data = synthetic_annotations()
    data["imagenet_m"] = []
    path = _write(tmp_path, data)
    predictions = tmp_path / "p.jsonl"
    predictions.write_text('{"file_name": "ILSVRC2012_val_00000001.JPEG", "prediction": 1}\n')
    args = ["score", "--predictions", str(predictions), "--annotations", str(path)]
    assert main([*args, "--allow-unverified-annotations", "--split", "imagenet_m"]) == 2
    err = capsys.readouterr().err
    assert "bad.json': 'imagenet_m' lists no image" in err and "p.jsonl" not in err
    loaded = ann.load_annotations(path, allow_unverified=True, cache_dir=tmp_path)
    assert len(loaded.split_columns("validation")["file_name"]) == 2000  # still usable


def test_thousands_of_bad_entries_give_a_short_message(tmp_path):
    data = synthetic_annotations()
    for name, entry in list(data["initial_annots"].items())[:2000]:
        entry["wrong"] = [f"n{index:08d}" + "x" * 500 for index in range(3)]
        data["initial_annots"][name] = entry
    with pytest.raises(AnnotationError) as raised:
        ann.load_annotations(_write(tmp_path, data), allow_unverified=True, cache_dir=tmp_path)
    message = str(raised.value)
    assert "6000 unknown wnid(s) in 'wrong' labels, first 'n00000000xxxxx" in message
    assert message.endswith("characters), ...; expected ILSVRC-2012 wnids such as 'n01440764'")
    assert len(message) < 1500, len(message)  # five items of at most 200 characters


def test_an_integer_of_5000_digits_in_the_annotation_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"initial_annots": {}, "problematic_images": ' + "7" * 5000 + "}")
    with pytest.raises(AnnotationError, match="bad.json' is not valid JSON: Exceeds the limit"):
        ann.load_annotations(path, allow_unverified=True, cache_dir=tmp_path)

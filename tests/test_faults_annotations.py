"""Broken caches and hostile annotation files: the cache repairs itself, every other fault is a
clear error naming the file, never a traceback (issue 8)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
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


def _edited(compact: Path, name: str, edit, *, signed: bool = True) -> None:
    """Rewrite one array of a loadable entry with ``edit`` applied; ``signed``: its digest
    recomputed, as a forger would, so that the checks of its contents are what must catch it."""
    with np.load(compact) as data:
        arrays = dict(data)
    arrays[name] = edit(arrays[name])
    if signed and "arrays_digest" in arrays:
        arrays["arrays_digest"] = np.str_(cache._arrays_digest(arrays))
    with open(compact, "wb") as handle:
        np.savez(handle, **arrays)


def _old_format(compact: Path) -> None:
    """An entry as format 1 wrote it: the arrays only, no source sha256, no digest."""
    with np.load(compact) as data:
        arrays = {key: data[key] for key in data if key not in ("source_sha256", "arrays_digest")}
    arrays["format"] = np.int32(1)
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
    "old-format": _old_format,
    "edited": lambda path: _edited(path, "wrong_values", lambda v: v[::-1], signed=False),
    "another-source": lambda path: _edited(
        path, "source_sha256", lambda _: np.str_("0" * 64), signed=False
    ),
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
    "other-format": "format 99, expected 2",
    "old-format": "format 1, expected 2: written by an older version",
    "edited": "its arrays differ from the digest recorded with them",
    "another-source": f"built from the file with sha256 {'0' * 64}, not ",
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
    assert f"label cache {compact} is unusable" in err and REASONS[corruption] in err
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

    def read_only(target: Path, arrays, source_sha256) -> None:
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
    # The commands that do not score ImageNet-M still run, its images unknown.
    args = [*args, "--allow-unverified-annotations", "--split", "validation"]
    assert main(args) == 0
    capsys.readouterr()
    analysis = tmp_path / "analysis"
    assert main(["analyze", *args[1:], "--output-dir", str(analysis)]) == 0
    (line,) = (analysis / "mistakes.jsonl").read_text().splitlines()
    assert json.loads(line)["in_imagenet_m"] is None


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


@pytest.fixture
def published_name_holds_another_entry(annotation_file, tmp_path, monkeypatch) -> Path:
    """The synthetic file's entry copied under the published file's name, in the default cache,
    with the published URL unreachable: the issue-19 attack (``score --strict`` exited 0 with
    ``verified: true`` on a 2,000-image file)."""
    path, sha = annotation_file
    home = tmp_path / "hf_cache"
    ann.load_annotations(path, expected_sha256=sha, cache_dir=home)
    published = home / "compact" / f"{ann.PUBLISHED_SHA256}.npz"
    published.write_bytes((home / "compact" / f"{sha}.npz").read_bytes())
    monkeypatch.setattr(ann, "default_cache_dir", lambda: home)
    monkeypatch.setattr(ann, "PUBLISHED_URL", OFFLINE_URL)
    return published


def _score_strict(tmp_path: Path) -> tuple[int, Path]:
    predictions = tmp_path / "p.jsonl"
    predictions.write_text('{"file_name": "ILSVRC2012_val_00000001.JPEG", "prediction": 1}\n')
    output = tmp_path / "results.json"
    code = main(["score", "--predictions", str(predictions), "--strict", "--output", str(output)])
    return code, output


@pytest.mark.parametrize("forged", [False, True])
def test_an_entry_under_the_published_name_is_never_scored(
    published_name_holds_another_entry, annotation_file, tmp_path, capsys, forged
):
    """Copied (it records another source), or forged (it records the published sha256 and a
    recomputed digest, but not the published counts): discarded, and with no source at hand
    (the download fails) the command refuses instead of scoring."""
    entry = published_name_holds_another_entry
    _, sha = annotation_file
    if forged:
        _edited(entry, "source_sha256", lambda _: np.str_(ann.PUBLISHED_SHA256))
    capsys.readouterr()
    code, output = _score_strict(tmp_path)
    err = capsys.readouterr().err
    assert code == 2 and not output.exists(), err
    reason = (
        "it holds 2,000 images, 199 problematic, 68 ImageNet-M; the file it claims has 20,000 "
        "images, 1,308 problematic, 68 ImageNet-M"
        if forged
        else f"built from the file with sha256 {sha}, not {ann.PUBLISHED_SHA256}"
    )
    assert f"note: the label cache {entry} is unusable ({reason}); discarded" in err
    assert f"error: could not download {OFFLINE_URL}" in err and "Traceback" not in err


def test_the_labels_dataset_check_refuses_an_unusable_published_entry(
    published_name_holds_another_entry, capsys
):
    """What a labels dataset is proven against never comes from a bad entry, and with no
    verified download to rebuild it from, the check says so instead of passing or hanging."""
    with pytest.raises(AnnotationError, match="is unusable .*nothing was checked against it"):
        ann.cached_published_annotations()
    assert published_name_holds_another_entry.exists()  # kept for the user to look at


def test_a_fifo_as_cache_entry_never_blocks(annotation_file, tmp_path, capsys):
    """Opening a FIFO for reading waits for a writer for ever; the cache never opens one. (A
    watchdog opens it as a writer every 10 s, so that a reader blocked on it fails the test
    instead of hanging.)"""
    path, sha = annotation_file
    entry = tmp_path / "compact" / f"{sha}.npz"
    entry.parent.mkdir(parents=True)
    os.mkfifo(entry)
    opened_by_watchdog = threading.Event()

    def watchdog() -> None:
        while not finished.wait(10):
            with contextlib.suppress(OSError):
                descriptor = os.open(entry, os.O_WRONLY | os.O_NONBLOCK)
                opened_by_watchdog.set()
                os.close(descriptor)

    finished = threading.Event()
    threading.Thread(target=watchdog, daemon=True).start()
    try:
        loaded = ann.load_annotations(path, expected_sha256=sha, cache_dir=tmp_path)
    finally:
        finished.set()
    assert not opened_by_watchdog.is_set()
    assert len(loaded.image_ids) == 2000 and entry.is_file()  # rebuilt as a regular file
    assert "is unusable (it is a FIFO (named pipe)); discarded" in capsys.readouterr().err

import hashlib
import http.server
import json
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from annotation_fixtures import IMAGENET_M_SIZE, synthetic_annotations, write_annotation_file
from imagenet_multilabel.dataset_script import classes
from imagenet_multilabel.dataset_script.annotations import download
from imagenet_multilabel.dataset_script.annotations import published as ann
from imagenet_multilabel.dataset_script.annotations.parse import LABEL_KINDS, AnnotationError


def test_local_file_with_matching_checksum_is_verified(annotation_file, tmp_path):
    path, sha = annotation_file
    loaded = ann.load_annotations(path, expected_sha256=sha, cache_dir=tmp_path)
    assert loaded.verified and loaded.sha256 == sha and loaded.version == ann.PUBLISHED_VERSION
    assert loaded.provenance()["num_annotated_images"] == 2000


def test_local_file_with_other_checksum_is_refused_unless_allowed(annotation_file, tmp_path):
    path, sha = annotation_file
    with pytest.raises(AnnotationError, match="`allow_unverified=True`"):
        ann.load_annotations(path, cache_dir=tmp_path)
    loaded = ann.load_annotations(path, allow_unverified=True, cache_dir=tmp_path)
    assert not loaded.verified and loaded.sha256 == sha and loaded.version == "unverified"


def test_split_columns_follow_the_file(annotation_file, tmp_path):
    path, sha = annotation_file
    raw = json.loads(path.read_text())
    loaded = ann.load_annotations(path, expected_sha256=sha, cache_dir=tmp_path)
    validation = loaded.split_columns("validation")
    names = [n for n in raw["initial_annots"] if n.startswith("ILSVRC2012_val_")]
    assert validation["file_name"] == sorted(names)  # ImageNetV2 keys are skipped
    assert validation["image_id"] == sorted(validation["image_id"])
    for row, name in enumerate(validation["file_name"]):
        entry = raw["initial_annots"][name]
        for kind in LABEL_KINDS:
            expected = [classes.WNID_TO_INDEX[w] for w in entry.get(kind, [])]
            assert validation[f"{kind}_multi_labels"][row] == expected
        assert validation["is_problematic"][row] == (name in raw["problematic_images"])
        image_id = classes.image_id_from_file_name(name)
        assert validation["original_label"][row] == classes.validation_labels()[image_id - 1]
    imagenet_m = loaded.split_columns("imagenet_m")
    assert sorted(raw["imagenet_m"]) == imagenet_m["file_name"]
    assert len(imagenet_m["file_name"]) == IMAGENET_M_SIZE
    assert set(imagenet_m) == set(validation)
    with pytest.raises(ValueError, match="unknown split"):
        loaded.split_columns("train")


def test_subset_file_is_fine_when_unverified(tmp_path):
    data = synthetic_annotations()
    keep = sorted(data["initial_annots"])[:100] + data["imagenet_m"]
    data["initial_annots"] = {k: data["initial_annots"][k] for k in keep}
    path = tmp_path / "subset.json"
    write_annotation_file(path, data)
    loaded = ann.load_annotations(path, allow_unverified=True, cache_dir=tmp_path)
    assert len(loaded.image_ids) == len(set(keep))  # the checksum, not a count, proves a file


def test_compact_cache_is_used_and_rebuilt_when_corrupt(annotation_file, tmp_path, monkeypatch):
    path, sha = annotation_file
    first = ann.load_annotations(path, expected_sha256=sha, cache_dir=tmp_path)
    compact = tmp_path / "compact" / f"{sha}.npz"
    assert compact.is_file()

    def no_parse(_):
        raise AssertionError("the compact cache should have been used")

    monkeypatch.setattr(ann, "parse_annotation_json", no_parse)
    second = ann.load_annotations(path, expected_sha256=sha, cache_dir=tmp_path)
    assert np.array_equal(first.image_ids, second.image_ids)
    monkeypatch.undo()
    compact.write_bytes(b"truncated")
    third = ann.load_annotations(path, expected_sha256=sha, cache_dir=tmp_path)
    assert third.split_columns("validation") == first.split_columns("validation")


def _mutated(tmp_path: Path, mutate) -> Path:
    data = synthetic_annotations()
    mutate(data)
    path = tmp_path / "bad.json"
    write_annotation_file(path, data)
    return path


def _first_val(data):
    return next(n for n in data["initial_annots"] if n.startswith("ILSVRC"))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("imagenet_m"), "lacks the key.*imagenet_m"),
        (lambda d: d.pop("initial_annots"), "lacks the key.*initial_annots"),
        (lambda d: d["initial_annots"][_first_val(d)].update(wrong=["n99999999"]), "unknown wnid"),
        (lambda d: d["initial_annots"].update({"ILSVRC2012_val_12.JPEG": {}}), "malformed image"),
        (lambda d: d["problematic_images"].update({"ILSVRC2012_val_x.JPEG": 1}), "malformed"),
        (lambda d: d["initial_annots"].update({_first_val(d): ["n01440764"]}), "not objects"),
        (lambda d: d["initial_annots"][_first_val(d)].update(correct="n01440764"), "lists of"),
        (lambda d: d.update(imagenet_m={"a": 1}), "must be a list"),
        (lambda d: d["imagenet_m"].append(d["imagenet_m"][0]), "more than once"),
        (
            lambda d: d["imagenet_m"].append("ILSVRC2012_val_00049999.JPEG"),
            "no entry in 'initial_annots'",
        ),
        (lambda d: d.update(initial_annots={}), "annotates no ILSVRC2012_val_ images"),
    ],
)
def test_bad_files_get_clear_errors(tmp_path, mutate, message):
    path = _mutated(tmp_path, mutate)
    with pytest.raises(AnnotationError, match=message) as error:
        ann.load_annotations(path, allow_unverified=True, cache_dir=tmp_path)
    assert "bad.json" in str(error.value)


def test_not_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("<html>not found</html>")
    with pytest.raises(AnnotationError, match="not valid JSON"):
        ann.load_annotations(path, allow_unverified=True, cache_dir=tmp_path)
    with pytest.raises(AnnotationError, match="does not exist"):
        ann.load_annotations(tmp_path / "missing.json", cache_dir=tmp_path)


class _RangeServer:
    """A loopback HTTP server for one file, honouring Range requests, recording what it got.

    ``delay`` holds every response back; ``failures`` lists how the next responses break off
    after half their body: ``close`` (a clean early close), ``reset`` (TCP RST) or ``stall``.
    """

    def __init__(self, payload: bytes):
        self.payload, self.requests = payload, []
        self.delay, self.failures = 0.0, []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append(self.headers.get("Range"))
                time.sleep(owner.delay)
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
                body = owner.payload[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                failure = owner.failures.pop(0) if owner.failures else None
                self.wfile.write(body[: len(body) // 2] if failure else body)
                if failure == "stall":
                    time.sleep(2)
                elif failure == "reset":
                    time.sleep(0.2)  # let the client take the half, then reset instead of FIN
                    linger = struct.pack("ii", 1, 0)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    self.connection.close()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/human_accuracy_v3.0.0.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def served(annotation_file):
    path, sha = annotation_file
    server = _RangeServer(path.read_bytes())
    yield server, sha
    server.close()


def test_download_is_cached_and_verified(served, tmp_path):
    server, sha = served
    loaded = ann.load_annotations(url=server.url, expected_sha256=sha, cache_dir=tmp_path)
    assert loaded.verified and loaded.source == server.url
    assert server.requests == [None]
    ann.load_annotations(url=server.url, expected_sha256=sha, cache_dir=tmp_path)
    assert len(server.requests) == 1  # served from the cache


def test_download_resumes_a_partial_file(served, tmp_path):
    server, sha = served
    target = tmp_path / "downloads" / sha / "human_accuracy_v3.0.0.json"
    target.parent.mkdir(parents=True)
    half = len(server.payload) // 2
    (target.parent / (target.name + ".incomplete")).write_bytes(server.payload[:half])
    path = download.download_verified(server.url, sha, tmp_path / "downloads")
    assert server.requests == [f"bytes={half}-"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha


def test_corrupt_cached_download_is_fetched_again(served, tmp_path):
    server, sha = served
    target = tmp_path / "downloads" / sha / "human_accuracy_v3.0.0.json"
    target.parent.mkdir(parents=True)
    target.write_bytes(server.payload[:-10])  # truncated
    path = download.download_verified(server.url, sha, tmp_path / "downloads")
    assert server.requests == [None] and path.read_bytes() == server.payload


def test_download_with_wrong_checksum_is_removed(served, tmp_path):
    server, _ = served
    with pytest.raises(AnnotationError, match="expected 0000"):
        ann.load_annotations(url=server.url, expected_sha256="0" * 64, cache_dir=tmp_path)
    downloads = tmp_path / "downloads"
    assert not list(downloads.rglob("*.json")) and not list(downloads.rglob("*.incomplete"))


def test_unreachable_url_suggests_a_local_copy(tmp_path):
    with pytest.raises(AnnotationError, match="`annotations=PATH`"):
        ann.load_annotations(url="http://127.0.0.1:9/x.json", cache_dir=tmp_path)


@pytest.mark.parametrize(
    ("failure", "cause"),
    [
        ("close", "connection closed after"),
        ("reset", "ConnectionResetError"),
        ("stall", "TimeoutError"),
    ],
)
def test_interrupted_download_is_kept_and_resumed(served, tmp_path, monkeypatch, failure, cause):
    server, sha = served
    monkeypatch.setattr(download, "_TIMEOUT_S", 0.5)
    server.failures.append(failure)
    with pytest.raises(AnnotationError, match=rf"interrupted \({cause}.*running again resumes"):
        ann.load_annotations(url=server.url, expected_sha256=sha, cache_dir=tmp_path)
    partial = tmp_path / "downloads" / sha / "human_accuracy_v3.0.0.json.incomplete"
    kept = partial.read_bytes()
    assert server.payload.startswith(kept)
    if failure == "close":
        assert len(kept) == len(server.payload) // 2
    loaded = ann.load_annotations(url=server.url, expected_sha256=sha, cache_dir=tmp_path)
    assert loaded.verified and not partial.exists()
    assert server.requests[-1] == (f"bytes={len(kept)}-" if kept else None)


@pytest.mark.parametrize("entry", ["load_annotations", "_download_verified"])
def test_concurrent_callers_download_once(served, tmp_path, entry):
    server, sha = served
    server.delay = 0.3  # without the locks both callers would be mid-download at once
    start = threading.Barrier(2)

    def call() -> object:
        start.wait()
        if entry == "load_annotations":
            loaded = ann.load_annotations(url=server.url, expected_sha256=sha, cache_dir=tmp_path)
            return loaded.split_columns("validation")
        return download.download_verified(server.url, sha, tmp_path / "downloads").read_bytes()

    with ThreadPoolExecutor(2) as pool:
        first, second = [future.result() for future in [pool.submit(call) for _ in range(2)]]
    assert server.requests == [None]
    assert first == second

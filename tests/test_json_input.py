"""Every JSON document a user hands the toolkit is read by `dataset_script.json_input` (issue 19):
no module of the package parses JSON itself but the few listed below, and each reader of a
user's file, driven with the hostile documents that broke readers one by one (nesting deeper
than Python parses, bytes that are not UTF-8, text that is not JSON, a top-level value of the
wrong kind, an integer of 5,000 digits), gives one error naming the file or, where an unreadable
file only means "nothing recorded", nothing; never a traceback."""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from imagenet_multilabel.dataset_script.annotations.parse import parse_annotation_json
from imagenet_multilabel.dataset_script.dataset_rows import PROVENANCE_KEY
from imagenet_multilabel.dataset_script.hub.names import LABELS_CONFIG
from imagenet_multilabel.dataset_script.hub.push_dataset import labels_caveat
from imagenet_multilabel.dataset_script.json_input import (
    JsonInputError,
    JsonLineError,
    json_line,
    parse_json,
)
from imagenet_multilabel.dataset_script.label_sets import load_label_set
from imagenet_multilabel.dataset_script.labels.dataset import _annotations_provenance
from imagenet_multilabel.dataset_script.labels.patches import read_patch
from imagenet_multilabel.eval_cli.analysis.review import THUMBNAILS_FILE, _written_thumbnails
from imagenet_multilabel.eval_cli.engine.resume import _prepare_output_dir, _record_of_line
from imagenet_multilabel.eval_cli.feed.decoded_cache import INDEX_FILE, _read_index
from imagenet_multilabel.eval_cli.models.source import resolve_model_source
from imagenet_multilabel.eval_cli.outputs import IDENTITY_FILE, PREDICTIONS_FILE
from imagenet_multilabel.eval_cli.scores.predictions import read_predictions
from imagenet_multilabel.eval_cli.scores.results_document import read_document
from imagenet_multilabel.eval_cli.sweeps.manifest import read_manifest
from imagenet_multilabel.eval_cli.sweeps.plan import _local_json
from imagenet_multilabel.eval_cli.sweeps.status import FAILURE_FILE, _recorded_failure
from imagenet_multilabel.metric.errors import ToolkitError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_FOLDERS = ("metric", "dataset_script", "eval_cli", "imagenet_multilabel", "cards")
OWNER = "dataset_script/json_input.py"
# The JSON reads that may stay plain, per file: how many, and why none of them is a user's file.
# A read added to one of these files, or one fewer, fails the test as a read anywhere else does.
PLAIN_READS = {
    # the package's own data under dataset_script/data/ (sources and sha256s in its SOURCE.md)
    "dataset_script/taxonomy/experts.py": 1,
    "dataset_script/taxonomy/class_relations.py": 3,
    "eval_cli/models/zero_shot_prompts.py": 1,
    # JSON this process has just written: a predictions line (`prediction_record`), timm's data
    # config through json.dumps, transformers' serialisation of a processor already loaded
    "eval_cli/engine/predict_loop.py": 1,
    "eval_cli/models/kinds/timm.py": 1,
    "eval_cli/models/preprocessing.py": 1,
}
# What parses JSON: json's readers, its decoder class, its modules below the package.
JSON_READERS = {"load", "loads", "JSONDecoder", "decoder", "scanner"}


def json_reads(source: str) -> list[int]:
    """The lines of ``source`` that parse JSON with the ``json`` module, however it is imported
    (``import json as j``; ``from json import loads``)."""
    tree = ast.parse(source)
    aliases = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.split(".")[0] == "json"
    }
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "json":
            lines += [node.lineno for a in node.names if a.name in JSON_READERS]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr in JSON_READERS
        ):
            lines.append(node.lineno)
    return lines


def test_no_module_parses_json_but_the_owner():
    found = {}
    for folder in PACKAGE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            lines = json_reads(path.read_text(encoding="utf-8"))
            if relative != OWNER and lines:
                found[relative] = lines
    unlisted = {path: lines for path, lines in found.items() if len(lines) != PLAIN_READS.get(path)}
    assert not unlisted, (
        f"JSON parsed outside {OWNER} (file: lines): {unlisted}; read a user's JSON with "
        "json_input.read_json / parse_json / json_line, or list a read of the package's own data "
        "in PLAIN_READS, saying why"
    )
    assert set(PLAIN_READS) <= set(found), "PLAIN_READS lists a file that no longer reads JSON"


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        ("import json\njson.loads('1')", [2]),
        ("import json as j\nwith open('x') as f:\n    j.load(f)", [3]),
        ("from json import loads", [1]),
        ("from json.decoder import JSONDecoder", [1]),
        ("import json\njson.dumps(1)", []),
    ],
)
def test_every_spelling_of_a_json_read_is_found(source, lines):
    assert json_reads(source) == lines


# Hostile documents, each as a whole file and as one line of a JSON Lines file.
DEEP = b"[" * 100_000 + b"]" * 100_000
HOSTILE = {
    "deep-nesting": DEEP,
    "not-utf8": b'{"a": "\xff\xfe"}',
    "not-json": b"{not json",
    "huge-int": b'{"a": ' + b"9" * 5000 + b"}",
    "wrong-top": None,  # the reader's wrong kind: an array where it reads an object, and so on
}


@dataclass(frozen=True)
class Reader:
    """A reader of users' JSON: ``read(tmp_path, document)`` puts the document where it reads
    it and reads it; ``refuses``: it raises an error naming ``named`` (else it returns
    ``nothing``: an unreadable record is no record)."""

    read: Callable[[Path, bytes], Any]
    named: str = ""
    refuses: bool = True
    nothing: Any = None
    top: bytes = b"[1, 2]"  # a document of the wrong kind for it


def _file(tmp_path: Path, name: str, document: bytes) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(document)
    return path


def _jsonl(tmp_path: Path, name: str, first: bytes, document: bytes) -> Path:
    return _file(tmp_path, name, first + b"\n" + document + b"\n")


def _labels_parquet(tmp_path: Path, document: bytes) -> Path:
    """A built folder whose labels file carries ``document`` as its provenance record."""
    schema = pa.schema([("file_name", pa.string())], metadata={PROVENANCE_KEY: document})
    path = tmp_path / "built" / LABELS_CONFIG / "validation.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"file_name": ["x"]}, schema=schema), path)
    return path


def _resumed(tmp_path: Path, document: bytes) -> None:
    _file(tmp_path, f"out/{IDENTITY_FILE}", document)
    _file(tmp_path, f"out/{PREDICTIONS_FILE}", b"")
    _prepare_output_dir(tmp_path / "out", {"model": "m"})


def _model_config(tmp_path: Path, document: bytes) -> Any:
    _file(tmp_path, "model/config.json", document)
    return resolve_model_source(str(tmp_path / "model"))


READERS = {
    "annotations": Reader(lambda t, d: parse_annotation_json(_file(t, "a.json", d)), "a.json"),
    "label-patch": Reader(lambda t, d: read_patch(_file(t, "patch.json", d)), "patch.json"),
    "real-labels": Reader(
        lambda t, d: load_label_set("real", path=_file(t, "real.json", d), allow_unverified=True),
        "real.json",
        top=b'{"a": 1}',
    ),
    "results": Reader(lambda t, d: read_document(_file(t, "results.json", d)), "results.json"),
    "model-config": Reader(_model_config, "config.json"),
    "decoded-cache-index": Reader(
        lambda t, d: _read_index(_file(t, INDEX_FILE, d).parent), INDEX_FILE
    ),
    "run-identity": Reader(_resumed, IDENTITY_FILE),
    "labels-provenance": Reader(
        lambda t, d: _annotations_provenance([_labels_parquet(t, d)], "built"), "validation.parquet"
    ),
    "manifest-line": Reader(
        lambda t, d: read_manifest(_jsonl(t, "m.jsonl", b'{"model": "a"}', d)), "m.jsonl"
    ),
    "predictions-line": Reader(
        lambda t, d: read_predictions(
            _jsonl(t, "p.jsonl", b'{"file_name": "ILSVRC2012_val_00000001.JPEG"}', d)
        ),
        "p.jsonl",
    ),
    # what an unreadable record means: none was left (the command reads on without it)
    "labels-caveat": Reader(
        lambda t, d: labels_caveat(_labels_parquet(t, d).parents[1]),
        refuses=False,
        nothing="the labels carry no readable provenance record, so they are unverified",
    ),
    "sweep-model-json": Reader(
        lambda t, d: _local_json(str(_file(t, "m/a.json", d).parent), None, "a.json"),
        refuses=False,
    ),
    "sweep-failure": Reader(
        lambda t, d: _recorded_failure(_file(t, FAILURE_FILE, d).parent), refuses=False
    ),
    "review-thumbnails": Reader(
        lambda t, d: _written_thumbnails(_file(t, THUMBNAILS_FILE, d).parent),
        refuses=False,
        nothing={},
    ),
    "resumed-predictions-line": Reader(lambda t, d: _record_of_line(d + b"\n"), refuses=False),
}


@pytest.mark.parametrize("document", HOSTILE, ids=HOSTILE)
@pytest.mark.parametrize("reader", READERS, ids=READERS)
def test_every_reader_refuses_a_hostile_document_in_one_line(tmp_path, reader, document):
    spec = READERS[reader]
    content = HOSTILE[document] or spec.top
    if not spec.refuses:
        assert spec.read(tmp_path, content) == spec.nothing
        return
    with pytest.raises(ToolkitError) as raised:
        spec.read(tmp_path, content)
    message = str(raised.value)
    assert spec.named in message and "\n" not in message and len(message) < 1200, message


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{not json", "is not valid JSON: Expecting property name .*: line 1 column 2"),
        (b'{"a": 1}\n\n]', "is not valid JSON: Extra data: line 3 column 1"),
        (b'{"a": "\xff"}', "is not UTF-8 text"),
        (DEEP, "is JSON nested too deeply to read"),
        (b"[" + b"1" * 5000 + b"]", "is not valid JSON: Exceeds the limit"),
        (b"[1]", "holds a JSON array; expected an object"),
    ],
)
def test_a_document_error_names_it_where_and_what_was_expected(document, message):
    with pytest.raises(JsonInputError, match=rf"^the file 'x' {message}"):
        parse_json(document, "the file 'x'", "an object", top=dict)


def test_nan_and_infinity_are_read_as_pythons_json_reads_them():
    """Each reader checks the numbers it uses (a results file's NaN accuracy is refused there)."""
    assert str(parse_json(b"[NaN, Infinity]", "x", "numbers")) == "[nan, inf]"
    assert str(json_line("[NaN, -Infinity]")) == "[nan, -inf]"


@pytest.mark.parametrize(
    ("line", "value"),
    [('{"a": 1}\n', {"a": 1}), (b' {"a": 1} \r\n', {"a": 1}), ("7", 7), ('"x"', "x")],
)
def test_a_line_is_read_as_json_loads_reads_it(line, value):
    assert json_line(line) == value


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"a": 1} {"b": 2}', "^not valid JSON: Extra data: line 1 column 10"),
        ("", "^not valid JSON: Expecting value"),
        (b"\xff", "^not UTF-8 text"),
        (DEEP.decode(), "^JSON nested too deeply to read$"),
    ],
)
def test_a_line_that_is_no_json_value_says_why(line, message):
    with pytest.raises(JsonLineError, match=message):
        json_line(line)

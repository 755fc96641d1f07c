"""Shared fixtures: offline Hugging Face settings and a synthetic annotation file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Before any Hugging Face library is imported: no network, and a private cache and token store.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="hf_home_")
os.environ.pop("HF_TOKEN", None)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
from annotation_fixtures import write_annotation_file  # noqa: E402


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per core, at most four (each holds PyTorch and its fixtures, and
    the slow tests start processes of their own)."""
    return max(1, min(4, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def annotation_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A synthetic annotation file (2 images per class) and its sha256."""
    path = tmp_path_factory.mktemp("annotations") / "human_accuracy_v3.0.0.json"
    return path, write_annotation_file(path)


@pytest.fixture
def fresh_accelerator_state():
    """Each in-process run creates its Accelerator anew, as a new process would: accelerate's
    global state (partial state included) is reset after the test."""
    from accelerate.state import AcceleratorState

    yield
    AcceleratorState._reset_state(reset_partial_state=True)

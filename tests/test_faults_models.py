"""A model whose pickled weights the safe loader refuses is a clear error, and the code those
weights carry never runs (issue 8)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from imagenet_multilabel.eval_cli import models
from model_fixtures import save_resnet


class _RunsCode:
    """Pickled, it runs ``touch marker`` when unpickled by an unsafe loader."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_weights_the_safe_loader_refuses(tmp_path):
    folder = save_resnet(tmp_path / "model")
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "code_ran"
    torch.save({"classifier.1.weight": _RunsCode(marker)}, folder / "pytorch_model.bin")
    with pytest.raises(models.ModelLoadError) as raised:  # was a bare UnpicklingError
        models.load_model(str(folder))
    message = str(raised.value)
    assert f"the weights of {str(folder)!r} are not loadable safely" in message
    assert "GLOBAL posix.system" in message and "nothing was run" in message
    assert not marker.exists()

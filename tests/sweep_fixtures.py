"""What the sweep tests share: six tiny models (one of which cannot load) and their manifest,
the `sweep run` command line over them, and what of a results tree must be equal whatever the
shards.

The tree, compared: every file of every model's folder, byte for byte, except what says when,
where and with whom a model ran: ``.run.lock`` (the last holder's pid, host and start time),
and in ``results.json`` the ``environment`` block (creation time, the command line with its
``--shard``) and the run's ``wall_seconds``, ``images_per_second`` and ``shared_decode_with``
(the models that shared the process's decode, which depend on the shard), and the run's time
and command line in the model-card files. The predictions, ``run_identity.json``, the rest of
the model-card files and each failure record are compared byte for byte.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from imagenet_multilabel.eval_cli.sweeps.manifest import write_manifest
from imagenet_multilabel.eval_cli.sweeps.plan import plan_from_list
from model_fixtures import save_convnext, save_timm_model, save_vit
from run_fixtures import make_workspace, run_args

MODELS = ("resnet", "resnet_b", "timm", "vit", "convnext", "broken")
# Run facts that differ between two runs of the same model (see the module's docstring).
RUN_FACTS = ("wall_seconds", "images_per_second", "shared_decode_with")
SWEEP_FOLDER = "_sweep"
_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+\-:\dZ]*")
_COMMAND = re.compile(rb"<pre><code>.*?</code></pre>")


def make_sweep_workspace(root: Path) -> dict[str, Any]:
    """The run workspace (~150 images, labels) with six models and their manifest: a ResNet and
    a copy normalised otherwise (same geometry), a timm model, a ViT, a ConvNeXt, and a timm
    model whose architecture timm does not know (it fails when it loads)."""
    root.mkdir(parents=True, exist_ok=True)
    workspace = make_workspace(root)
    resnet_b = Path(shutil.copytree(workspace["resnet"], root / "resnet_b"))
    config = json.loads((resnet_b / "preprocessor_config.json").read_text())
    config.update(image_mean=[0.3, 0.4, 0.5], image_std=[0.2, 0.25, 0.3])
    (resnet_b / "preprocessor_config.json").write_text(json.dumps(config))
    workspace["resnet_b"] = resnet_b
    workspace["timm"] = save_timm_model(root / "timm")
    workspace["vit"] = save_vit(root / "vit")
    workspace["convnext"] = save_convnext(root / "convnext")
    broken = Path(shutil.copytree(workspace["timm"], root / "broken"))
    config = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "architecture": "no_such_arch"}))
    workspace["broken"] = broken
    models_file = root / "models.txt"
    models_file.write_text("".join(f"{workspace[name]}\n" for name in MODELS))
    workspace["manifest"] = root / "manifest.jsonl"
    write_manifest(workspace["manifest"], plan_from_list(models_file))
    return workspace


def sweep_run_args(workspace: dict[str, Any], tree: Path, *extra: str) -> list[str]:
    """`sweep run` of the workspace's manifest into ``tree``, in this process's DataLoader."""
    return [
        "sweep",
        "run",
        str(workspace["manifest"]),
        *common_args(workspace, tree),
        *extra,
    ]


def common_args(workspace: dict[str, Any], tree: Path) -> list[str]:
    """The options `sweep run` and `sweep slurm` share here: `run`'s (images, labels, output,
    workers) without its command and model, and a batch size of 16."""
    run, model_option, _, *options = run_args(workspace, workspace["resnet"], tree)
    assert (run, model_option) == ("run", "--model")
    return [*options, "--batch-size", "16"]


def comparable_tree(tree: Path) -> dict[str, Any]:
    """Relative path -> content of every file of the tree's model folders (the sweep's own
    folder left out), results.json without the facts of when and where (module docstring)."""
    files: dict[str, Any] = {}
    for path in sorted(tree.rglob("*")):
        relative = path.relative_to(tree).as_posix()
        if not path.is_file() or relative.startswith(f"{SWEEP_FOLDER}/"):
            continue
        if path.name == ".run.lock":
            continue
        if path.name == "results.json":
            document = json.loads(path.read_text())
            document.pop("environment")
            for fact in RUN_FACTS:
                document["run"].pop(fact)
            files[relative] = document
        elif path.name.startswith("model_card"):
            card = _TIME.sub(b"<time>", path.read_bytes())
            files[relative] = _COMMAND.sub(b"<command>", card)
        else:
            files[relative] = path.read_bytes()
    return files

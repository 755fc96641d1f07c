"""The Hub dataset folder's commands, framed (`eval_cli.frame`): `build_dataset` writes the
folder (`dataset_script.build`), `push_dataset` uploads it (`dataset_script.hub.push_dataset`).
Their work lives in `dataset_script`, which knows nothing of commands; here they declare their
files, so that the command line and the API (``imagenet_multilabel.build_dataset``) run them
in the frame alike.
"""

from __future__ import annotations

from ..dataset_script import build
from ..dataset_script.hub import push_dataset as push
from .frame import FOLDER, IMAGES, LABEL_FILES, Read, Write, command

build_dataset = command(
    Write("output", FOLDER, writes=None),  # written whole: new or empty, staged beside it
    LABEL_FILES,
    IMAGES,
    plain=("images_split", "repo_id", "full_image_check", "max_shard_bytes", "rows_per_row_group"),
)(build.build_dataset)

push_dataset = command(
    Read("folder", FOLDER, expected="a folder written by `imagenet-multilabel build`", whole=True),
    plain=(
        "repo_id",
        "private",
        "dry_run",
        "allow_public_images",
        "replace_remote_configs",
        "api",
        "echo",
    ),
)(push.push_dataset)

"""Upload a built dataset folder to the Hub, refusing to publish ImageNet images by accident.

A thin layer over ``huggingface_hub``: ``create_repo`` + ``upload_folder``. What it adds is the
one decision the Hub cannot make for us: ImageNet's terms forbid public re-hosting of the images,
so a folder with the ``images`` config goes only to a private repository unless the caller
explicitly passes ``--allow-public-images`` (then the repository is gated). The visibility that
counts is the existing repository's, because ``create_repo(exist_ok=True)`` never changes it.

The upload replaces the remote data files of the configs the folder holds, and only those. A
remote config that the folder lacks (say ``images/`` when pushing a labels-only build) would be
left undeclared by the new card, so the push refuses unless ``--replace-remote-configs`` says to
delete it. Labels other than the published ones (another annotation file, patches) may be pushed,
and the push says so (`labels_caveat`), as a dry run says that it is one.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

import pyarrow.parquet as pq
from huggingface_hub import HfApi
from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects

from ...metric.errors import brief_repr, first_few, named
from ..annotations.published import PUBLISHED_SHA256
from ..dataset_rows import PROVENANCE_KEY
from ..json_input import parse_json
from .access import PushError, hub_call, resolve_token
from .card import card_configs
from .ids import hub_repo_id_problem
from .names import IMAGES_CONFIG, LABELS_CONFIG

CONFIGS = (LABELS_CONFIG, IMAGES_CONFIG)
IMAGES_GATE = "auto"
# File types that hold images (ImageNet's are JPEGs; thumbnails and crops may be any of these).
IMAGE_SUFFIXES = frozenset(
    {".jpeg", ".jpg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm"}
)


def folder_files(folder: Path) -> list[tuple[str, int]]:
    """``(path in repo, size in bytes)`` of every file ``upload_folder`` would send, sorted."""
    paths = sorted(
        path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
    )
    kept = filter_repo_objects(paths, ignore_patterns=DEFAULT_IGNORE_PATTERNS)
    return [(path, (folder / path).stat().st_size) for path in kept]


def image_paths(paths: Iterable[str]) -> list[str]:
    """The paths in a repository that would publish images: under the ``images`` config's folder,
    or an image file anywhere. The one rule of every upload that must not re-host ImageNet."""
    return [
        path
        for path in paths
        if path.split("/", 1)[0] == IMAGES_CONFIG
        or PurePosixPath(path).suffix.lower() in IMAGE_SUFFIXES
    ]


def declared_configs(folder: Path) -> set[str]:
    """The config names the folder's card declares; a card without the labels config is no
    built dataset (pushed, it would publish a dataset nobody can load as labels)."""
    configs = card_configs(folder / "README.md", str(folder), PushError)
    declared = {config.get("config_name") for config in configs}
    if LABELS_CONFIG not in declared:
        raise PushError(
            f"{named('folder')} {str(folder)!r} is not a built dataset folder: its README.md "
            f"declares no {LABELS_CONFIG!r} config; build one with `imagenet-multilabel build` "
            "(build_dataset)"
        )
    return declared


def has_images_config(folder: Path) -> bool:
    """Whether the folder would publish images: an ``images`` config, or files `image_paths`
    names."""
    declared = IMAGES_CONFIG in declared_configs(folder)
    return declared or bool(image_paths(path for path, _ in folder_files(folder)))


def labels_caveat(folder: Path) -> str | None:
    """Why a built folder's labels are not the published ones, read from the provenance record
    that the builder puts in each labels parquet file (its sha256 compared, not its ``verified``
    taken on faith); None when they are the published ones."""
    files = sorted((folder / LABELS_CONFIG).glob("*.parquet"))
    try:
        raw = pq.read_schema(files[0]).metadata[PROVENANCE_KEY.encode()]
        record = parse_json(raw, "the provenance record", "a JSON object", top=dict)
    except (IndexError, KeyError, TypeError, ValueError, OSError):  # ArrowInvalid, JsonInputError
        return "the labels carry no readable provenance record, so they are unverified"
    if record.get("patched"):
        return f"the labels are PATCHED (version {record.get('version')}), not the published ones"
    if record.get("verified") is not True or record.get("sha256") != PUBLISHED_SHA256:
        return (
            f"the labels are UNVERIFIED: built from the annotation file with sha256 "
            f"{record.get('sha256')}, not the published one; results on them are not the "
            "benchmark's numbers"
        )
    return None


def local_configs(folder: Path) -> list[str]:
    """The configs whose data files the folder holds, in ``CONFIGS`` order."""
    return [
        config for config in CONFIGS if any(path.is_file() for path in (folder / config).rglob("*"))
    ]


def push_dataset(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    dry_run: bool = False,
    allow_public_images: bool = False,
    replace_remote_configs: bool = False,
    api: HfApi | None = None,
    echo: Callable[[str], None] = print,
) -> str | None:
    """Create (if needed) the dataset repository and upload the folder; return its URL.

    ``replace_remote_configs`` lets the push delete the remote files of configs the folder lacks.
    With ``dry_run`` nothing touches the network: every file is listed with its size and target,
    what the push would delete is said, and None is returned.
    """
    problem = hub_repo_id_problem(repo_id)
    if problem is not None:
        raise PushError(
            f"{named('repo_id')} {brief_repr(repo_id)} is not a Hub dataset id: {problem}"
        )
    source = Path(folder)
    if not (source / "README.md").is_file():
        raise PushError(
            f"{named('folder')} {str(source)!r} is not a built dataset folder (no README.md); "
            "build one with `imagenet-multilabel build` (build_dataset)"
        )
    with_images = has_images_config(source)
    configs = local_configs(source)
    files = folder_files(source)
    root = source.resolve()
    outside = [path for path, _ in files if not (source / path).resolve().is_relative_to(root)]
    if outside:  # upload_folder would send what each link points to (a key, /etc/passwd)
        raise PushError(
            f"{named('folder')} {str(source)!r} holds {len(outside)} link(s) to files outside "
            f"it ({first_few(outside)}); a push sends only the folder's own files: copy them in "
            "or remove the links"
        )
    target = f"datasets/{repo_id}"
    caveat = labels_caveat(source)
    if dry_run:
        echo(f"dry run: nothing is uploaded; a push would send these files to {target}:")
        for path, size in files:
            echo(f"{size:>14,d}  {path}  ->  {target}/{path}")
        echo(f"{sum(size for _, size in files):>14,d}  total, {len(files)} files -> {target}")
        echo(
            f"note: remote files under {', '.join(c + '/' for c in configs)} that are not listed "
            f"above will be deleted from {target}"
        )
        others = [f"{config}/" for config in CONFIGS if config not in configs]
        if others and replace_remote_configs:
            echo(
                f"note: {named('replace_remote_configs', True)}: remote files under "
                f"{', '.join(others)} will be deleted too"
            )
        elif others:
            echo(
                f"note: if {target} holds files under {', '.join(others)}, the push will stop "
                f"(this folder lacks that config) unless {named('replace_remote_configs', True)} "
                "deletes them"
            )
        if with_images and not private and not allow_public_images:
            echo(
                "note: this folder holds ImageNet images; the push will refuse a public "
                f"repository (pass {named('private', True)}, or "
                f"{named('allow_public_images', True)} if you may publish them)"
            )
        if caveat:
            echo(f"warning: {caveat}")
        return None
    if caveat:
        echo(f"warning: {caveat}")
    token = resolve_token()
    api = api or HfApi(token=token)
    with hub_call(f"could not push {str(source)!r} to {target}"):
        return _upload(
            api,
            source,
            repo_id,
            private,
            with_images,
            allow_public_images,
            configs,
            replace_remote_configs,
            echo,
        )


def _upload(
    api: HfApi,
    source: Path,
    repo_id: str,
    private: bool,
    with_images: bool,
    allow_public_images: bool,
    configs: list[str],
    replace_remote_configs: bool,
    echo: Callable[[str], None],
) -> str:
    exists = api.repo_exists(repo_id, repo_type="dataset")
    is_private = bool(api.repo_info(repo_id, repo_type="dataset").private) if exists else private
    if with_images and not is_private and not allow_public_images:
        where = "the existing repository"
        if not exists:
            where = f"the new repository (no {named('private', True)})"
        raise PushError(
            f"refusing to upload ImageNet images to {where} datasets/{repo_id}, which is public: "
            "ImageNet's terms (https://image-net.org/download.php) do not allow re-hosting them "
            f"publicly. Push to a private repository ({named('private', True)}, or make the "
            f"existing one private), or pass {named('allow_public_images', True)} if you have the "
            "right to publish them"
        )
    stale = _remote_only_configs(api, repo_id, configs) if exists else {}
    if stale and not replace_remote_configs:
        held = ", ".join(f"{count:,} file(s) under {config}/" for config, count in stale.items())
        raise PushError(
            f"datasets/{repo_id} holds {held}, a config that {str(source)!r} lacks; the new card "
            "would no longer declare it. Build that config too (with images), or pass "
            f"{named('replace_remote_configs', True)} to delete those files from the repository"
        )
    if stale:
        echo(
            f"note: deleting the remote files under {', '.join(c + '/' for c in stale)} of "
            f"datasets/{repo_id} ({named('replace_remote_configs', True)})"
        )
    if exists and private and not is_private:
        echo(
            f"note: datasets/{repo_id} exists and is public; {named('private', True)} does not "
            "change that"
        )
    repo_url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if with_images and not is_private:
        # The card's extra_gated_* fields only shape the form; the gate itself is a setting.
        api.update_repo_settings(repo_id, repo_type="dataset", gated=IMAGES_GATE)
    elif with_images:
        echo(f"note: before making datasets/{repo_id} public, enable gated access in its settings")
    api.upload_folder(
        repo_id=repo_id,
        repo_type="dataset",
        folder_path=source,
        commit_message="Upload ImageNet multi-label dataset",
        # A rebuilt split may have fewer shards, and a stale shard left on the Hub would be read
        # as extra rows by the ``{config}/{split}-*`` patterns.
        delete_patterns=[f"{config}/*" for config in [*configs, *stale]],
    )
    url = str(repo_url)
    echo(f"uploaded {source} to {url}")
    return url


def _remote_only_configs(api: HfApi, repo_id: str, configs: list[str]) -> dict[str, int]:
    """File counts of the remote configs that are not among ``configs``."""
    files = api.list_repo_files(repo_id, repo_type="dataset")
    counts = Counter(path.split("/", 1)[0] for path in files if "/" in path)
    return {
        config: counts[config] for config in CONFIGS if config not in configs and counts[config]
    }

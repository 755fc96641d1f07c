"""Publish the metric (`metric/`, the layer below) as a Hub Space that ``evaluate.load("ORG/NAME")``
loads; it sits beside the other Hub code and shares its access (`dataset_script.hub_access`).

``evaluate`` fetches ``<NAME>.py`` from the Space ``ORG/NAME`` (evaluate/loading.py,
``HubEvaluationModuleFactory``) and then the files it imports relatively from the same Space, so
the module is uploaded under the repo's name, with the files it imports (``scoring.py``,
``references.py``, ``errors.py``, ``label_sets.py``: the registered label sets' metric half)
beside it. The card, the module
docstring and the Gradio app load the module by its checkout path; staging rewrites that call
to the repo id so that the Space documents itself.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, constants

from ...metric import PATH as METRIC_MODULE_PATH
from ...metric.errors import named
from .access import PushError, hub_call, resolve_token

METRIC_DIR = Path(METRIC_MODULE_PATH).parent  # the files staged for the Space
MODULE_FILE = "imagenet_multilabel.py"
SUPPORT_FILES = (
    "scoring.py",
    "references.py",
    "errors.py",
    "label_sets.py",
    "README.md",
    "app.py",
    "requirements.txt",
)
# In the checkout the module is loaded by its installed path; the Space loads it by its id and
# has no toolkit to import, so staging rewrites the call and drops the import line.
LOCAL_LOAD_CALL = "evaluate.load(imagenet_multilabel.metric.PATH"
LOCAL_IMPORT_LINE = re.compile(r"^[ \t]*(>>> )?import imagenet_multilabel\.metric\n", re.M)
FILES_WITH_LOAD_CALL = (MODULE_FILE, "README.md", "app.py")
# A dot would split evaluate's dynamic module path (evaluate_modules.metrics.ORG--NAME.<hash>.NAME)
_REPO_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,95}")
# A module named like one of its neighbours would shadow it (evaluate refuses ".scoring" itself).
_RESERVED_NAMES = {"scoring", "references", "errors", "label_sets", "app"}


@dataclass(frozen=True)
class StagedFile:
    """One file of the Space as it will be uploaded."""

    path_in_repo: str
    source: Path
    staged: Path

    @property
    def size(self) -> int:
        return self.staged.stat().st_size


def space_name(repo_id: str) -> str:
    """The NAME of ``ORG/NAME``, checked to be one that ``evaluate.load`` can import."""
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(_REPO_PART.fullmatch(part) for part in parts):
        raise PushError(
            f"{named('repo_id')} {repo_id!r}: expected ORG/NAME, each part 1-96 letters, digits, "
            "'-' or '_' starting with a letter or digit (no dots: evaluate imports the module by "
            "this name)"
        )
    name = parts[1]
    if name.lower() in _RESERVED_NAMES:
        raise PushError(
            f"{named('repo_id')} {repo_id!r}: NAME {name!r} would collide with the Space's "
            f"{name}.py; choose another name, e.g. 'imagenet-multilabel'"
        )
    return name


def stage_space(repo_id: str, staging_dir: Path) -> list[StagedFile]:
    """Write the Space's files into ``staging_dir``: the module as ``<NAME>.py`` and its support
    files, with the checkout load call rewritten to ``evaluate.load("ORG/NAME")``."""
    name = space_name(repo_id)
    hub_load_call = f'evaluate.load("{repo_id}"'
    staged = []
    for file_name in (MODULE_FILE, *SUPPORT_FILES):
        source = METRIC_DIR / file_name
        text = source.read_text(encoding="utf-8")
        if file_name in FILES_WITH_LOAD_CALL:
            if LOCAL_LOAD_CALL not in text:
                raise PushError(
                    f"{source} no longer contains {LOCAL_LOAD_CALL}, which staging rewrites to "
                    f"{hub_load_call}; update dataset_script/metric_push.py together with that file"
                )
            text = LOCAL_IMPORT_LINE.sub("", text.replace(LOCAL_LOAD_CALL, hub_load_call))
        path_in_repo = f"{name}.py" if file_name == MODULE_FILE else file_name
        target = staging_dir / path_in_repo
        target.write_text(text, encoding="utf-8")
        staged.append(StagedFile(path_in_repo=path_in_repo, source=source, staged=target))
    return staged


def space_url(repo_id: str) -> str:
    return f"{constants.ENDPOINT}/spaces/{repo_id}"


def describe_dry_run(repo_id: str, *, private: bool) -> str:
    """What a push would upload, staged locally; touches no network."""
    with tempfile.TemporaryDirectory() as staging_dir:
        staged = stage_space(repo_id, Path(staging_dir))
        width = max(len(file.path_in_repo) for file in staged)
        lines = [
            f"dry run: would push {len(staged)} files in one commit to Space {repo_id} "
            f"({space_url(repo_id)}, private={private}, sdk=gradio)",
            *(
                f"  {file.path_in_repo:<{width}}  {file.size:>8} bytes  from {file.source}"
                for file in staged
            ),
            f'then load it with evaluate.load("{repo_id}")',
        ]
    return "\n".join(lines)


def push_space(repo_id: str, *, token: str | None = None, private: bool = False) -> str:
    """Create the Space if absent (``private`` applies only then) and upload every file in one
    commit; return the Space URL. ``token`` defaults to the logged-in one (`resolve_token`)."""
    api = HfApi(token=token or resolve_token())
    with tempfile.TemporaryDirectory() as staging_dir:
        staged = stage_space(repo_id, Path(staging_dir))
        where = f"Space {repo_id} ({space_url(repo_id)})"
        with hub_call(f"could not create {where}"):
            repo_url = api.create_repo(
                repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True
            )
        with hub_call(f"could not upload the files to {where}"):
            api.create_commit(
                repo_id,
                [
                    CommitOperationAdd(path_in_repo=f.path_in_repo, path_or_fileobj=f.staged)
                    for f in staged
                ],
                commit_message="Upload the ImageNet multi-label evaluate metric",
                repo_type="space",
            )
    return str(repo_url)

"""Hub repository ids checked by huggingface_hub's own rules before anything is downloaded or
pushed: a bad ``--labels``, ``--repo-id`` or ``--hub-repo-id`` (``a/b--c``, ``a/b.git``, a name
of 97 characters, a newline) is then one line naming the option and the rule, never an
``HFValidationError`` traceback, and a 20 kB value is not echoed whole. Also what reads as a Hub
id where a path may stand (`hub_repo_id_problem`, `hub_model_id`), which the command frame asks of a
path not on disk; huggingface_hub is imported only when an id is judged, so the frame costs a
command that names none nothing."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ...metric.errors import brief_repr, shorten


def hub_repo_id_problem(value: str) -> str | None:
    """Why ``value`` is not a Hub repository id ``ORG/NAME``, in huggingface_hub's words (the
    value shortened); None when it is one."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if value.count("/") != 1:
        return "expected ORG/NAME, with one '/'"
    try:
        validate_repo_id(value)
    except HFValidationError as error:
        return str(error).replace(value, shorten(repr(value)[1:-1]))  # one line, escaped
    return None


def names_a_path(model_id: str) -> bool:
    """Written as a path, or naming something on disk: never a Hub id."""
    try:
        exists = Path(model_id).expanduser().exists()
    except (OSError, ValueError):  # a name too long, a NUL
        exists = False
    return exists or model_id.startswith(("/", ".", "~"))


def model_id_problem(model_id: object) -> str | None:
    """Why ``model_id`` can name no model anywhere, or None: every command that takes a model
    (`run`, `evaluate_model(s)`, a models file, `sweep plan --from list`, a manifest) asks this
    where it reads the id. A model is a path (written as one, or naming something on disk) that
    the system accepts as a name (not too long, no NUL), or a Hub id by huggingface_hub's rules
    (``ORG/NAME`` of letters, digits, '-', '_' and '.', at most 96 characters each; a timm name
    is one)."""
    if not isinstance(model_id, str) or not model_id:
        return f"{brief_repr(model_id)}: expected a Hub model id or a local folder"
    shown = shorten(repr(model_id), 100)  # short enough for the reason to show in a listing
    if names_a_path(model_id):
        try:
            os.stat(Path(model_id).expanduser())
        except ValueError:
            return f"{shown} cannot be used: it holds NUL"
        except OSError as error:  # missing, or a link loop: what a model folder is checked for
            if error.errno == errno.ENAMETOOLONG:
                return f"{shown} cannot be used: {error.strerror}"
        return None
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(model_id)
    except HFValidationError:
        return (
            f"{shown} is neither a local model folder nor a Hub model id (ORG/NAME of letters, "
            "digits, '-', '_' and '.', at most 96 characters)"
        )
    return None


def hub_model_id(model_id: str) -> bool:
    """Whether ``model_id`` is read as a Hub model id (not as a path)."""
    return not names_a_path(model_id) and model_id_problem(model_id) is None

"""Hub repository ids checked by huggingface_hub's own rules before anything is downloaded or
pushed: a bad ``--labels``, ``--repo-id`` or ``--hub-repo-id`` (``a/b--c``, ``a/b.git``, a name
of 97 characters, a newline) is then one line naming the option and the rule, never an
``HFValidationError`` traceback, and a 20 kB value is not echoed whole."""

from __future__ import annotations

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from ...metric.errors import shorten


def hub_repo_id_problem(value: str) -> str | None:
    """Why ``value`` is not a Hub repository id ``ORG/NAME``, in huggingface_hub's words (the
    value shortened); None when it is one."""
    if value.count("/") != 1:
        return "expected ORG/NAME, with one '/'"
    try:
        validate_repo_id(value)
    except HFValidationError as error:
        return str(error).replace(value, shorten(repr(value)[1:-1]))  # one line, escaped
    return None

"""What the three push paths share: one error type, one token check, one turn of Hub errors.

``imagenet-multilabel push`` (the dataset, `dataset_script.push`), ``push-metric`` (the Space,
`dataset_script.metric_push`) and ``run --push-to-hub`` (a pull request with results,
`eval_cli.hub`) all need a write token and all meet the same Hub and network errors; each says so
in the same words here. A token is passed on to ``huggingface_hub`` and never printed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import huggingface_hub
from huggingface_hub.errors import HfHubHTTPError

from ...metric.errors import ToolkitError, named

# What a Hub call raises: HfHubHTTPError for an HTTP error status, OfflineModeIsEnabled (an
# OSError) with HF_HUB_OFFLINE=1, and the HTTP client's own errors for a refused connection or a
# timeout (httpx2's in huggingface_hub 2.x, httpx's in 1.x). HfHubHTTPError derives from that
# client's base error, so its bases name the client's errors without importing the client.
HUB_ERRORS: tuple[type[Exception], ...] = (*HfHubHTTPError.__bases__, OSError)


def login_hint() -> str:
    """How to get a token, and the dry run that needs none, spelled as the caller writes it."""
    return (
        "log in with `hf auth login`, or set HF_TOKEN to a token with write access "
        f"(https://huggingface.co/settings/tokens); {named('dry_run', True)} shows what would be "
        "sent without one"
    )


class PushError(ToolkitError):
    """A push cannot go ahead or failed (no token, a refused input, the Hub refused or could not
    be reached); the message says why and what to do."""


def resolve_token(token_env: str | None = None) -> str:
    """The write token: from the environment variable named ``token_env`` if given, else the one
    huggingface_hub finds (HF_TOKEN or the `hf auth login` token store)."""
    if token_env is not None:
        token = os.environ.get(token_env, "").strip()
        if not token:
            raise PushError(
                f"--token-env {token_env}: that environment variable is unset or empty; "
                f"expected it to hold a Hugging Face token, or {login_hint()}"
            )
        return token
    token = huggingface_hub.get_token()
    if not token:
        raise PushError(f"no Hugging Face token found: {login_hint()}")
    return token


@contextmanager
def hub_call(failure: str, advice: str | None = None) -> Iterator[None]:
    """Turn a Hub or network error inside the block into ``PushError``: ``failure`` says what
    could not be done, then the error's type and text, then ``advice`` if given."""
    try:
        yield
    except HUB_ERRORS as error:
        message = f"{failure}: {type(error).__name__}: {error}"
        raise PushError(f"{message}; {advice}" if advice else message) from error

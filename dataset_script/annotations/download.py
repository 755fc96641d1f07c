"""The annotation file from its URL: one locked, resumable, checksum-verified download.

The file is ~200 MB: a download goes to a ``.incomplete`` file that a rerun resumes with an HTTP
Range, and only a file with the expected sha256 takes the target's name. Every rank of a
multi-node job may call this at once, so the check-and-fetch runs under a file lock next to the
target; whoever gets the lock second reuses the first's file.
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
from pathlib import Path

from filelock import FileLock
from tqdm.auto import tqdm

from ...metric.errors import named
from .parse import AnnotationError

_CHUNK = 1 << 20
_TIMEOUT_S = 60


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def lock_path(target: Path) -> Path:
    return target.with_name(target.name + ".lock")


def download_verified(url: str, expected_sha256: str, directory: Path) -> Path:
    """Cached, checksum-verified download; a truncated or corrupt cached file is fetched again.

    The whole check-and-fetch runs under a lock, so concurrent processes sharing the cache
    download once and never append to the same ``.incomplete`` file.
    """
    target = directory / expected_sha256 / Path(url).name
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock_path(target)):
        if target.is_file():
            if sha256_of_file(target) == expected_sha256:
                return target
            target.unlink()
        partial = target.with_name(target.name + ".incomplete")
        _fetch(url, partial)
        actual = sha256_of_file(partial)
        if actual != expected_sha256:
            partial.unlink()
            raise AnnotationError(
                f"download of {url} has sha256 {actual}, expected {expected_sha256}; the corrupt "
                "file was removed, run again to fetch it anew"
            )
        partial.replace(target)
    return target


def _fetch(url: str, partial: Path) -> None:
    """Download ``url`` into ``partial``, resuming from its current size with an HTTP Range.

    A connection that fails or ends early raises ``AnnotationError`` and keeps what arrived, so
    that a rerun resumes instead of starting over.
    """
    start = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        response = urllib.request.urlopen(request, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code != 416:  # 416: the partial file already holds every byte
            raise AnnotationError(f"could not download {url}: HTTP {error.code}") from error
        return
    except urllib.error.URLError as error:
        raise AnnotationError(
            f"could not download {url} ({error.reason}); on an offline machine pass a local copy "
            f"as `{named('annotations', 'PATH')}`"
        ) from error
    except (OSError, http.client.HTTPException) as error:  # e.g. dropped before the headers
        raise _interrupted(url, partial, describe_error(error), start) from error
    with response:
        resumed = start > 0 and response.status == 206
        length = int(response.headers.get("Content-Length", 0)) or None
        total = (start + length if resumed else length) if length else None
        with (
            open(partial, "ab" if resumed else "wb") as out,
            tqdm(
                total=total,
                initial=start if resumed else 0,
                unit="B",
                unit_scale=True,
                desc=f"Downloading {Path(url).name}",
            ) as progress,
        ):
            received = start if resumed else 0
            while True:
                try:  # only the network read: a local write error is not an interruption
                    chunk = response.read(_CHUNK)
                except (OSError, http.client.HTTPException) as error:
                    raise _interrupted(url, partial, describe_error(error), received) from error
                if not chunk:
                    break
                out.write(chunk)
                received += len(chunk)
                progress.update(len(chunk))
    if total is not None and received < total:
        # http.client ends a body cut short by the server with b"", not with IncompleteRead.
        cause = f"connection closed after {received:,} of {total:,} bytes"
        raise _interrupted(url, partial, cause, received)


def describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _interrupted(url: str, partial: Path, cause: str, kept: int) -> AnnotationError:
    return AnnotationError(
        f"download of {url} was interrupted ({cause}); the {kept:,} bytes received so far are "
        f"kept in {str(partial)!r} and running again resumes from there"
    )

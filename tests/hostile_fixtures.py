"""What the hostile-path tests share: FIFOs, link loops, and a watchdog that keeps a command
blocked in a FIFO (a guard skipped) from hanging the suite."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

TOO_LONG = "n" * 300  # one name longer than the file system's 255 bytes


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def loop(path: Path) -> Path:
    """A symbolic link to itself."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(path.name)
    return path


@contextlib.contextmanager
def unblocked(paths: list[Path], after: float = 20) -> Iterator[list[Path]]:
    """After ``after`` seconds, open every FIFO of ``paths`` at both ends, so that a command
    blocked in one fails instead of hanging; yields the FIFOs that had to be opened (empty when
    nothing blocked)."""
    opened: list[Path] = []
    stop = threading.Event()

    def release() -> None:
        if stop.wait(after):
            return
        for path in paths:
            with contextlib.suppress(OSError):
                os.close(os.open(path, os.O_RDWR | os.O_NONBLOCK))
                opened.append(path)

    watchdog = threading.Thread(target=release, daemon=True)
    watchdog.start()
    try:
        yield opened
    finally:
        stop.set()
        watchdog.join()

"""What identifies an image's bytes wherever they are read from: the loader and the decoded
cache record it beside each image, and resume (`engine.resume`) reuses a prediction only for the
same bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ImageFingerprint:
    """What identifies an image's bytes, independent of the path they were read from: their
    count and a 64-bit BLAKE2b (~1 GB/s, next to nothing beside decoding)."""

    num_bytes: int
    blake2b: str  # 16 hex digits

    @classmethod
    def of(cls, data: bytes) -> ImageFingerprint:
        return cls(len(data), hashlib.blake2b(data, digest_size=8).hexdigest())

    @classmethod
    def from_ints(cls, num_bytes: int, blake2b: int) -> ImageFingerprint:
        """From the int64 pair that crosses the DataLoader and the gather (``as_ints``)."""
        return cls(num_bytes, blake2b.to_bytes(8, "big", signed=True).hex())

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ImageFingerprint | None:
        """The fingerprint a predictions line recorded; None in lines of older runs."""
        num_bytes, blake2b = record.get("image_bytes"), record.get("image_blake2b")
        if not isinstance(num_bytes, int) or not isinstance(blake2b, str):
            return None
        return cls(num_bytes, blake2b)

    def as_ints(self) -> tuple[int, int]:
        return self.num_bytes, int.from_bytes(bytes.fromhex(self.blake2b), "big", signed=True)

    def as_record(self) -> dict[str, Any]:
        return {"image_bytes": self.num_bytes, "image_blake2b": self.blake2b}

    def __str__(self) -> str:
        return f"{self.num_bytes:,} bytes, blake2b {self.blake2b}"

"""Which models of a manifest shard K of N runs: a deterministic share, balanced by estimated
cost, that keeps models of one geometry together (they resize the same decoded pixels the same
way) unless a geometry group alone is more than a shard's share.

The share depends on the manifest and N only, never on what is done already: a resubmission
gives every task the same models, and each skips those already done. Every model lands in
exactly one shard, and each writes into its own folder, so the results tree is the same whatever
N is.
"""

from __future__ import annotations

import heapq
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ...metric.errors import ToolkitError, brief_repr, named
from .manifest import ManifestEntry

_SHARD = re.compile(r"(\d+)/(\d+)")
# SLURM sets these in each task of a job array (``sbatch --array``).
TASK_ID, TASK_COUNT, TASK_MIN = (
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MIN",
)


class ShardError(ToolkitError):
    """A shard that is not K/N with 0 <= K < N."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (from 0, as SLURM's array task ids) of ``count``."""

    index: int = 0
    count: int = 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, text: str | None, environ: Mapping[str, str] = os.environ) -> Shard:
        """``K/N`` as given, else from a SLURM job array's task id and count (a contiguous
        array: the id less the array's first), else the one shard ``0/1``."""
        if text is None and TASK_ID in environ:
            return cls._from_slurm(environ)
        if text is None:
            return cls()
        match = _SHARD.fullmatch(text.strip())
        if match is None or not int(match[1]) < int(match[2]):
            raise ShardError(
                f"{named('shard')} {brief_repr(text)}: expected K/N with 0 <= K < N (K counts "
                "from 0, as SLURM_ARRAY_TASK_ID does), e.g. 0/4"
            )
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def _from_slurm(cls, environ: Mapping[str, str]) -> Shard:
        values = {name: environ.get(name, "") for name in (TASK_ID, TASK_COUNT, TASK_MIN)}
        if not values[TASK_MIN]:
            values[TASK_MIN] = "0"
        if not all(value.isdigit() for value in values.values()):
            raise ShardError(
                f"no --shard given, and SLURM's array variables do not say one ({values}); "
                "pass --shard K/N"
            )
        index = int(values[TASK_ID]) - int(values[TASK_MIN])
        count = int(values[TASK_COUNT])
        if not 0 <= index < count:
            raise ShardError(
                f"no --shard given, and SLURM's array task {values[TASK_ID]} is not one of "
                f"{count} tasks counted from {values[TASK_MIN]} (an array with gaps); pass "
                "--shard K/N"
            )
        return cls(index, count)


def shard_entries(entries: Sequence[ManifestEntry], shard: Shard) -> list[ManifestEntry]:
    """The models of ``entries`` (those to score) that ``shard`` runs, in manifest order.

    Geometry groups (a model of unknown geometry is a group alone) larger than a shard's share
    of the total cost are cut into consecutive pieces of at most that share; the pieces, the
    costliest first, each go to the least loaded shard (the lowest index on a tie)."""
    scored = [entry for entry in entries if entry.skipped is None]
    share = sum(entry.cost for entry in scored) / shard.count
    pieces: list[list[int]] = []
    groups: dict[str | None, list[int]] = {}
    for position, entry in enumerate(scored):
        key = entry.geometry_key
        if key is None:
            pieces.append([position])
        else:
            groups.setdefault(key, []).append(position)
    for members in groups.values():
        pieces.extend(_cut(members, [scored[p].cost for p in members], share))
    loads = [(0.0, index) for index in range(shard.count)]  # a heap: the least loaded first
    mine: list[int] = []
    for piece in sorted(pieces, key=lambda piece: (-sum(scored[p].cost for p in piece), piece)):
        load, chosen = heapq.heappop(loads)
        heapq.heappush(loads, (load + sum(scored[p].cost for p in piece), chosen))
        if chosen == shard.index:
            mine.extend(piece)
    return [scored[position] for position in sorted(mine)]


def _cut(members: list[int], costs: list[float], share: float) -> list[list[int]]:
    """Consecutive pieces of ``members`` each costing at most ``share`` (one model at least)."""
    pieces, piece, cost = [], [], 0.0
    for member, member_cost in zip(members, costs, strict=True):
        if piece and cost + member_cost > share:
            pieces.append(piece)
            piece, cost = [], 0.0
        piece.append(member)
        cost += member_cost
    return [*pieces, piece] if piece else pieces

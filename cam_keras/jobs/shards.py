"""Heatmap jobs split over machines: which inputs a shard takes, and the names of its files.

An array job of N tasks (a Slurm job array of N tasks, a Kubernetes indexed job) runs
one heatmap job per task with ``shard=Shard(K, N)`` in one output folder; task K takes the K-th of N
contiguous slices of the inputs sorted by their output-relative path, the same on every
machine, and writes ``predictions-K-of-N.csv`` and ``report-K-of-N.json``, which
:mod:`cam_keras.jobs.merge` joins.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from cam_keras.errors import UsageError, option

Item = TypeVar("Item")
TABLE, REPORT, JOB = "predictions", "report", "job"
MAX_SHARDS = 2**31 - 1  # array task indexes are 32-bit in Slurm and Kubernetes


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``.

    Example:
        >>> Shard.parse("2/8").take(list(range(20)))
        [3, 4, 5, 6, 7]
    """

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"K/N"`` in ASCII digits with ``1 <= K <= N <= MAX_SHARDS``; :class:`UsageError`
        names the ``shard`` option otherwise."""
        match = re.fullmatch(r" *([0-9]{1,10}) */ *([0-9]{1,10}) *", text)
        if not match or not 1 <= int(match[1]) <= int(match[2]) <= MAX_SHARDS:
            raise UsageError(
                f"{option('shard')} must be K/N with 1 <= K <= N <= {MAX_SHARDS} "
                f"(task K of an N-task array job), got {text!r}"
            )
        return cls(int(match[1]), int(match[2]))

    @property
    def name(self) -> str:
        """``"2-of-8"``: the tag in this shard's file names."""
        return f"{self.index}-of-{self.count}"

    def bounds(self, total: int) -> tuple[int, int]:
        """``(start, stop)`` of this shard's slice of ``total`` items."""
        return (self.index - 1) * total // self.count, self.index * total // self.count

    def take(self, items: Sequence[Item]) -> list[Item]:
        """This shard's contiguous slice of ``items``: sizes differ by at most one, and the
        N slices cover ``items`` exactly once, in order."""
        start, stop = self.bounds(len(items))
        return list(items[start:stop])


def shards_holding(total: int, count: int) -> list[Shard]:
    """The shards of ``count`` whose slice of ``total`` items is not empty, in order: all of
    them when ``count <= total``, else the ``total`` that hold one item each (never ``count``
    objects: item ``i`` is in shard ``ceil((i + 1) * count / total)``)."""
    if count <= total:
        return [Shard(index, count) for index in range(1, count + 1)]
    return [Shard(-(-(item + 1) * count // total), count) for item in range(total)]


def job_file(stem: str, shard: Shard | None, suffix: str) -> str:
    """``predictions.csv`` for a whole job, ``predictions-2-of-8.csv`` for a shard."""
    return f"{stem}-{shard.name}{suffix}" if shard else f"{stem}{suffix}"

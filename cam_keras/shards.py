"""Heatmap jobs split over machines: which inputs a shard takes, and joining the shards' tables.

An array job of N tasks (Slurm ``--array=1-N``, a Kubernetes indexed job) runs
``cam-keras heatmap ... --shard K/N`` in one output folder; task K takes the K-th of N
contiguous slices of the inputs sorted by their output-relative path, the same on every
machine, and writes ``predictions-K-of-N.csv`` and ``report-K-of-N.json``.
:func:`merge_shards` (``cam-keras merge OUT``) joins them into ``predictions.csv`` and
``report.json`` in input order, as one job over all inputs would have written them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cam_keras.atomic import atomic_path
from cam_keras.errors import OutputFolderError, UsageError
from cam_keras.identity import identity_changes
from cam_keras.outdir import OutputFolder
from cam_keras.records import write_json

Item = TypeVar("Item")
TABLE, REPORT = "predictions", "report"
FS_NAMES = "surrogateescape"  # tables hold file names as the file system has them, UTF-8 or not
_SHARD_FILE = re.compile(r"^report-(\d+)-of-(\d+)\.json$")


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
        """``"K/N"`` with ``1 <= K <= N``; :class:`UsageError` names ``--shard`` otherwise."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise UsageError(f"--shard must be K/N with 1 <= K <= N (task K of an N-task array job), got {text!r}")
        return cls(int(match[1]), int(match[2]))

    @property
    def name(self) -> str:
        """``"2-of-8"``: the tag in this shard's file names."""
        return f"{self.index}-of-{self.count}"

    def take(self, items: Sequence[Item]) -> list[Item]:
        """This shard's contiguous slice of ``items``: sizes differ by at most one, and the
        N slices cover ``items`` exactly once, in order."""
        total = len(items)
        return list(items[(self.index - 1) * total // self.count : self.index * total // self.count])


def job_file(stem: str, shard: Shard | None, suffix: str) -> str:
    """``predictions.csv`` for a whole job, ``predictions-2-of-8.csv`` for a shard."""
    return f"{stem}-{shard.name}{suffix}" if shard else f"{stem}{suffix}"


def find_shard_count(folder: Path) -> int:
    """The N of the ``report-K-of-N.json`` files in ``folder``.

    Raises:
        UsageError: none are there, or they disagree on N.
    """
    counts = {int(match[2]) for match in map(_SHARD_FILE.match, os.listdir(folder)) if match}
    if not counts:
        raise UsageError(f"{folder} holds no report-K-of-N.json; run `cam-keras heatmap --shard K/N --out {folder}`")
    if len(counts) > 1:
        raise UsageError(f"{folder} holds shards of {sorted(counts)} tasks; keep the files of one --shard K/N split")
    return counts.pop()


def merge_shards(out: OutputFolder) -> dict:
    """Join every shard's table and report in ``out`` into ``predictions.csv`` and
    ``report.json``; return the merged report.

    Raises:
        UsageError: a shard's report is missing or says the shard did not finish (named,
            with the command that completes it), or the shards' table columns differ.
    """
    count = find_shard_count(out.root)
    shards = [Shard(index, count) for index in range(1, count + 1)]
    reports = {shard: _read_report(out.root / job_file(REPORT, shard, ".json")) for shard in shards}
    unfinished = [shard.index for shard, report in reports.items() if not _finished(report)]
    if unfinished:
        raise UsageError(
            f"{out.root}: shard(s) {', '.join(map(str, unfinished))} of {count} missing or unfinished; run "
            f"`cam-keras heatmap ... --shard K/{count} --resume --out {out.root}` for each, then merge again"
        )
    first = reports[shards[0]].get("job") or {}
    changes = {shard.index: identity_changes(first, report.get("job") or {}) for shard, report in reports.items()}
    odd = [index for index, changed in changes.items() if changed]
    if odd:
        raise UsageError(
            f"{out.root}: shard(s) {', '.join(map(str, odd))} ran with another model, method or flags than shard 1 "
            f"(shard 1 had {'; '.join(changes[odd[0]])}); run them again with shard 1's model file and flags "
            "(--overwrite)"
        )
    _concatenate_tables([out.root / job_file(TABLE, shard, ".csv") for shard in shards], out.claim(f"{TABLE}.csv"))
    merged = {
        "total": sum(report["total"] for report in reports.values()),
        "succeeded": sum(report["succeeded"] + report.get("already_done", 0) for report in reports.values()),
        "already_done": 0,
        "skipped": [entry for report in reports.values() for entry in report["skipped"]],
        "finished": True,
        "interrupted": False,
        "error": None,
        "shards": count,
        "job": reports[shards[0]].get("job"),
    }
    write_json(out.claim(f"{REPORT}.json"), merged)
    return merged


def _read_report(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as error:
        raise OutputFolderError(f"{path}: not a cam-keras report ({error}); run the shard again, --overwrite") from None


def _finished(report: dict | None) -> bool:
    return bool(report) and report.get("finished") is True


def _concatenate_tables(tables: list[Path], target: Path) -> None:
    """Stream the CSV ``tables`` into ``target`` (one header), in order, atomically."""
    header = None
    with atomic_path(target) as temp, open(temp, "w", encoding="utf-8", errors=FS_NAMES, newline="") as joined:
        for table in tables:
            with open(table, encoding="utf-8", errors=FS_NAMES, newline="") as rows:
                first = rows.readline()
                if header is None:
                    header = first
                    joined.write(header)
                elif first != header:
                    raise UsageError(f"{table} has other columns than {tables[0]}; run all shards with one --print-top")
                joined.writelines(rows)

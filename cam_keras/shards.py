"""Heatmap jobs split over machines: which inputs a shard takes, and joining the shards' tables.

An array job of N tasks (Slurm ``--array=1-N``, a Kubernetes indexed job) runs
``cam-keras heatmap ... --shard K/N`` in one output folder; task K takes the K-th of N
contiguous slices of the inputs sorted by their output-relative path, the same on every
machine, and writes ``predictions-K-of-N.csv`` and ``report-K-of-N.json``.
:func:`merge_shards` (``cam-keras merge OUT``) joins them into ``predictions.csv`` and
``report.json`` in input order, as one job over all inputs would have written them.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cam_keras.atomic import atomic_path
from cam_keras.errors import OutputFolderError, UsageError
from cam_keras.identity import INPUTS, job_differences
from cam_keras.outdir import OutputFolder
from cam_keras.records import CsvWriter, write_json

Item = TypeVar("Item")
TABLE, REPORT, JOB = "predictions", "report", "job"
FS_NAMES = "surrogateescape"  # tables hold file names as the file system has them, UTF-8 or not
MAX_SHARDS = 2**31 - 1  # array task indexes are 32-bit in Slurm and Kubernetes
_SHARD_FILE = re.compile(r"report-([1-9][0-9]{0,9})-of-([1-9][0-9]{0,9})\.json")  # as Shard.name spells them
_NAMED = 10  # shards named in a message; the others are counted


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
        names ``--shard`` otherwise."""
        match = re.fullmatch(r" *([0-9]{1,10}) */ *([0-9]{1,10}) *", text)
        if not match or not 1 <= int(match[1]) <= int(match[2]) <= MAX_SHARDS:
            raise UsageError(
                f"--shard must be K/N with 1 <= K <= N <= {MAX_SHARDS} (task K of an N-task array job), got {text!r}"
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


def find_shard_reports(folder: Path) -> dict[Shard, Path]:
    """The ``report-K-of-N.json`` files in ``folder``, by shard.

    Raises:
        UsageError: none are there, or they disagree on N.
    """
    found = {Shard(int(match[1]), int(match[2])): folder / match[0] for match in _shard_files(folder)}
    counts = sorted({shard.count for shard in found})
    if not counts:
        raise UsageError(f"{folder} holds no report-K-of-N.json; run `cam-keras heatmap --shard K/N --out {folder}`")
    if len(counts) > 1:
        shown = ", ".join(map(str, counts[:_NAMED])) + (", ..." if len(counts) > _NAMED else "")
        raise UsageError(f"{folder} holds shards of [{shown}] tasks; keep the files of one --shard K/N split")
    return found


def _shard_files(folder: Path) -> Iterator[re.Match]:
    for name in os.listdir(folder):
        match = _SHARD_FILE.fullmatch(name)
        if match and 1 <= int(match[1]) <= int(match[2]) <= MAX_SHARDS:
            yield match


def merge_shards(out: OutputFolder) -> dict:
    """Join every shard's table and report in ``out`` into ``predictions.csv`` and
    ``report.json``; return the merged report. Only the shards that hold inputs are needed
    (with more shards than inputs the others are empty), so the work grows with the inputs,
    never with N.

    Raises:
        UsageError: a shard's report is missing or says the shard did not finish (named,
            with the command that completes it), the shards ran over other inputs or with
            another model or flags, their counts do not partition the inputs, or their table
            columns or rows disagree with their reports.
        OutputFolderError: a report is not one cam-keras writes, naming it and what is wrong.
    """
    found = find_shard_reports(out.root)
    reports = {shard: read_report(path) for shard, path in sorted(found.items(), key=lambda item: item[0].index)}
    first_shard, first = next(iter(reports.items()))
    count = first_shard.count
    needed = shards_holding(first["job"]["inputs"]["count"], count) or [Shard(1, count)]  # no inputs: an empty table
    unfinished = [shard.index for shard in needed if not reports.get(shard, {}).get("finished")]
    if unfinished:
        raise UsageError(
            f"{out.root}: shard(s) {_listing(unfinished)} of {count} missing or unfinished; run "
            f"`cam-keras heatmap ... --shard K/{count} --resume --out {out.root}` for each, then merge again"
        )
    _check_same_job(out.root, first_shard, reports)
    for shard in needed:
        _check_slice(found[shard], shard, reports[shard], first["job"]["inputs"]["count"])
    _concatenate_tables(out, {out.root / job_file(TABLE, shard, ".csv"): reports[shard] for shard in needed})
    merged = {
        "total": sum(reports[shard]["total"] for shard in needed),
        "succeeded": sum(reports[shard]["succeeded"] + reports[shard]["already_done"] for shard in needed),
        "already_done": 0,
        "skipped": _once([entry for shard in needed for entry in reports[shard]["skipped"]]),
        "finished": True,
        "interrupted": False,
        "error": None,
        "shards": count,
        "job": first["job"],
    }
    write_json(out.claim(f"{REPORT}.json"), merged)
    return merged


def _once(entries: list[dict]) -> list[dict]:
    """``entries`` in order, each once: every shard lists the hidden files of the input folders."""
    unique: dict[str, dict] = {}
    for entry in entries:
        unique.setdefault(json.dumps(entry, sort_keys=True), entry)
    return list(unique.values())


def _listing(indexes: list[int]) -> str:
    """``1, 2, 3`` or, past ``_NAMED``, ``1, 2, ... and 990 more``."""
    shown = ", ".join(map(str, indexes[:_NAMED]))
    return shown if len(indexes) <= _NAMED else f"{shown} and {len(indexes) - _NAMED} more"


def _check_same_job(folder: Path, first: Shard, reports: dict[Shard, dict]) -> None:
    """Refuse shards whose inputs or identity differ from the first shard's."""
    differences = {
        shard.index: job_differences(reports[first]["job"], report["job"]) for shard, report in reports.items()
    }
    other_inputs = [index for index, (inputs, _) in differences.items() if inputs]
    if other_inputs:
        raise UsageError(
            f"{folder}: shard(s) {_listing(other_inputs)} ran over another input set than shard {first.index} "
            f"({differences[other_inputs[0]][0]}): the inputs changed between the shards; run every shard again "
            "over the same inputs (--overwrite)"
        )
    odd = [index for index, (_, changes) in differences.items() if changes]
    if odd:
        raise UsageError(
            f"{folder}: shard(s) {_listing(odd)} ran with another model, method or flags than shard {first.index} "
            f"(shard {first.index} had {'; '.join(differences[odd[0]][1])}); run them again with shard "
            f"{first.index}'s model file and flags (--overwrite)"
        )


def _check_slice(path: Path, shard: Shard, report: dict, inputs: int) -> None:
    """Refuse a report whose count is not its shard's share of the inputs."""
    start, stop = shard.bounds(inputs)
    if report["total"] != stop - start:
        raise OutputFolderError(
            f"{path}: {report['total']} images where shard {shard.index}/{shard.count} of {inputs} inputs has "
            f"{stop - start}; run the shard again (--overwrite)"
        )


_REPORT_FIELDS = {"finished": bool, "total": int, "succeeded": int, "already_done": int, "skipped": list, "job": dict}


def read_report(path: Path) -> dict:
    """A shard's report, its fields checked (missing: ``{}``).

    Raises:
        OutputFolderError: not JSON, or a field missing or of another type, naming the file
            and the field.
    """
    try:
        report = json.loads(path.read_text(encoding="utf-8", errors=FS_NAMES))
    except FileNotFoundError:
        return {}
    except (ValueError, OSError) as error:
        raise _not_a_report(path, f"{type(error).__name__}: {error}") from None
    problem = _report_problem(report)
    if problem:
        raise _not_a_report(path, problem)
    return report


def _report_problem(report: object) -> str | None:
    if not isinstance(report, dict):
        return f"a JSON {type(report).__name__}, not an object"
    for key, kind in _REPORT_FIELDS.items():
        value = report.get(key)
        if not isinstance(value, kind) or (kind is int and (isinstance(value, bool) or value < 0)):
            return f"{key} is {value!r}, expected {'a count' if kind is int else f'a JSON {kind.__name__}'}"
    if not all(isinstance(entry, dict) and isinstance(entry.get("path"), str) for entry in report["skipped"]):
        return "skipped holds an entry without a path"
    inputs = report["job"].get(INPUTS)
    if not isinstance(inputs, dict) or not _is_count(inputs.get("count")) or not isinstance(inputs.get("sha256"), str):
        return f"job.inputs is {inputs!r}, expected the input count and fingerprint"
    return None


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _not_a_report(path: Path, problem: str) -> OutputFolderError:
    return OutputFolderError(f"{path}: not a cam-keras report ({problem}); run its shard again with --overwrite")


def _concatenate_tables(out: OutputFolder, tables: dict[Path, dict]) -> None:
    """Stream the CSV ``tables`` into ``predictions.csv`` (one header), in order, atomically,
    each holding as many rows as its report counts."""
    header, first_table = None, next(iter(tables), None)
    name = f"{TABLE}.csv"
    out.check_free([name])  # claimed once every table checked: a refused merge leaves the folder as it was
    with atomic_path(out.root / name) as temp, open(temp, "w", encoding="utf-8", errors=FS_NAMES, newline="") as joined:
        writer = CsvWriter(joined)
        for table, report in tables.items():
            if not table.is_file():
                raise OutputFolderError(
                    f"{table} is missing though its report says the shard finished; run its shard again"
                )
            with open(table, encoding="utf-8", errors=FS_NAMES, newline="") as rows:
                reader = csv.reader(rows)
                first = next(reader, None)
                if header is None:
                    header = first
                    writer.write_raw(header)
                elif first != header:
                    raise UsageError(
                        f"{table} has other columns than {first_table}; run all shards with one --print-top"
                    )
                written = sum(1 for _ in map(writer.write_raw, reader))
            expected = report["succeeded"] + report["already_done"]
            if written != expected:
                raise OutputFolderError(
                    f"{table}: {written} rows where its report counts {expected} images; run its shard again "
                    "with --resume"
                )
        out.claim(name)

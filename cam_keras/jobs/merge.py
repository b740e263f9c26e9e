"""Joining the shards of a heatmap job: :func:`merge_shards` (``cam-keras merge OUT``) joins
every shard's ``predictions-K-of-N.csv`` and ``report-K-of-N.json`` into ``predictions.csv``
and ``report.json`` in input order, as one job over all inputs would have written them."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from cam_keras.errors import OutputFolderError, UsageError, option
from cam_keras.jobs.gallery import write_job_gallery
from cam_keras.jobs.identity import job_differences
from cam_keras.jobs.report import read_report, report_notes
from cam_keras.jobs.shards import MAX_SHARDS, REPORT, TABLE, Shard, job_file, shards_holding
from cam_keras.jobs.table import concatenate
from cam_keras.outdir import OutputFolder
from cam_keras.records import write_json

_SHARD_FILE = re.compile(r"report-([1-9][0-9]{0,9})-of-([1-9][0-9]{0,9})\.json")  # as Shard.name spells them
_NAMED = 10  # shards named in a message; the others are counted


def find_shard_reports(folder: Path) -> dict[Shard, Path]:
    """The ``report-K-of-N.json`` files in ``folder``, by shard.

    Raises:
        UsageError: none are there, or they disagree on N.
    """
    found = {Shard(int(match[1]), int(match[2])): folder / match[0] for match in _shard_files(folder)}
    counts = sorted({shard.count for shard in found})
    if not counts:
        raise UsageError(
            f"{folder} holds no report-K-of-N.json; run each shard's heatmap job ({option('shard')} K/N) into {folder}"
        )
    if len(counts) > 1:
        shown = ", ".join(map(str, counts[:_NAMED])) + (", ..." if len(counts) > _NAMED else "")
        raise UsageError(f"{folder} holds shards of [{shown}] tasks; keep the files of one {option('shard')} K/N split")
    return found


def _shard_files(folder: Path) -> Iterator[re.Match]:
    for name in os.listdir(folder):
        match = _SHARD_FILE.fullmatch(name)
        if match and 1 <= int(match[1]) <= int(match[2]) <= MAX_SHARDS:
            yield match


def merge_shards(out: str | os.PathLike | OutputFolder) -> dict:
    """Join every shard's table and report in ``out`` (a folder, locked for the merge, or an
    open :class:`~cam_keras.outdir.OutputFolder`) into ``predictions.csv`` and
    ``report.json`` (and the gallery, when the shards wrote thumbnails); return the merged
    report. Only the shards that hold inputs are needed (with more shards than inputs the
    others are empty), so the work grows with the inputs, never with N.

    Raises:
        FileNotFoundError: ``out`` is not a folder.
        UsageError: a shard's report is missing or says the shard did not finish (named,
            with the command that completes it), the shards ran over other inputs or with
            another model or flags, their counts do not partition the inputs, or their table
            columns or rows disagree with their reports.
        OutputFolderError: a report is not one cam-keras writes, naming it and what is wrong.
    """
    if isinstance(out, OutputFolder):
        return _merge(out)
    if not Path(out).is_dir():
        raise FileNotFoundError(f"{out}: no such folder")
    with OutputFolder(out, resume=True) as folder:
        return _merge(folder)


def _merge(out: OutputFolder) -> dict:
    found = find_shard_reports(out.root)
    reports = {shard: read_report(path) for shard, path in sorted(found.items(), key=lambda item: item[0].index)}
    first_shard, first = next(iter(reports.items()))
    count = first_shard.count
    needed = shards_holding(first["job"]["inputs"]["count"], count) or [Shard(1, count)]  # no inputs: an empty table
    unfinished = [shard.index for shard in needed if not reports.get(shard, {}).get("finished")]
    if unfinished:
        raise UsageError(
            f"{out.root}: shard(s) {_listing(unfinished)} of {count} missing or unfinished; run "
            f"each one's heatmap job again with {option('shard')} K/{count} and {option('resume', True)} into "
            f"{out.root}, then merge again"
        )
    _check_same_job(out.root, first_shard, reports)
    for shard in needed:
        _check_slice(found[shard], shard, reports[shard], first["job"]["inputs"]["count"])
    rows = {shard: reports[shard]["succeeded"] + reports[shard]["already_done"] for shard in needed}
    concatenate(out, f"{TABLE}.csv", {out.root / job_file(TABLE, shard, ".csv"): rows[shard] for shard in needed})
    merged = {
        **report_notes(first),
        "total": sum(reports[shard]["total"] for shard in needed),
        "succeeded": sum(rows.values()),
        "already_done": 0,
        "skipped": _once([entry for shard in needed for entry in reports[shard]["skipped"]]),
        "finished": True,
        "interrupted": False,
        "error": None,
        "shards": count,
        "job": first["job"],
    }
    write_json(out.claim(f"{REPORT}.json"), merged)
    if first["job"].get("gallery"):
        write_job_gallery(out, first["job"])
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
            f"over the same inputs ({option('overwrite', True)})"
        )
    odd = [index for index, (_, changes) in differences.items() if changes]
    if odd:
        raise UsageError(
            f"{folder}: shard(s) {_listing(odd)} ran with another model, method or options than shard {first.index} "
            f"(shard {first.index} had {'; '.join(differences[odd[0]][1])}); run them again with shard "
            f"{first.index}'s model file and options ({option('overwrite', True)})"
        )


def _check_slice(path: Path, shard: Shard, report: dict, inputs: int) -> None:
    """Refuse a report whose count is not its shard's share of the inputs."""
    start, stop = shard.bounds(inputs)
    if report["total"] != stop - start:
        raise OutputFolderError(
            f"{path}: {report['total']} images where shard {shard.index}/{shard.count} of {inputs} inputs has "
            f"{stop - start}; run the shard again ({option('overwrite', True)})"
        )

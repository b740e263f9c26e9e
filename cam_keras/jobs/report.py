"""A heatmap job's report: what it did (``report.json``, or a shard's ``report-K-of-N.json``,
rewritten at the start and the end so a killed job leaves an unfinished one), and reading a
report back, its fields checked, for resume and merge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cam_keras.errors import OutputFolderError, option
from cam_keras.jobs.identity import INPUTS
from cam_keras.jobs.request import is_count
from cam_keras.jobs.table import read_predictions
from cam_keras.records import write_json
from cam_keras.safe_text import FS_NAMES

_WRITTEN = ("finished", "total", "succeeded", "already_done", "skipped", "interrupted", "error", "shard", "job")
_CHECKED = {"finished": bool, "total": int, "succeeded": int, "already_done": int, "skipped": list, "job": dict}


@dataclass
class HeatmapReport:
    """What a heatmap job did: images written now, images already done (``resume``), the
    skipped files (unreadable or missing), and whether the job finished; ``notes`` are further
    entries of the report (a masks job's legend and thresholds), kept by a merge."""

    finished: bool = False
    total: int = 0
    succeeded: int = 0
    already_done: int = 0
    skipped: list[dict] = field(default_factory=list)
    interrupted: bool = False
    error: str | None = None
    shard: str | None = None
    job: dict = field(default_factory=dict)
    table: Path | None = None
    report_file: Path | None = None
    notes: dict = field(default_factory=dict)

    def predictions(self) -> Iterator[dict[str, str]]:
        """The job's predictions table, one row per image in job order, streamed (a job over
        millions of images keeps no rows in memory)."""
        return read_predictions(self.table) if self.table else iter(())

    def write(self) -> None:
        """Counts, skipped files and completeness in the report file."""
        write_json(self.report_file, {**self.notes, **{key: getattr(self, key) for key in _WRITTEN}})


def report_notes(report: dict) -> dict:
    """The entries of a report read back that are notes, not counts (see :class:`HeatmapReport`)."""
    return {key: value for key, value in report.items() if key not in _WRITTEN}


def read_json(path: Path) -> object:
    """A JSON file cam-keras wrote (file names in it as the file system has them)."""
    return json.loads(path.read_text(encoding="utf-8", errors=FS_NAMES))


def read_report(path: Path) -> dict:
    """A shard's report, its fields checked (missing: ``{}``).

    Raises:
        OutputFolderError: not JSON, or a field missing or of another type, naming the file
            and the field.
    """
    try:
        report = read_json(path)
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
    for key, kind in _CHECKED.items():
        value = report.get(key)
        if not isinstance(value, kind) or (kind is int and (isinstance(value, bool) or value < 0)):
            return f"{key} is {value!r}, expected {'a count' if kind is int else f'a JSON {kind.__name__}'}"
    if not all(isinstance(entry, dict) and isinstance(entry.get("path"), str) for entry in report["skipped"]):
        return "skipped holds an entry without a path"
    inputs = report["job"].get(INPUTS)
    counted = isinstance(inputs, dict) and is_count(inputs.get("count"), 0)
    if not counted or not isinstance(inputs.get("sha256"), str):
        return f"job.inputs is {inputs!r}, expected the input count and fingerprint"
    return None


def _not_a_report(path: Path, problem: str) -> OutputFolderError:
    return OutputFolderError(
        f"{path}: not a cam-keras report ({problem}); run its shard again with {option('overwrite', True)}"
    )

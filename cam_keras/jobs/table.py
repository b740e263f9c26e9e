"""The predictions table, the one place it lives: its columns, its rows, appending as images
finish, reading back what a killed job left, putting a resumed job's rows in order, and joining
the tables of shards. File names go in as the file system has them (:data:`FS_NAMES`)."""

from __future__ import annotations

import contextlib
import csv
import heapq
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from cam_keras.atomic import atomic_path, naming_errors
from cam_keras.errors import OutputFolderError, UsageError, option
from cam_keras.records import CsvWriter
from cam_keras.safe_text import FS_NAMES, from_csv_cell

if TYPE_CHECKING:
    from cam_keras.cam import Explanation
    from cam_keras.outdir import OutputFolder

KEY = "output"  # the column that names a row's image: its overlay file


def _open(path: Path, mode: str = "r") -> IO[str]:
    return open(path, mode, encoding="utf-8", errors=FS_NAMES, newline="")


def row_key(row: Mapping[str, str]) -> str | None:
    """The output a row read back from a table is for, its formula guard undone."""
    output = row.get(KEY)
    return None if output is None else from_csv_cell(output)


def table_fields(ranks: int) -> list[str]:
    """The columns of a table listing ``ranks`` predictions per image."""
    fields = ["path", KEY, "explained"]
    for rank in range(1, ranks + 1):
        fields += [f"top{rank}", f"top{rank}_prob"]
    return fields


def prediction_rows(explanation: Explanation, paths: Sequence[Path], outputs: Sequence[str], ranks: int) -> list[dict]:
    """One row per image of ``explanation``: its path, its overlay (``outputs``), the classes
    mapped and its top ``ranks`` predictions."""
    rows = []
    for i, (path, output) in enumerate(zip(paths, outputs)):
        row = {"path": str(path), KEY: output, "explained": ";".join(explanation.labels(i))}
        for rank, (name, probability) in enumerate(explanation.top_predictions(i, ranks), start=1):
            row[f"top{rank}"] = name
            row[f"top{rank}_prob"] = round(probability, 6)
        rows.append(row)
    return rows


class PredictionsTable:
    """The predictions CSV, appended to as images finish, so it survives a kill: a row is
    appended only after its image's files are complete. A resumed job starts from the rows
    of the ``done`` outputs (copied, streamed, from the earlier table)."""

    def __init__(self, path: Path, fields: list[str], done: set[str]) -> None:
        if done:
            with _open(path) as earlier:
                if next(csv.reader(earlier), None) != fields:
                    raise UsageError(
                        f"{path} has other columns than this job would write: resume with the "
                        f"{option('report_top')} the job started with, "
                        f"or pass {option('overwrite', True)} to start again"
                    )
        with atomic_path(path) as temp, _open(temp, "w") as new:
            writer = CsvWriter(new)
            writer.write_raw(fields)
            kept: set[str] = set()  # a row given twice is kept once
            for _, row in complete_rows(path) if done else ():
                if row_key(row) in done and row_key(row) not in kept:
                    writer.write_raw([row.get(field, "") for field in fields])
                    kept.add(row_key(row))
        self.path = path
        self._stream = _open(path, "a")  # noqa: SIM115 - job-long
        self._writer, self._fields = CsvWriter(self._stream), fields

    def append(self, rows: Iterable[dict]) -> None:
        with naming_errors(self.path):
            for row in rows:
                self._writer.write_record(row, self._fields)
            self._stream.flush()

    def close(self) -> None:
        self._stream.close()


def read_predictions(table: Path) -> Iterator[dict[str, str]]:
    """The rows of ``table``, streamed, their cells as written before the spreadsheet guard
    (the ``'`` that keeps a name from running as a formula)."""
    with _open(table) as rows:
        for row in csv.DictReader(rows):
            yield {key: from_csv_cell(value) for key, value in row.items()}


def complete_rows(table: Path) -> Iterator[tuple[int, dict]]:
    """``(line, row)`` for the rows of a predictions table a killed job was appending to,
    streamed, without a last row the kill cut short (the file then does not end on a
    newline outside quotes)."""
    try:
        handle = _open(table)
    except FileNotFoundError:
        return
    with handle:
        quotes, last = 0, ""
        for chunk in iter(lambda: handle.read(1 << 20), ""):
            quotes, last = quotes + chunk.count('"'), chunk[-1]
        whole = last == "\n" and quotes % 2 == 0
        handle.seek(0)
        previous, reader = None, csv.DictReader(handle)
        for row in reader:
            if previous is not None:
                yield previous
            previous = (reader.line_num, row)
        if previous is not None and whole:
            yield previous


def check_row(row: dict, table: Path, line: int) -> None:
    """Refuse a kept row whose probabilities are not numbers from 0 to 1 (edited, or not
    cam-keras'): the job would fail on it at the end, after all its work."""
    if None in row:
        raise OutputFolderError(
            f"{table} line {line}: more cells than the table has columns; delete that line to redo its image, "
            f"or pass {option('overwrite', True)} to start again"
        )
    for key, value in row.items():
        if not key.endswith("_prob"):
            continue
        try:
            ok = 0 <= float(value) <= 1
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise OutputFolderError(
                f"{table} line {line}: {key} = {value!r} is not a probability from 0 to 1; delete that line to "
                f"redo its image, or pass {option('overwrite', True)} to start again"
            )


def put_in_order(table: Path, order: Mapping[str, int]) -> None:
    """Rewrite ``table`` with its rows in job ``order`` (position by output), if they are
    not: a resumed job appends the images it redoes after the rows it kept. The rows form
    runs in order (one per run of the job), merged as streams: memory holds a row per run."""
    starts = _run_starts(table, order)
    if len(starts) < 2:
        return
    with contextlib.ExitStack() as files, atomic_path(table) as temp:
        runs = []
        for start, stop in zip(starts, [*starts[1:], None]):
            reader = csv.reader(files.enter_context(_open(table)))
            header = next(reader)
            runs.append(itertools.islice(reader, start, stop))
        column = header.index(KEY)
        writer = CsvWriter(files.enter_context(_open(temp, "w")))
        writer.write_raw(header)
        for row in heapq.merge(*runs, key=lambda row: order.get(from_csv_cell(row[column]), len(order))):
            writer.write_raw(row)


def _run_starts(table: Path, order: Mapping[str, int]) -> list[int]:
    """The indexes of the rows of ``table`` that start a run in job ``order``."""
    starts, last = [], None
    with _open(table) as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            position = order.get(row_key(row), len(order))
            if last is None or position < last:
                starts.append(index)
            last = position
    return starts


def concatenate(out: OutputFolder, name: str, tables: Mapping[Path, int]) -> None:
    """Stream the ``tables`` into ``name`` in ``out`` (one header), in order, atomically, each
    holding the number of rows it maps to.

    Raises:
        OutputFolderError: a table is missing or holds another number of rows.
        UsageError: the tables' columns differ.
    """
    header, first_table = None, next(iter(tables), None)
    out.check_free([name])  # claimed once every table checked: a refused merge leaves the folder as it was
    with atomic_path(out.root / name) as temp, _open(temp, "w") as joined:
        writer = CsvWriter(joined)
        for table, expected in tables.items():
            if not table.is_file():
                raise OutputFolderError(
                    f"{table} is missing though its report says the shard finished; run its shard again"
                )
            with _open(table) as rows:
                reader = csv.reader(rows)
                first = next(reader, None)
                if header is None:
                    header = first
                    writer.write_raw(header)
                elif first != header:
                    raise UsageError(
                        f"{table} has other columns than {first_table}; run all shards with one {option('report_top')}"
                    )
                written = sum(1 for _ in map(writer.write_raw, reader))
            if written != expected:
                raise OutputFolderError(
                    f"{table}: {written} rows where its report counts {expected} images; run its shard again "
                    f"with {option('resume', True)}"
                )
        out.claim(name)

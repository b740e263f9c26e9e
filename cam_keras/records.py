"""Atomic writers for result records that are not pictures: CSV tables, JSON documents and
``.npz``/``.mat`` arrays. Free of TensorFlow and of the render room, so every room may use them."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import numpy as np

from cam_keras.atomic import atomic_path, write_text_atomic
from cam_keras.safe_text import for_csv_cell


@dataclass(frozen=True)
class ArrayFormat:
    """One array file format: its name (the ``array_format`` option), which is
    also the file suffix, and ``write(handle, arrays)`` saving named arrays to an open binary
    file. A format is one such entry in :data:`ARRAY_FORMATS`; the choices, the checks and
    :func:`write_arrays` follow. (Render workers are fresh processes that import this module:
    a format added at run time rather than here reaches them only with ``workers=0``.)"""

    name: str
    write: Callable[[BinaryIO, Mapping[str, np.ndarray]], None]

    @property
    def suffix(self) -> str:
        return f".{self.name}"


def _write_npz(handle: BinaryIO, arrays: Mapping[str, np.ndarray]) -> None:
    np.savez_compressed(handle, **arrays)


def _write_mat(handle: BinaryIO, arrays: Mapping[str, np.ndarray]) -> None:
    from scipy.io import savemat  # scipy only for those who ask for MATLAB files

    savemat(handle, dict(arrays), do_compression=True)


#: Array file formats by name: ``npz`` (numpy, compressed) and ``mat`` (MATLAB, via scipy).
ARRAY_FORMATS: dict[str, ArrayFormat] = {
    entry.name: entry for entry in (ArrayFormat("npz", _write_npz), ArrayFormat("mat", _write_mat))
}


def write_arrays(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Save named arrays in the :data:`ARRAY_FORMATS` format named by the file's suffix.

    Example:
        >>> write_arrays("maps.mat", explanation.arrays(0))
    """
    path = Path(path)
    known = {entry.suffix: entry for entry in ARRAY_FORMATS.values()}
    if path.suffix not in known:
        raise ValueError(f"{path}: array files must end in {' or '.join(known)}")
    with atomic_path(path) as temp, open(temp, "wb") as handle:
        known[path.suffix].write(handle, arrays)
    return path


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Save ``data`` as indented JSON.

    Example:
        >>> write_json("report.json", {"top1_loc": 0.83})
    """
    write_text_atomic(path, json.dumps(data, indent=2, default=jsonable) + "\n")
    return Path(path)


def write_csv(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]], fields: list[str]) -> Path:
    """Save dict rows as CSV with header ``fields`` through :class:`CsvWriter`.

    Example:
        >>> write_csv("rows.csv", [{"path": "a.png", "iou": 0.7}], ["path", "iou"])
    """
    buffer = io.StringIO()
    writer = CsvWriter(buffer)
    writer.write_raw(fields)
    for row in rows:
        writer.write_record(row, fields)
    write_text_atomic(path, buffer.getvalue())
    return Path(path)


def as_written(text: str) -> str:
    """``text`` as a CSV cell holds it once read back (NUL becomes the text ``\\x00``), so a
    name read from a table can be matched with the name it was written from."""
    return text.replace("\0", "\\x00")


class CsvWriter:
    """The one way cam-keras writes a CSV row (every table: predictions, per-image, history,
    merged shards), so any cell reads back as it was written:

    - lines end in ``\\n``; a cell holding ``,``, ``"``, ``\\n`` or ``\\r`` is quoted (Python 3.10
      and 3.11 leave a lone ``\\r`` bare with that ending, which splits the row when read: a row
      with one is written fully quoted);
    - NUL, which the csv reader of Python 3.10 refuses, is written as the text ``\\x00``;
    - :meth:`write` and :meth:`write_record` guard text a spreadsheet would run as a formula
      (:func:`cam_keras.safe_text.for_csv_cell`; read back with ``from_csv_cell``), while
      :meth:`write_raw` copies cells read from a table cam-keras wrote, as they are.

    Tables written before (``\\n`` endings, minimal quoting) are the same dialect: still readable.
    """

    def __init__(self, stream: TextIO) -> None:
        self._minimal = csv.writer(stream, lineterminator="\n")
        self._quoted = csv.writer(stream, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def write(self, cells: Sequence[Any]) -> None:
        """One row of values, text guarded against formulas."""
        self.write_raw([for_csv_cell(cell) for cell in cells])

    def write_record(self, row: Mapping[str, Any], fields: Sequence[str]) -> None:
        """The ``fields`` of ``row`` (missing ones empty, others ignored), guarded."""
        self.write([row.get(field, "") for field in fields])

    def write_raw(self, cells: Sequence[Any]) -> None:
        """One row of cells written as they are (a header, or a row copied from our own table)."""
        cells = [as_written(cell) if isinstance(cell, str) else cell for cell in cells]
        bare_cr = any(isinstance(cell, str) and "\r" in cell for cell in cells)
        (self._quoted if bare_cr else self._minimal).writerow(cells)


def jsonable(value: Any) -> Any:
    """``json.dumps``' ``default``: numpy scalars and arrays as Python values, paths as text."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")

"""Atomic writers for result records that are not pictures: CSV tables, JSON documents and
``.npz``/``.mat`` arrays. Free of TensorFlow and of the render room, so every room may use them."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cam_keras.atomic import atomic_path, write_text_atomic
from cam_keras.safe_text import for_csv_cell


def write_arrays(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Save named arrays as ``.npz`` (compressed) or ``.mat`` (MATLAB, via scipy) by suffix.

    Example:
        >>> write_arrays("maps.mat", explanation.arrays(0))
    """
    path = Path(path)
    with atomic_path(path) as temp:
        if path.suffix == ".mat":
            from scipy.io import savemat

            savemat(temp, dict(arrays), do_compression=True)
        elif path.suffix == ".npz":
            with open(temp, "wb") as handle:
                np.savez_compressed(handle, **arrays)
        else:
            raise ValueError(f"{path}: array files must end in .npz or .mat")
    return path


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Save ``data`` as indented JSON.

    Example:
        >>> write_json("report.json", {"top1_loc": 0.83})
    """
    write_text_atomic(path, json.dumps(data, indent=2, default=_jsonable) + "\n")
    return Path(path)


def write_csv(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]], fields: list[str]) -> Path:
    """Save dict rows as CSV with header ``fields``; strings a spreadsheet would run as
    formulas are quoted (:func:`cam_keras.safe_text.for_csv_cell`).

    Example:
        >>> write_csv("rows.csv", [{"path": "a.png", "iou": 0.7}], ["path", "iou"])
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: for_csv_cell(value) for key, value in row.items()} for row in rows)
    write_text_atomic(path, buffer.getvalue())
    return Path(path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")

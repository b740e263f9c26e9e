"""Atomic file writes: write beside the target, then rename, so a crash never leaves half a file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` whose name ends with ``target``'s name (so
    suffix checks such as Keras' ``.weights.h5`` pass); rename it over ``target`` on success,
    delete it on error.

    Example:
        >>> with atomic_path("model.keras") as temp:
        ...     model.save(temp)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=".tmp-", suffix=f"-{target.name}", dir=target.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        yield temp
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically.

    Example:
        >>> write_bytes_atomic("x.bin", bytes([0, 1]))
    """
    with atomic_path(target) as temp:
        temp.write_bytes(data)


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically.

    Example:
        >>> write_text_atomic("notes.txt", "done")
    """
    write_bytes_atomic(target, text.encode("utf-8"))

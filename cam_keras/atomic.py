"""Atomic file writes: write beside the target, then rename, so a crash never leaves half a file.

Temporary files are named ``.cam-keras-tmp-<8 hex digits>-<tail of the target's name>``, at
most 255 bytes whatever the target's name, so :mod:`cam_keras.outdir` can recognise the ones a
killed process left behind (:func:`is_temp_name`: a name no user picks by chance). Finished
files get the usual permissions (``0o666`` less the umask), as ``open()`` would give them,
not ``mkstemp``'s private ``0o600``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

TEMP_PREFIX = ".cam-keras-tmp-"
_TEMP_NAME = re.compile(re.escape(TEMP_PREFIX) + r"[0-9a-f]{8}-")
_NAME_MAX = 255  # bytes, the limit of ext4, XFS, APFS, NTFS (in UTF-16 units) and most others


@functools.cache
def file_mode() -> int:
    """``0o666`` less the process umask: the mode ``open()`` gives a new file."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no /proc: read the umask by setting it, then restore it
    os.umask(mask)
    return 0o666 & ~mask


def temp_name(target_name: str) -> str:
    """A fresh temporary name for ``target_name``: the prefix, a random tag and as much of the
    end of ``target_name`` as fits in 255 bytes (so suffix checks such as Keras'
    ``.weights.h5`` still pass)."""
    head = f"{TEMP_PREFIX}{secrets.token_hex(4)}-"
    room = _NAME_MAX - len(head.encode())
    tail = target_name.encode("utf-8", "surrogateescape")[-room:].decode("utf-8", "ignore")
    return head + tail


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one :func:`temp_name` makes (``.cam-keras-tmp-draft.txt`` is not)."""
    return _TEMP_NAME.match(name) is not None


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success,
    delete it on error. An ``OSError`` that names no file (a full disk while writing) is
    raised again naming ``target``.

    Example:
        >>> with atomic_path("model.keras") as temp:
        ...     model.save(temp)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        temp = target.parent / temp_name(target.name)
        try:
            os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            break
        except FileExistsError:
            continue
    try:
        with naming_errors(target):
            yield temp
            os.chmod(temp, file_mode())
            os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


@contextlib.contextmanager
def naming_errors(path: str | os.PathLike) -> Iterator[None]:
    """Raise an ``OSError`` without a file name (``write`` on a full disk: "No space left on
    device") again as the same error naming ``path``, so the user learns which file failed."""
    try:
        yield
    except OSError as error:
        if error.filename is not None or error.errno is None:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from error


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

"""Which unexpected exceptions are I/O failures (a full disk, a read-only folder) rather than
bugs: TensorFlow reports them as its own error types, not as ``OSError``."""

from __future__ import annotations

import errno
import os
import re

# Errors of the disk or the permissions, never of cam-keras: exit 1, as the README promises.
IO_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)


def as_io_error(error: BaseException) -> OSError | None:
    """``error`` as an ``OSError`` naming the file, when it is TensorFlow's report of a
    failed read or write (``"{{...}} /run/logs/events...; File too large\\n\\tFailed to flush
    ..."``, an ``OutOfRangeError``); ``None`` for anything else."""
    if not type(error).__module__.startswith("tensorflow"):
        return None
    first_line = re.sub(r"^\{\{.*?\}\}\s*", "", str(error).split("\n")[0])  # TF's "{{function_node ...}}"
    for code in IO_ERRNOS:
        found = re.fullmatch(rf"(.+); {re.escape(os.strerror(code))}", first_line)
        if found:
            return OSError(code, os.strerror(code), found.group(1))
    return None

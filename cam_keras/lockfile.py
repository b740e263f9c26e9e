"""One cam-keras job per folder: the lock file ``.cam-keras.lock``.

The lock is the kernel's: its holder keeps the file open under ``flock`` (released by the
kernel when the process ends, however it ends), so of several processes racing for a folder,
or for the lock of a process that died, exactly one wins. The file also names its holder (PID,
host, command) for the message the others get. A lock file written by an earlier cam-keras
version (no ``flock``) still counts while its process lives; a lock of another host is never
taken over (its process cannot be checked from here).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import logging
import os
import socket
import stat
import sys
import time
from pathlib import Path

from cam_keras.atomic import file_mode
from cam_keras.errors import FolderLockedError, OutputFolderError

try:
    import fcntl
except ImportError:  # Windows: no kernel lock; a dead holder is then told by its PID alone
    fcntl = None

logger = logging.getLogger(__name__)

LOCK_NAME = ".cam-keras.lock"
LOCK_SUFFIX = ".lock"  # shard locks: ``.cam-keras-<job>.lock`` beside the folder lock
_UNREADABLE_LOCK_GRACE_S = 30.0  # a lock an earlier version is writing is briefly empty
_ATTEMPTS = 5  # a lock released and removed while we open it: look again, a few times
_CREATOR_WAIT_S = 5.0  # a new lock file's creator waits out others who open it to look at it


def is_lock(name: str) -> bool:
    """Whether ``name`` is a folder or shard lock file."""
    return name.startswith(".cam-keras") and name.endswith(LOCK_SUFFIX)


class FolderLock:
    """An exclusive, advisory lock on a folder: the file ``folder/.cam-keras.lock``.

    Example:
        >>> with FolderLock("runs/first"):
        ...     ...  # no other cam-keras process writes there meanwhile
    """

    def __init__(self, folder: str | os.PathLike, name: str = LOCK_NAME) -> None:
        self.path = Path(folder) / name
        self._handle: int | None = None

    def acquire(self) -> None:
        """Take the lock, taking over one whose process is gone; raise
        :class:`FolderLockedError` naming the holder if it is held."""
        for _ in range(_ATTEMPTS):
            created, handle = self._open()
            if handle is None:
                continue
            if not _try_flock(handle, _CREATOR_WAIT_S if created else 0.0):
                os.close(handle)
                raise FolderLockedError(self._held_message())
            if not _is_current(handle, self.path):  # released and removed meanwhile
                os.close(handle)
                continue
            if not created and not self._stale():
                os.close(handle)
                raise FolderLockedError(self._held_message())
            _write_record(handle)
            self._handle = handle
            return
        raise FolderLockedError(self._held_message())

    def held_by_other(self) -> bool:
        """Whether another process holds the lock; a stale lock file is removed."""
        if self._handle is not None:
            return False
        _, handle = self._open(create=False)
        if handle is None:
            return False
        try:
            if not _try_flock(handle, 0.0):
                return True
            if _is_current(handle, self.path) and self._stale():
                self.path.unlink(missing_ok=True)
                return False
            return self.path.exists()
        finally:
            os.close(handle)

    def release(self) -> None:
        """Remove the lock file (while still holding it) and let go."""
        if self._handle is None:
            return
        if _is_current(self._handle, self.path):
            self.path.unlink(missing_ok=True)
        os.close(self._handle)
        self._handle = None

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _open(self, create: bool = True) -> tuple[bool, int | None]:
        """``(created, descriptor)`` of the lock file; ``None`` if it vanished meanwhile.

        Raises:
            OutputFolderError: the lock's name is taken by a link, a folder or anything but a
                file (a link is never followed: taking the lock would write over its target).
        """
        if create:
            with contextlib.suppress(FileExistsError):
                return True, os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_NOFOLLOW, file_mode())
        try:
            handle = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return False, None
        except OSError as error:
            if error.errno not in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                raise
            handle = None
        if handle is None or not stat.S_ISREG(os.fstat(handle).st_mode):
            if handle is not None:
                os.close(handle)
            raise OutputFolderError(
                f"{self.path} is not a cam-keras lock file (it is a link, a folder or a device); "
                f"move it away, or choose another folder"
            )
        return False, handle

    def _holder(self) -> dict:
        try:
            holder = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return holder if isinstance(holder, dict) else {}

    def _stale(self) -> bool:
        """Whether the lock, whose ``flock`` this process now holds, belongs to a process that
        is gone (same host only): one that held ``flock`` has lost it, so it has ended; an
        earlier version's is judged by its PID, or by its age while it stays unreadable."""
        holder = self._holder()
        if not holder:
            try:
                age = datetime.datetime.now().timestamp() - self.path.stat().st_mtime
            except FileNotFoundError:
                return True
            stale = age > _UNREADABLE_LOCK_GRACE_S
        elif holder.get("host") != socket.gethostname():
            stale = False
        else:
            stale = (holder.get("flock") is True and fcntl is not None) or (
                isinstance(holder.get("pid"), int) and not _process_alive(holder["pid"])
            )
        if stale:
            logger.warning(
                "%s: taking over a lock left by a process that is gone (%s)", self.path, holder or "unreadable"
            )
        return stale

    def _held_message(self) -> str:
        holder = self._holder()
        who = (
            f"process {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"
            if holder
            else "another process"
        )
        command = f" ({holder['command']})" if holder.get("command") else ""
        return (
            f"{self.path.parent} is in use by {who}{command}; wait for it to finish, or, if no "
            f"cam-keras process is using the folder any more, delete {self.path}"
        )


def _try_flock(handle: int, wait_s: float) -> bool:
    """Take the kernel's exclusive lock on ``handle``, trying for up to ``wait_s`` seconds;
    ``False`` if it stays held."""
    if fcntl is None:
        return True
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


def _is_current(handle: int, path: Path) -> bool:
    """Whether ``handle`` is still the file at ``path`` (not one removed since it was opened)."""
    try:
        now = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(handle)
    return (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino)


def _write_record(handle: int) -> None:
    """Replace the lock file's text with this process' record."""
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:]) if sys.argv else "",
        "flock": fcntl is not None,
    }
    os.ftruncate(handle, 0)
    os.pwrite(handle, json.dumps(record).encode(), 0)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

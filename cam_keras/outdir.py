"""Output folders shared with the user: one cam-keras job at a time, only its own files replaced.

Every command that writes into a folder the user names (``heatmap``, ``evaluate``, ``demo``,
``train``, and ``Explanation.save``) opens it through :class:`OutputFolder`, which guarantees:

- **a lock**: ``.cam-keras.lock`` holds the owner's PID, host and command; a second job on the
  same folder is refused with the holder's name, and a lock whose process is gone (same host)
  is taken over with a warning;
- **only its own files**: every file a job writes is first listed in ``.cam-keras-outputs``
  (one relative path a line, appended before the write, so a killed job's files are listed
  too); ``--overwrite`` replaces listed files only, and a file of the same name that
  cam-keras did not write stops the job with its name. Nothing is ever deleted but stale
  temporary files, and no folder is ever removed;
- **never inside the inputs**: an output folder equal to or inside an input folder is refused,
  so outputs are never read back as inputs; an input file is never written over;
- **no leftovers**: temporary files (``.cam-keras-tmp-*``, see :mod:`cam_keras.atomic`) left by
  a killed job are removed when the next job opens the folder.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from cam_keras.atomic import TEMP_PREFIX, file_mode
from cam_keras.errors import FolderLockedError, OutputFolderError

logger = logging.getLogger(__name__)

LOCK_NAME = ".cam-keras.lock"
MANIFEST_NAME = ".cam-keras-outputs"
_BOOKKEEPING = (LOCK_NAME, MANIFEST_NAME)
LOCK_SUFFIX = ".lock"  # shard locks: ``.cam-keras-<job>.lock`` beside the folder lock
_UNREADABLE_LOCK_GRACE_S = 30.0  # a lock being written by its owner is briefly empty


def check_outside_inputs(out: str | os.PathLike, inputs: Iterable[str | os.PathLike], flag: str = "--out") -> None:
    """Refuse an output folder equal to or inside an input folder, or equal to an input file.

    Raises:
        OutputFolderError: naming both folders and the fix.
    """
    out = Path(out).resolve()
    for item in inputs:
        source = Path(item).resolve()
        if source == out or (source.is_dir() and out.is_relative_to(source)):
            raise OutputFolderError(
                f"{flag} {out} is inside the input {source}: outputs would be read as inputs "
                f"(or replace them); choose a folder outside {source}"
            )


def create_folder(folder: str | os.PathLike, flag: str = "--out") -> None:
    """Create ``folder`` and its parents.

    Raises:
        OutputFolderError: it cannot be created, naming ``flag`` and the folder.
    """
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputFolderError(
            f"{flag} {folder}: cannot create the folder ({error.strerror or error}); choose a folder you can write to"
        ) from error


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Delete the temporary files a killed cam-keras process left under ``folder``; return
    how many. Call it only while holding the folder's lock."""
    removed = 0
    for root, _, files in os.walk(folder):
        for name in files:
            if name.startswith(TEMP_PREFIX):
                Path(root, name).unlink(missing_ok=True)
                removed += 1
    if removed:
        logger.info("removed %d temporary file(s) left by an interrupted job in %s", removed, folder)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FolderLock:
    """An exclusive, advisory lock on a folder: the file ``folder/.cam-keras.lock``.

    Example:
        >>> with FolderLock("runs/first"):
        ...     ...  # no other cam-keras process writes there meanwhile
    """

    def __init__(self, folder: str | os.PathLike, name: str = LOCK_NAME) -> None:
        self.path = Path(folder) / name
        self._held = False

    def acquire(self) -> None:
        """Take the lock, taking over a stale one; raise :class:`FolderLockedError` if held."""
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:]) if sys.argv else "",
        }
        for _ in range(3):
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, file_mode())
            except FileExistsError:
                if not self._take_over_if_stale():
                    raise FolderLockedError(self._held_message()) from None
                continue
            with os.fdopen(handle, "w") as stream:
                json.dump(record, stream)
            self._held = True
            return
        raise FolderLockedError(self._held_message())

    def held_by_other(self) -> bool:
        """Whether the lock file exists for a live (or unverifiable, other-host) process;
        a stale one is removed."""
        return self.path.exists() and not self._held and not self._take_over_if_stale()

    def release(self) -> None:
        """Remove the lock file if this process still holds it."""
        if self._held and self._holder().get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)
        self._held = False

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _holder(self) -> dict:
        try:
            holder = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return holder if isinstance(holder, dict) else {}

    def _take_over_if_stale(self) -> bool:
        """Remove the lock if its process is gone (same host) or it stayed unreadable."""
        holder = self._holder()
        if not holder:
            try:
                age = datetime.datetime.now().timestamp() - self.path.stat().st_mtime
            except FileNotFoundError:
                return True
            stale = age > _UNREADABLE_LOCK_GRACE_S
        else:
            same_host = holder.get("host") == socket.gethostname()
            stale = same_host and isinstance(holder.get("pid"), int) and not _process_alive(holder["pid"])
        if stale:
            logger.warning(
                "%s: taking over a lock left by a process that is gone (%s)", self.path, holder or "unreadable"
            )
            self.path.unlink(missing_ok=True)
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


class OutputFolder:
    """A locked output folder that records what it writes and replaces nothing else.

    Args:
        path: the folder; created if missing.
        overwrite: allow a non-empty folder; files an earlier cam-keras job listed may be
            replaced, any other file of the same name stops the job.
        resume: allow a non-empty folder to continue an earlier job (the caller skips
            outputs that exist).
        inputs: input files and folders the folder must stay outside of.
        flag: how the folder was named, for messages (``--out``).
        part: a name for one of several jobs sharing the folder (``shard-2-of-8``): it locks
            ``.cam-keras-<part>.lock`` only, so parts run side by side, while a whole-folder
            job and a part exclude each other. Stale temporary files are removed only when
            no other job holds a lock on the folder.

    Example:
        >>> with OutputFolder("maps", inputs=["photos/"]) as out:
        ...     write_png(out.claim("cat.png"), picture)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        overwrite: bool = False,
        resume: bool = False,
        inputs: Iterable[str | os.PathLike] = (),
        flag: str = "--out",
        part: str | None = None,
    ) -> None:
        self.root = Path(path)
        self.overwrite = overwrite
        self.resume = resume
        self.inputs = [Path(item) for item in inputs]
        self.flag = flag
        self._lock = FolderLock(self.root, f".cam-keras-{part}{LOCK_SUFFIX}" if part else LOCK_NAME)
        self._owned: set[str] = set()
        self._mutex = threading.Lock()
        self._protected = {item.resolve() for item in self.inputs if item.is_file()}

    def open(self) -> OutputFolder:
        """Check, create and lock the folder; clean stale temporary files."""
        if self.root.exists() and not self.root.is_dir():
            raise OutputFolderError(f"{self.flag} {self.root} exists and is not a folder; choose a folder")
        check_outside_inputs(self.root, self.inputs, self.flag)
        create_folder(self.root, self.flag)
        self._lock.acquire()
        try:
            self._check_other_jobs()
            if not (self.overwrite or self.resume) and self.user_visible_entries():
                raise OutputFolderError(
                    f"{self.flag} {self.root} is not empty; pass --overwrite to replace the files an "
                    f"earlier cam-keras job wrote there (nothing else is touched), or choose another folder"
                )
            self._owned = self._read_manifest()
        except BaseException:
            self._lock.release()
            raise
        return self

    def _check_other_jobs(self) -> None:
        """Refuse to run beside a conflicting job; remove stale temporary files when alone."""
        others = [FolderLock(self.root, entry.name) for entry in self.root.iterdir() if _is_lock(entry.name)]
        others = [lock for lock in others if lock.path != self._lock.path and lock.held_by_other()]
        whole = self._lock.path.name == LOCK_NAME
        for lock in others:
            if whole or lock.path.name == LOCK_NAME:
                raise FolderLockedError(lock._held_message())
        if not others:
            remove_stale_temps(self.root)

    def close(self) -> None:
        """Release the lock."""
        self._lock.release()

    def __enter__(self) -> OutputFolder:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def user_visible_entries(self) -> list[Path]:
        """Entries of the folder other than the lock and the manifest."""
        return [entry for entry in self.root.iterdir() if entry.name not in _BOOKKEEPING and not _is_lock(entry.name)]

    def owns(self, relative: str | os.PathLike) -> bool:
        """Whether an earlier or this job listed ``relative`` as its output."""
        return _key(relative) in self._owned

    def claim(self, relative: str | os.PathLike) -> Path:
        """The path to write ``relative`` at, listed in the manifest first.

        Raises:
            OutputFolderError: the file exists and cam-keras did not write it, or it is an input.
        """
        key = _key(relative)
        with self._mutex:
            target = self._writable(key)
            if key not in self._owned:
                with open(self.root / MANIFEST_NAME, "a", encoding="utf-8", errors="surrogateescape") as manifest:
                    manifest.write(key + "\n")
                self._owned.add(key)
        return target

    def check_free(self, names: Iterable[str | os.PathLike]) -> None:
        """Before anything is written: raise as :meth:`claim` would for the first of ``names``
        that cannot be written (a folder with nothing in it needs no look)."""
        if self.user_visible_entries():
            for name in names:
                self._writable(_key(name))

    def _writable(self, key: str) -> Path:
        """The path of ``key``; raises if a file cam-keras did not write, or an input file, is there."""
        target = self.root / key
        if key not in self._owned and (target.exists() or target.is_symlink()):
            raise OutputFolderError(
                f"{target} exists and was not written by cam-keras, so it is left as it is; "
                f"move it away or choose another {self.flag}"
            )
        if self._protected and target.resolve() in self._protected:
            raise OutputFolderError(f"{target} is an input file; choose another {self.flag}")
        return target

    def _read_manifest(self) -> set[str]:
        try:
            lines = (self.root / MANIFEST_NAME).read_text(encoding="utf-8", errors="surrogateescape").splitlines()
        except FileNotFoundError:
            return set()
        return {line for line in lines if line}


def _is_lock(name: str) -> bool:
    return name.startswith(".cam-keras") and name.endswith(LOCK_SUFFIX)


def _key(relative: str | os.PathLike) -> str:
    path = PurePosixPath(Path(relative).as_posix())
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"output names must be relative and inside the folder, not {relative}")
    return path.as_posix()


@contextlib.contextmanager
def locked(folder: str | os.PathLike) -> Iterator[FolderLock]:
    """Hold ``folder``'s lock for the ``with`` block, creating the folder if needed."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    with FolderLock(folder) as lock:
        yield lock

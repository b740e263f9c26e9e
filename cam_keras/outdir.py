"""Output folders shared with the user: one cam-keras job at a time, only its own files replaced.

Every command that writes into a folder the user names (``heatmap``, ``evaluate``, ``demo``
and ``Explanation.save``; ``train`` locks its run folder the same way and proves it owns it
by its ``state.json``, see :mod:`cam_keras.train.rundir`) opens it through :class:`OutputFolder`,
which guarantees:

- **a lock** (:mod:`cam_keras.lockfile`): a second job on the same folder is refused with the
  holder's name, and a lock whose process is gone (same host) is taken over by one job only;
- **only its own files**: every file a job writes is first listed in ``.cam-keras-outputs``
  (appended before the write, so a killed job's files are listed too; one name a line, or,
  for a name holding a line break, ``/`` and the name as a JSON string, so no file name can
  list another); ``overwrite`` replaces listed files only, and a file of the same name that
  cam-keras did not write stops the job with its name. Nothing is ever deleted but stale
  temporary files, and no folder is ever removed;
- **inside the folder**: every output path is resolved, links followed: one that leads outside
  the folder (``out/sub -> ../elsewhere``), onto an input file, or through a file in the way
  of its folder is refused before it is written;
- **never inside the inputs**: an output folder equal to or inside an input folder is refused,
  so outputs are never read back as inputs; an input file is never written over;
- **no leftovers**: temporary files (:func:`cam_keras.atomic.is_temp_name`) a killed job left
  in the folders cam-keras wrote in are removed by the next job, once it has been accepted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import threading
from collections.abc import Container, Iterable
from pathlib import Path, PurePosixPath

from cam_keras.atomic import file_mode, is_temp_name, naming_errors, write_bytes_atomic
from cam_keras.errors import FolderLockedError, OutputFolderError, option
from cam_keras.lockfile import LOCK_NAME, LOCK_SUFFIX, FolderLock, is_lock

logger = logging.getLogger(__name__)

MANIFEST_NAME = ".cam-keras-outputs"
_BOOKKEEPING = (LOCK_NAME, MANIFEST_NAME)
_ENCODED = "/"  # a manifest line starting so holds a JSON string; a relative name never starts so


def check_outside_inputs(out: str | os.PathLike, inputs: Iterable[str | os.PathLike], option_name: str = "out") -> None:
    """Refuse an output folder equal to or inside an input folder, or equal to an input file.

    Raises:
        OutputFolderError: naming both folders and the fix.
    """
    out = _real(out)
    for item in inputs:
        source = _real(item)
        if source == out or (source.is_dir() and out.is_relative_to(source)):
            raise OutputFolderError(
                f"{option(option_name)} {out} is inside the input {source}: outputs would be read as inputs "
                f"(or replace them); choose a folder outside {source}"
            )


def create_folder(folder: str | os.PathLike, option_name: str = "out") -> None:
    """Create ``folder`` and its parents.

    Raises:
        OutputFolderError: it cannot be created, naming option ``option_name`` and the folder.
    """
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputFolderError(
            f"{option(option_name)} {folder}: cannot create the folder ({error.strerror or error}); "
            f"choose a folder you can write to"
        ) from error


def remove_stale_temps(folders: Iterable[str | os.PathLike], keep: Container[Path] = ()) -> int:
    """Delete the temporary files (:func:`~cam_keras.atomic.is_temp_name`) a killed cam-keras
    process left directly in ``folders``, the folders it wrote in, but those in ``keep``
    (outputs named so); return how many. Call it only while holding the lock, once the job
    has been accepted. Folders and links are kept."""
    removed = 0
    for folder in folders:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(folder) as entries:
            for entry in entries:
                keeps = Path(entry.path) in keep
                if is_temp_name(entry.name) and entry.is_file(follow_symlinks=False) and not keeps:
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
    if removed:
        logger.info("removed %d temporary file(s) left by an interrupted job", removed)
    return removed


class OutputFolder:
    """A locked output folder that records what it writes and replaces nothing else.

    Args:
        path: the folder; created if missing.
        overwrite: allow a non-empty folder; files an earlier cam-keras job listed may be
            replaced, any other file of the same name stops the job.
        resume: allow a non-empty folder to continue an earlier job (the caller skips
            outputs that exist).
        inputs: input files and folders the folder must stay outside of.
        option_name: the argument that named the folder, for messages (``out``).
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
        option_name: str = "out",
        part: str | None = None,
    ) -> None:
        self.root = Path(path)
        self.overwrite = overwrite
        self.resume = resume
        self.inputs = [Path(item) for item in inputs]
        self.option_name = option_name
        self.named = option(option_name)  # how messages name the folder
        self._lock = FolderLock(self.root, f".cam-keras-{part}{LOCK_SUFFIX}" if part else LOCK_NAME)
        self._owned: set[str] = set()
        self._folders: dict[str, Path] = {}  # subfolder name -> where it leads, links followed
        self._real_root = _real(self.root)
        self._mutex = threading.Lock()
        self._protected = {_real(item) for item in self.inputs if item.is_file()}

    def open(self) -> OutputFolder:
        """Check, create and lock the folder; once the job is accepted, remove the temporary
        files a killed job left in the folders cam-keras wrote in."""
        if self.root.exists() and not self.root.is_dir():
            raise OutputFolderError(f"{self.named} {self.root} exists and is not a folder; choose a folder")
        check_outside_inputs(self.root, self.inputs, self.option_name)
        create_folder(self.root, self.option_name)
        self._lock.acquire()
        try:
            alone = self._check_other_jobs()
            if not (self.overwrite or self.resume) and self.user_visible_entries():
                raise OutputFolderError(
                    f"{self.named} {self.root} is not empty; pass {option('overwrite', True)} to replace the files an "
                    f"earlier cam-keras job wrote there (nothing else is touched), or choose another folder"
                )
            self._real_root = _real(self.root)
            self._owned = self._read_manifest(repair=alone)
            if alone:
                remove_stale_temps(self._written_folders(), keep={self.root / key for key in self._owned})
        except BaseException:
            self._lock.release()
            raise
        return self

    def _check_other_jobs(self) -> bool:
        """Refuse to run beside a conflicting job; return whether no other job holds a lock."""
        others = [FolderLock(self.root, entry.name) for entry in self.root.iterdir() if is_lock(entry.name)]
        others = [lock for lock in others if lock.path != self._lock.path and lock.held_by_other()]
        whole = self._lock.path.name == LOCK_NAME
        for lock in others:
            if whole or lock.path.name == LOCK_NAME:
                raise FolderLockedError(lock._held_message())
        return not others

    def _written_folders(self) -> list[Path]:
        """The folder and those of its subfolders an earlier job wrote in (no links)."""
        names = {str(PurePosixPath(key).parent) for key in self._owned}
        folders = [self.root / name for name in sorted(names)]
        return [
            folder
            for folder in folders
            if not folder.is_symlink() and folder.is_dir() and _real(folder).is_relative_to(self._real_root)
        ]

    def close(self) -> None:
        """Release the lock."""
        self._lock.release()

    def __enter__(self) -> OutputFolder:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def user_visible_entries(self) -> list[Path]:
        """Entries of the folder other than the lock and the manifest."""
        return [entry for entry in self.root.iterdir() if entry.name not in _BOOKKEEPING and not is_lock(entry.name)]

    def owns(self, relative: str | os.PathLike) -> bool:
        """Whether an earlier or this job listed ``relative`` as its output."""
        return _key(relative) in self._owned

    def claim(self, relative: str | os.PathLike) -> Path:
        """The path to write ``relative`` at, listed in the manifest first.

        Raises:
            OutputFolderError: the file exists and cam-keras did not write it, it is an input,
                a file is in the way of its folder, or a link leads it outside the folder.
        """
        key = _key(relative)
        with self._mutex:
            target = self._writable(key)
            if key not in self._owned:
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                with naming_errors(self.root / MANIFEST_NAME):  # a full disk names the manifest
                    manifest = os.open(self.root / MANIFEST_NAME, flags, file_mode())
                    try:
                        os.write(manifest, _manifest_line(key).encode("utf-8", "surrogateescape"))
                    finally:
                        os.close(manifest)
                self._owned.add(key)
        return target

    def check_free(self, names: Iterable[str | os.PathLike]) -> None:
        """Before anything is written: raise as :meth:`claim` would for the first of ``names``
        that cannot be written (a folder with nothing in it needs no look)."""
        if self.user_visible_entries():
            for name in names:
                self._writable(_key(name))

    def _writable(self, key: str) -> Path:
        """The path of ``key``; raises if it leads outside the folder, or a file cam-keras did
        not write, or an input file, is there."""
        target = self.root / key
        landing = self._landing(key)
        if not landing.is_relative_to(self._real_root) or landing == self._real_root:
            raise OutputFolderError(
                f"{target} would be written outside {self.named} {self.root} (to {landing}, through a symbolic "
                f"link); remove the link or choose another {self.named}"
            )
        if key not in self._owned and (target.exists() or target.is_symlink()):
            raise OutputFolderError(
                f"{target} exists and was not written by cam-keras, so it is left as it is; "
                f"move it away or choose another {self.named}"
            )
        if self._protected and landing in self._protected:
            raise OutputFolderError(f"{target} is an input file; choose another {self.named}")
        return target

    def _read_manifest(self, repair: bool) -> set[str]:
        """The names the manifest lists, without a last line a killed job cut short; with
        ``repair`` (no other job appends to it now: a rewrite would lose their lines) that line
        is also dropped from the file.

        Raises:
            OutputFolderError: the manifest is a link, a folder or anything but a file.
        """
        path = self.root / MANIFEST_NAME
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                raise OutputFolderError(
                    f"{path} is not the list of outputs cam-keras keeps there (it is a link, a folder or a device); "
                    f"move it away or choose another {self.named}"
                )
        except FileNotFoundError:
            return set()
        *lines, unfinished = path.read_bytes().decode("utf-8", "surrogateescape").split("\n")
        if unfinished and repair:
            write_bytes_atomic(path, "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape"))
        return _parse_manifest(lines)

    def _landing(self, key: str) -> Path:
        """Where writing ``key`` lands, links followed; raises if a parent is not a folder."""
        parts = PurePosixPath(key).parts
        folder = self._real_root
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            if prefix not in self._folders:
                path = self.root / prefix
                if os.path.lexists(path) and not path.is_dir():
                    raise OutputFolderError(
                        f"{path} is in the way: {self.root / key} goes inside it, and it is not a folder; "
                        f"move it away or choose another {self.named}"
                    )
                self._folders[prefix] = _real(path)
            folder = self._folders[prefix]
        target = self.root / key
        return _real(target) if target.is_symlink() else folder / parts[-1]


def _manifest_line(key: str) -> str:
    """``key``'s manifest line: the name itself, or, if it holds a line break of any kind,
    ``/`` and the name as a JSON string, so no name can add a line of its own."""
    plain = key.splitlines() == [key]  # a relative name never starts with _ENCODED
    return (key if plain else _ENCODED + json.dumps(key)) + "\n"


def _parse_manifest(lines: list[str]) -> set[str]:
    """The names listed in the manifest ``lines`` (see :func:`_manifest_line`)."""
    names = set()
    for line in lines:
        if line.startswith(_ENCODED):
            with contextlib.suppress(ValueError):
                name = json.loads(line[len(_ENCODED) :])
                names.update([name] if isinstance(name, str) else [])
        elif line:
            names.add(line)
    return names


def _real(path: str | os.PathLike) -> Path:
    """``path`` made absolute with every link followed (a link loop is left as it is)."""
    return Path(os.path.realpath(path))


def _key(relative: str | os.PathLike) -> str:
    path = PurePosixPath(Path(relative).as_posix())
    if path.is_absolute() or ".." in path.parts or not path.parts or "\0" in str(path):
        raise ValueError(f"output names must be relative, inside the folder and without NUL, not {relative!r}")
    return path.as_posix()

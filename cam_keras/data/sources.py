"""Where a job's images come from: files, folders searched recursively, and list files (or
standard input), each image once, in an order and with output names that are the same on
every machine (:class:`ImageSource`); or a dataset's class folders, each image with its label
(:func:`class_folder_images`)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple

from cam_keras.data.class_folders import scan_class_folders
from cam_keras.data.images import find_images, scan_images
from cam_keras.errors import DatasetError, UsageError, option
from cam_keras.naming import output_names, relative_name
from cam_keras.safe_text import FS_NAMES

logger = logging.getLogger(__name__)

STDIN = "-"  # the list file that stands for standard input


class SourceImages(NamedTuple):
    """What an :class:`ImageSource` holds: its images as ``(path, output stem)``, in job
    order, and the hidden image files its folders held, left out."""

    items: list[tuple[Path, Path]]
    hidden: list[Path]


@dataclass(frozen=True)
class ImageSource:
    """The images of ``inputs`` (files, folders searched recursively) and of the list file
    ``from_list`` (:data:`STDIN`: standard input), as a job names them.

    Example:
        >>> ImageSource(["photos/"], from_list="more.txt").scan().items
        [(PosixPath('photos/cat.jpg'), PosixPath('cat')), ...]
    """

    inputs: Sequence[str | os.PathLike] = ()
    from_list: str | os.PathLike | None = None

    @property
    def locations(self) -> list[str | os.PathLike]:
        """The files and folders named (the list file too, unless it is standard input): an
        output folder must stay outside them."""
        return [*self.inputs, *([self.from_list] if self.from_list not in (None, STDIN) else [])]

    def scan(self) -> SourceImages:
        """Every image, each once, as ``(path, output stem)`` sorted by the path relative to
        its input root: the same order on every machine, whatever the folders are mounted as;
        and the hidden image files the folders held (``.x.jpg``), left out."""
        entries: list[tuple[Path, Path]] = []
        hidden: list[Path] = []
        for item in map(Path, self.inputs):
            found = scan_images([item])
            entries.extend((path, item) for path in found.images)
            hidden.extend(found.hidden)
        if self.from_list is not None:
            entries.extend(read_list(self.from_list))
        unique: dict[str, tuple[Path, Path]] = {}
        for path, root in entries:
            unique.setdefault(os.path.abspath(path), (path, root))
        if len(unique) < len(entries):
            logger.warning("%d input(s) given more than once are explained once", len(entries) - len(unique))
        ordered = sorted(unique.values(), key=lambda entry: (relative_name(*entry).as_posix(), str(entry[0])))
        stems = output_names([path for path, _ in ordered], [root for _, root in ordered])
        return SourceImages([(path, stems[path]) for path, _ in ordered], hidden)


def read_list(list_file: str | os.PathLike) -> list[tuple[Path, Path]]:
    """``(path, root)`` for each image of ``list_file`` (``-``: standard input), one path a
    line: surrounding whitespace is trimmed, blank lines and lines starting with ``#`` are
    skipped, and a folder stands for the images under it (searched as a positional folder
    is). Relative paths resolve against the list's folder (the working folder for stdin),
    which is also the root their output names mirror; a folder outside it is its own root.
    Files are not checked here: a missing one is skipped later like an unreadable one."""
    if str(list_file) == STDIN:
        return _list_entries(sys.stdin, Path.cwd())
    list_file = Path(list_file)
    try:
        with open(list_file, encoding="utf-8", errors=FS_NAMES) as lines:
            return _list_entries(lines, list_file.resolve().parent)
    except FileNotFoundError:
        raise UsageError(f"{option('from_list')} {list_file}: no such file") from None
    except IsADirectoryError:
        raise UsageError(
            f"{option('from_list')} {list_file} is a folder; give a text file, one image path a line"
        ) from None


def _list_entries(lines: IO[str], folder: Path) -> list[tuple[Path, Path]]:
    entries = []
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        path = Path(os.path.normpath(folder / text))
        root = folder if path.is_relative_to(folder) else path
        images = find_images([path]) if path.is_dir() else [path]
        entries.extend((image, root) for image in images)
    return entries


class LabelledImage(NamedTuple):
    """One image of a class-folder dataset: its path, its path relative to the dataset root,
    its label (an index into the model's classes)."""

    path: str
    relative: str
    label: int


def class_folder_images(data_dir: Path, class_names: Sequence[str]) -> list[LabelledImage]:
    """Readable images of ``data_dir/<class>/`` for the model's ``class_names``, in sorted order.

    Raises:
        DatasetError: ``data_dir`` is not a folder, or holds a class folder the model does not
            know, naming the folders and the model's classes.
    """
    if not data_dir.is_dir():
        raise DatasetError(f"{data_dir}: dataset folder not found (expected DATA_DIR/<class>/<image>)")
    folders = sorted(d.name for d in data_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    unknown = [name for name in folders if name not in class_names]
    if unknown:
        raise DatasetError(
            f"{data_dir}: class folder(s) {', '.join(unknown)} are not classes of the model ({', '.join(class_names)})"
        )
    present = [name for name in class_names if name in folders]
    files = scan_class_folders(data_dir, class_names=present)
    return [
        LabelledImage(path, Path(path).relative_to(data_dir).as_posix(), list(class_names).index(present[label]))
        for path, label in zip(files.paths, files.labels)
    ]

"""Where a job's images come from: files, folders searched recursively, and list files (or
standard input), each image once, in an order and with output names that are the same on
every machine (:class:`ImageSource`). Each kind of input is one :class:`SourceKind` entry of
:data:`SOURCE_KINDS`. (Labelled class-folder datasets are :mod:`cam_keras.data.class_folders`.)"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

from cam_keras.data.images import find_images, scan_images
from cam_keras.errors import UsageError, option
from cam_keras.naming import output_names, relative_name
from cam_keras.safe_text import FS_NAMES

logger = logging.getLogger(__name__)

STDIN = "-"  # the list file that stands for standard input


class Found(NamedTuple):
    """What one source kind finds: its images as ``(path, root)`` (the root is the folder the
    output name mirrors the path from), and the hidden image files its folders held, left out.
    A kind in a module of its own may return a plain ``(entries, hidden)`` pair instead, and
    need not import this module."""

    entries: list[tuple[Path, Path]]
    hidden: list[Path]


@dataclass(frozen=True)
class SourceKind:
    """One kind of input, an entry of :data:`SOURCE_KINDS`: how a value given for it (a list of
    paths, a list file...) becomes images. :class:`ImageSource` takes the value as keyword
    ``name`` and ``cam-keras heatmap`` as an argument named after it, so a new kind is one
    entry there.

    Attributes:
        name: the :class:`ImageSource` keyword and the command line's argparse ``dest``.
        find: the images the value names (files are not checked: a missing one is skipped later).
        locations: the files and folders the value names: an output folder must stay outside them.
        cli: the command line's ``add_argument`` settings (``nargs``, ``metavar``, ``help``).
        wanted: how an error asking for some input names this kind.
        positional: given without a flag on the command line (the image paths), not as an option.
    """

    name: str
    find: Callable[[Any], tuple[list[tuple[Path, Path]], list[Path]]]  # a Found, or a plain pair
    locations: Callable[[Any], list[str | os.PathLike]]
    cli: Mapping[str, Any]
    wanted: str
    positional: bool = False


def _find_paths(inputs: Sequence[str | os.PathLike]) -> Found:
    """Files as given, folders searched recursively; each is the root of its images' names."""
    entries: list[tuple[Path, Path]] = []
    hidden: list[Path] = []
    for item in map(Path, inputs):
        found = scan_images([item])
        entries.extend((path, item) for path in found.images)
        hidden.extend(found.hidden)
    return Found(entries, hidden)


def _list_file_location(list_file: str | os.PathLike) -> list[str | os.PathLike]:
    return [] if str(list_file) == STDIN else [list_file]


#: The kinds of input an :class:`ImageSource` scans, by name: files and folders, and a list file
#: (``-``: standard input).
SOURCE_KINDS: dict[str, SourceKind] = {
    kind.name: kind
    for kind in (
        SourceKind(
            "inputs",
            _find_paths,
            list,
            {"nargs": "*", "help": "image files or folders (searched recursively)"},
            "image files or folders",
            positional=True,
        ),
        SourceKind(
            "from_list",
            lambda list_file: Found(read_list(list_file), []),
            _list_file_location,
            {
                "metavar": "FILE",
                "help": "also explain the images listed in FILE, one path per line (- reads standard input): "
                "whitespace around a path is trimmed, lines starting with # are comments (./#x.png names a file), "
                "a folder is searched like a positional one; relative paths resolve against FILE's folder; a "
                "missing path is skipped and reported",
            },
            f"{option('from_list')} FILE",
        ),
    )
}


class SourceImages(NamedTuple):
    """What an :class:`ImageSource` holds: its images as ``(path, output stem)``, in job
    order, and the hidden image files its folders held, left out."""

    items: list[tuple[Path, Path]]
    hidden: list[Path]


class ImageSource:
    """The images of ``inputs`` (files, folders searched recursively), of the list file
    ``from_list`` (:data:`STDIN`: standard input) and of any other kind of
    :data:`SOURCE_KINDS` given by its name, as a job names them.

    Example:
        >>> ImageSource(["photos/"], from_list="more.txt").scan().items
        [(PosixPath('photos/cat.jpg'), PosixPath('cat')), ...]
    """

    def __init__(
        self, inputs: Sequence[str | os.PathLike] = (), from_list: str | os.PathLike | None = None, **given: Any
    ) -> None:
        unknown = sorted(set(given) - set(SOURCE_KINDS))
        if unknown:
            raise TypeError(f"unknown image source(s) {', '.join(unknown)}; known: {', '.join(SOURCE_KINDS)}")
        values = {"inputs": inputs, "from_list": from_list, **given}
        #: the value of each kind given (``None`` and empty lists are not given), in registry order
        self.given = {name: values[name] for name in SOURCE_KINDS if _is_given(values.get(name))}

    def __repr__(self) -> str:
        return f"ImageSource({', '.join(f'{name}={value!r}' for name, value in self.given.items())})"

    @property
    def locations(self) -> list[str | os.PathLike]:
        """The files and folders named (a list file too, unless it is standard input): an
        output folder must stay outside them."""
        return [place for name, value in self.given.items() for place in SOURCE_KINDS[name].locations(value)]

    def scan(self) -> SourceImages:
        """Every image, each once, as ``(path, output stem)`` sorted by the path relative to
        its input root: the same order on every machine, whatever the folders are mounted as;
        and the hidden image files the folders held (``.x.jpg``), left out."""
        found = [Found(*SOURCE_KINDS[name].find(value)) for name, value in self.given.items()]
        entries = [entry for each in found for entry in each.entries]
        unique: dict[str, tuple[Path, Path]] = {}
        for path, root in entries:
            unique.setdefault(os.path.abspath(path), (path, root))
        if len(unique) < len(entries):
            logger.warning("%d input(s) given more than once are explained once", len(entries) - len(unique))
        ordered = sorted(unique.values(), key=lambda entry: (relative_name(*entry).as_posix(), str(entry[0])))
        stems = output_names([path for path, _ in ordered], [root for _, root in ordered])
        return SourceImages([(path, stems[path]) for path, _ in ordered], [h for each in found for h in each.hidden])


def _is_given(value: Any) -> bool:
    """Whether a source kind's value names anything: ``None`` and empty lists do not."""
    return value is not None and not (isinstance(value, (list, tuple)) and not value)


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

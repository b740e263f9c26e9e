"""Class-per-folder datasets (``ROOT/<class>/<image>``) scanned into labeled file lists: for
training (:func:`scan_class_folders`) and for scoring a model on its own classes
(:func:`class_folder_images`), through the same scan.

Files are scanned once: hidden and non-image files are ignored, unreadable images are
skipped with one warning that names them all.
"""

from __future__ import annotations

import concurrent.futures as futures
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from cam_keras.data.images import find_images, is_image_name, open_image_file
from cam_keras.errors import DatasetError, ImageError, option
from cam_keras.safe_text import terminal_lines

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabeledFiles:
    """Image paths with integer labels into ``class_names``."""

    paths: tuple[str, ...]
    labels: tuple[int, ...]
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def class_counts(self) -> np.ndarray:
        return np.bincount(np.array(self.labels, dtype=np.int64), minlength=len(self.class_names))

    def subset(self, indices: Sequence[int]) -> LabeledFiles:
        return LabeledFiles(
            tuple(self.paths[i] for i in indices), tuple(self.labels[i] for i in indices), self.class_names
        )


def _readable(path: Path) -> str | None:
    """``None`` if Pillow can parse the file's structure, else the reason it cannot."""
    try:
        with open_image_file(path) as file, Image.open(file) as image:
            image.verify()
        return None
    except ImageError as error:
        return error.reason
    except Exception as error:  # Pillow raises many types for broken files.
        return f"not a readable image ({error})"


def _too_few_classes(root: Path, usable: int) -> str:
    """Why a dataset folder has too few classes, and what it should look like."""
    if usable:
        message = f"{root}: found {usable} usable class; a classifier needs at least two class folders"
    else:
        message = (
            f"{root}: no class subfolder with readable images; expected one subfolder per class "
            f"({root}/<class>/<image>)"
        )
    loose = sum(1 for path in root.iterdir() if path.is_file() and is_image_name(path))
    if loose:
        message += f"; {loose} image(s) sit directly in {root}: move each class's images into its own subfolder"
    return message


def scan_class_folders(
    root: str | os.PathLike, class_names: Sequence[str] | None = None, skip_empty: bool = False
) -> LabeledFiles:
    """Find ``ROOT/<class>/**/<image>`` files.

    Args:
        root: dataset folder; each visible subfolder is a class (sorted by name).
        class_names: expected classes in model order (e.g. a validation folder must match
            the training classes, an evaluation folder holds some of the model's classes);
            ``None`` takes them from the folder names, and at least two are needed.
        skip_empty: warn about class folders without readable images instead of failing;
            without ``class_names`` they are left out of the returned classes.

    Raises:
        DatasetError: naming the missing root, an empty or missing class folder, no usable
            class, or (classes from folder names) a single one; images lying directly in
            ``root`` are counted in the message.

    Example:
        >>> files = scan_class_folders("photos/")
        >>> files.class_names, files.class_counts()
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found (expected ROOT/<class>/<image>)")
    folders = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    names = tuple(class_names) if class_names is not None else tuple(folders)
    missing = [name for name in names if name not in folders]
    if missing:
        raise DatasetError(f"{root}: no folder for class(es) {', '.join(missing)}; classes must match {list(names)}")
    per_class = {name: find_images([root / name]) for name in names}
    every = [path for paths in per_class.values() for path in paths]
    with futures.ThreadPoolExecutor(8) as pool:
        problems = dict(zip(every, pool.map(_readable, every)))
    bad = {path: reason for path, reason in problems.items() if reason}
    if bad:
        listing = terminal_lines(f"{path}: {reason}" for path, reason in bad.items())
        logger.warning("skipping %d unreadable file(s):%s", len(bad), listing)
    good = {name: [p for p in per_class[name] if p not in bad] for name in names}
    empty = [name for name in names if not good[name]]
    if empty and not skip_empty:
        raise DatasetError(
            f"{root}: class folder(s) with no readable images: {', '.join(empty)}; add images, remove the "
            f"folder(s), or pass {option('skip_empty', True)}"
        )
    if empty:
        logger.warning("%s: class folder(s) with no readable images: %s", root, ", ".join(empty))
    if len(names) - len(empty) < (2 if class_names is None else 1):
        raise DatasetError(_too_few_classes(root, len(names) - len(empty)))
    if class_names is None:  # classes from folders: a skipped one is no class (and no model output)
        names = tuple(name for name in names if good[name])
    paths = tuple(str(path) for name in names for path in good[name])
    labels = tuple(label for label, name in enumerate(names) for _ in good[name])
    return LabeledFiles(paths, labels, names)


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

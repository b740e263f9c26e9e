"""Exceptions raised by cam-keras. Each message names the object at fault and the fix.

The command line prints any :class:`CamKerasError` as one line without a traceback, so every
error a user can cause should be one of these (or a subclass defined next to its cause).

A message names an option through :func:`option`, never by a command-line flag: ``str(error)``
shows the library's name (``max_side``, ``overwrite=True``), and the command line shows its own
flag instead, through its one table of flags (``cam_keras/cli/flags.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_NO_VALUE = object()
_OPTION = re.compile("\x02option:([a-z_][a-z0-9_]*)\x1f(.*?)(?:\x1f(.*?))?\x03", re.DOTALL)


def option(name: str, value: object = _NO_VALUE, python: str | None = None) -> str:
    """An option named in a message, by its library (argument or field) name, optionally with a
    value: ``f"pass {option('overwrite', True)}"`` reads ``pass overwrite=True`` in Python and
    with the matching flag on the command line (see :func:`name_options`). ``python``: what a
    Python caller does instead, when that is not ``name=value`` (``"import mylayers"``)."""
    given = value is not _NO_VALUE
    python = python or (f"{name}={value!r}" if given else name)
    return f"\x02option:{name}\x1f{python}" + (f"\x1f{value}" if given else "") + "\x03"


Spelling = Callable[[str, str, "str | None"], str]
"""How an option reads: ``(name, its Python spelling, its value as text or None) -> text``."""


def library_spelling(name: str, python: str, value: str | None) -> str:
    """``max_side``, ``overwrite=True``, ``method='gradcam'``: as a Python caller writes it."""
    return python


def name_options(text: str, spelling: Spelling = library_spelling) -> str:
    """``text`` with each :func:`option` in it spelled by ``spelling`` (by default as the
    library names it)."""
    return _OPTION.sub(lambda found: spelling(*found.groups()), text)


def raw_message(error: BaseException) -> str:
    """An error's message with its :func:`option` marks still in it, for another spelling
    (``str(error)`` for errors not cam-keras')."""
    return Exception.__str__(error) if isinstance(error, CamKerasError) else str(error)


class CamKerasError(Exception):
    """Base class of every error cam-keras raises on purpose."""

    def __str__(self) -> str:
        return name_options(Exception.__str__(self))


class UsageError(CamKerasError, ValueError):
    """A flag, config value or argument is invalid; the message names it and the valid range."""


class HeadNotFoundError(CamKerasError, ValueError):
    """The model has no CAM head (global average pooling, then layers affine at inference), so
    plain CAM cannot explain it."""


class ModelError(CamKerasError, ValueError):
    """A model file cannot be loaded or explained; the message names the file or layer and the fix."""


class ImageError(CamKerasError, ValueError):
    """An image file could not be decoded; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = name_options(reason)


class WeightsUnavailableError(CamKerasError, RuntimeError):
    """Pretrained weights were requested but could not be downloaded or read."""


class DatasetError(CamKerasError, ValueError):
    """A dataset folder or annotation file is unusable; the message names the folder or row."""


class OutputFolderError(CamKerasError, FileExistsError):
    """An output folder cannot be used as asked: it holds other files, lies inside an input,
    or a file cam-keras would write exists and is not one cam-keras wrote."""


class FolderLockedError(OutputFolderError):
    """Another cam-keras process holds the folder's lock; the message names the holder."""


class RunFolderError(CamKerasError, ValueError):
    """A training run folder does not match what was asked (another dataset, backbone or size)."""

"""Exceptions raised by cam-keras. Each message names the object at fault and the fix.

The command line prints any :class:`CamKerasError` as one line without a traceback, so every
error a user can cause should be one of these (or a subclass defined next to its cause).
"""

from __future__ import annotations


class CamKerasError(Exception):
    """Base class of every error cam-keras raises on purpose."""


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
        self.reason = reason


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

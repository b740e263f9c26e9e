"""Exceptions raised by cam-keras. Each message names the object at fault and the fix."""

from __future__ import annotations


class CamKerasError(Exception):
    """Base class of every error cam-keras raises on purpose."""


class HeadNotFoundError(CamKerasError, ValueError):
    """The model has no GlobalAveragePooling2D -> Dense head, so plain CAM cannot explain it."""


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

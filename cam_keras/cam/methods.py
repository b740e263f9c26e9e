"""The one list of map methods. Adding a method is one class plus one line here.

This module imports no TensorFlow, so the command line can offer the names as choices and
``cam_keras`` can export the classes lazily.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cam_keras.cam.base import BaseCAM

AUTO = "auto"

#: method name -> "module:Class" of its explainer.
METHODS: dict[str, str] = {
    "cam": "cam_keras.cam.cam:CAM",
    "gradcam": "cam_keras.cam.gradients:GradCAM",
    "gradcam++": "cam_keras.cam.gradients:GradCAMPlusPlus",
    "xgradcam": "cam_keras.cam.gradients:XGradCAM",
    "layercam": "cam_keras.cam.gradients:LayerCAM",
    "scorecam": "cam_keras.cam.scorecam:ScoreCAM",
    "eigencam": "cam_keras.cam.activations:EigenCAM",
}

#: class name -> module, for the lazy exports of ``cam_keras`` and ``cam_keras.cam``.
METHOD_CLASSES: dict[str, str] = {spec.partition(":")[2]: spec.partition(":")[0] for spec in METHODS.values()}


def method_class(name: str) -> type[BaseCAM]:
    """The explainer class registered as ``name`` (imports TensorFlow).

    Example:
        >>> method_class("gradcam").__name__
        'GradCAM'
    """
    from cam_keras.errors import UsageError

    if name not in METHODS:
        raise UsageError(f"unknown method {name!r}; choose {AUTO} or one of {', '.join(METHODS)}")
    module, _, class_name = METHODS[name].partition(":")
    return getattr(importlib.import_module(module), class_name)

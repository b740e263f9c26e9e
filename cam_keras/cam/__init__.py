"""Map room: one base explainer owns the forward pass and class selection; methods differ
only in how activations (and their gradients) become maps.

Names are imported on first use, so ``cam_keras.cam.methods`` (the method list) costs no
TensorFlow import.
"""

from __future__ import annotations

import importlib

from cam_keras.cam.methods import METHOD_CLASSES
from cam_keras.cam.methods import METHODS as METHODS  # re-exported

_EXPORTS = {
    "ALL_CLASSES": "cam_keras.cam.targets",
    "BaseCAM": "cam_keras.cam.base",
    "ActivationCAM": "cam_keras.cam.activations",
    "GradientCAM": "cam_keras.cam.gradients",
    "Explanation": "cam_keras.cam.explanation",
    "make_explainer": "cam_keras.cam.factory",
    "MapAugmentation": "cam_keras.cam.augmentation",
    "MapPostprocessing": "cam_keras.cam.postprocessing",
    "resolve_classes": "cam_keras.cam.targets",
    **METHOD_CLASSES,
}

__all__ = sorted([*_EXPORTS, "METHODS"])


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__

"""cam-keras: Class Activation Mapping for TensorFlow/Keras.

Build GAP+Dense classifiers, fine-tune them, and turn them into heatmaps, boxes and
localization scores::

    import cam_keras
    model = cam_keras.build_model("resnet50", class_names=["cat", "dog"], input_size=224)
    cam_keras.explain(model, "photo.jpg").show()

Names and submodules (``cam_keras.train``, ``cam_keras.evaluate``, ...) load on first use
(PEP 562), so ``import cam_keras`` and the command line's help do not import TensorFlow.
"""

from __future__ import annotations

import os as _os

from cam_keras.cam.methods import METHOD_CLASSES
from cam_keras.quiet_import import import_quietly

# TensorFlow prints C++ info lines at import; keep them quiet unless the user chose otherwise.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

_EXPORTS = {
    "describe": "cam_keras.api",
    "explain": "cam_keras.api",
    "open_model": "cam_keras.api",
    "write_gallery": "cam_keras.api",
    "BaseCAM": "cam_keras.cam.base",
    "Explanation": "cam_keras.cam.explanation",
    "make_explainer": "cam_keras.cam.factory",
    "MapAugmentation": "cam_keras.cam.augmentation",
    "MapPostprocessing": "cam_keras.cam.postprocessing",
    **METHOD_CLASSES,
    "HeatmapOptions": "cam_keras.jobs.request",
    "HeatmapReport": "cam_keras.jobs.report",
    "merge_shards": "cam_keras.jobs.merge",
    "write_heatmaps": "cam_keras.jobs.pipeline",
    "MaskRule": "cam_keras.render.masks",
    "mask_options": "cam_keras.jobs.masks",
    "write_masks": "cam_keras.jobs.masks",
    "CamKerasError": "cam_keras.errors",
    "HeadNotFoundError": "cam_keras.errors",
    "ImageError": "cam_keras.errors",
    "WeightsUnavailableError": "cam_keras.errors",
    "ModelInfo": "cam_keras.models",
    "available_backbones": "cam_keras.models",
    "build_model": "cam_keras.models",
    "find_cam_head": "cam_keras.models",
    "load_model": "cam_keras.models",
    "model_info": "cam_keras.models",
    "save_model": "cam_keras.models",
}
_SUBMODULES = ("api", "cam", "cli", "data", "demo", "errors", "evaluate", "jobs", "models", "render", "train")

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(import_quietly(_EXPORTS[name]), name)
    if name in _SUBMODULES:
        return import_quietly(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*__all__, *_SUBMODULES, "__version__"})

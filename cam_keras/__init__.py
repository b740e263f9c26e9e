"""cam-keras: Class Activation Mapping for TensorFlow/Keras.

Build GAP+Dense classifiers, fine-tune them, and turn them into heatmaps, boxes and
localization scores::

    import cam_keras
    model = cam_keras.build_model("resnet50", class_names=["cat", "dog"], input_size=224)
    cam_keras.explain(model, "photo.jpg").show()
"""

import os as _os

# TensorFlow prints C++ info lines at import; keep them quiet unless the user chose otherwise.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from cam_keras.api import describe, explain, open_model  # noqa: E402
from cam_keras.cam import CAM, BaseCAM, Explanation, GradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM, make_explainer
from cam_keras.errors import CamKerasError, HeadNotFoundError, ImageError, WeightsUnavailableError
from cam_keras.models import (
    ModelInfo,
    available_backbones,
    build_model,
    find_cam_head,
    load_model,
    model_info,
    save_model,
)

__version__ = "0.1.0"

__all__ = [
    "BaseCAM",
    "CAM",
    "CamKerasError",
    "Explanation",
    "GradCAM",
    "GradCAMPlusPlus",
    "HeadNotFoundError",
    "ImageError",
    "LayerCAM",
    "ModelInfo",
    "ScoreCAM",
    "WeightsUnavailableError",
    "available_backbones",
    "build_model",
    "describe",
    "explain",
    "find_cam_head",
    "load_model",
    "make_explainer",
    "model_info",
    "open_model",
    "save_model",
]

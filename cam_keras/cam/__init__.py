"""Map room: one base explainer; methods differ only in how their maps are computed."""

from cam_keras.cam.base import BaseCAM
from cam_keras.cam.cam import CAM
from cam_keras.cam.explanation import Explanation
from cam_keras.cam.factory import METHODS, make_explainer
from cam_keras.cam.gradients import GradCAM, GradCAMPlusPlus, GradientCAM, LayerCAM
from cam_keras.cam.scorecam import ScoreCAM
from cam_keras.cam.targets import ALL_CLASSES, resolve_classes

__all__ = [
    "ALL_CLASSES",
    "BaseCAM",
    "CAM",
    "Explanation",
    "GradCAM",
    "GradCAMPlusPlus",
    "GradientCAM",
    "LayerCAM",
    "METHODS",
    "ScoreCAM",
    "make_explainer",
    "resolve_classes",
]

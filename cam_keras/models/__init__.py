"""Model room: backbone registry, GAP+Dense head builder, head resolution, save/load."""

from cam_keras.models.backbones import available_backbones
from cam_keras.models.builder import build_model
from cam_keras.models.head import CamHead, find_cam_head
from cam_keras.models.info import ModelInfo, attach_info, model_info
from cam_keras.models.io import load_model, save_model

__all__ = [
    "CamHead",
    "ModelInfo",
    "attach_info",
    "available_backbones",
    "build_model",
    "find_cam_head",
    "load_model",
    "model_info",
    "save_model",
]

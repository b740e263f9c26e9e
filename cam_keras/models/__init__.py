"""Model room: backbone registry, GAP+Dense head builder, head resolution, save/load, and the
contracts that say how any classifier's images go in and what its output means."""

from cam_keras.models.backbones import available_backbones
from cam_keras.models.builder import build_model
from cam_keras.models.contract import ModelContract, configure_model, model_contract
from cam_keras.models.describe import ModelReport, inspect_model
from cam_keras.models.head import CamHead, find_cam_head
from cam_keras.models.info import ModelInfo, attach_info, model_info
from cam_keras.models.io import load_model, save_model

__all__ = [
    "CamHead",
    "ModelContract",
    "ModelInfo",
    "ModelReport",
    "attach_info",
    "available_backbones",
    "build_model",
    "configure_model",
    "find_cam_head",
    "inspect_model",
    "load_model",
    "model_contract",
    "model_info",
    "save_model",
]

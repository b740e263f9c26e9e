"""Choose a map method by name."""

from __future__ import annotations

import logging

import keras

from cam_keras.cam.base import BaseCAM
from cam_keras.cam.cam import CAM
from cam_keras.cam.gradients import GradCAM, GradCAMPlusPlus, LayerCAM
from cam_keras.cam.scorecam import ScoreCAM
from cam_keras.errors import HeadNotFoundError

logger = logging.getLogger(__name__)

METHODS: dict[str, type[BaseCAM]] = {
    "cam": CAM,
    "gradcam": GradCAM,
    "gradcam++": GradCAMPlusPlus,
    "layercam": LayerCAM,
    "scorecam": ScoreCAM,
}


def make_explainer(
    model: keras.Model, method: str = "auto", target_layer: str | None = None, *, jit_compile: bool = False
) -> BaseCAM:
    """An explainer for ``model``.

    Args:
        method: ``"auto"`` (CAM when the model has a GAP -> Dense head, else Grad-CAM),
            or one of ``cam``, ``gradcam``, ``gradcam++``, ``layercam``, ``scorecam``.
        target_layer: layer for the gradient methods (default: last 4-D feature map).

    Example:
        >>> make_explainer(model, "gradcam++", target_layer="conv4_block6_out")(images).show()
    """
    if method == "auto":
        try:
            return CAM(model, jit_compile=jit_compile)
        except HeadNotFoundError as error:
            logger.warning("no GAP -> Dense head, using Grad-CAM (%s)", str(error).split(". ")[0])
            method = "gradcam"
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose auto or one of {', '.join(METHODS)}")
    if method == "cam":
        if target_layer:
            raise ValueError("CAM always uses the GAP input; target_layer is for the gradient methods")
        return CAM(model, jit_compile=jit_compile)
    return METHODS[method](model, target_layer, jit_compile=jit_compile)

"""Choose a map method by name (the names are :data:`cam_keras.cam.methods.METHODS`)."""

from __future__ import annotations

import logging

import keras

from cam_keras.cam.augmentation import MapAugmentation
from cam_keras.cam.base import BaseCAM
from cam_keras.cam.cam import CAM
from cam_keras.cam.methods import AUTO, method_class
from cam_keras.errors import HeadNotFoundError, UsageError

logger = logging.getLogger(__name__)


def make_explainer(
    model: keras.Model,
    method: str = AUTO,
    target_layer: str | keras.layers.Layer | None = None,
    *,
    jit_compile: bool = False,
    augmentation: MapAugmentation | None = None,
) -> BaseCAM:
    """An explainer for ``model``.

    Args:
        method: ``"auto"`` or a name from :data:`~cam_keras.cam.methods.METHODS`. ``auto`` is
            CAM when the model has a CAM head (see :mod:`cam_keras.models.head`) and
            ``target_layer`` is unset or the pooling input; otherwise Grad-CAM (at
            ``target_layer``), with a log line saying why.
        target_layer: layer for the methods that take one (default: last 4-D feature map or
            transformer tokens).
        augmentation: scales and mirrors whose maps are averaged
            (:class:`~cam_keras.cam.augmentation.MapAugmentation`; ``None``: the image only).

    Example:
        >>> make_explainer(model, "gradcam++", target_layer="conv4_block6_out")(images).show()  # doctest: +SKIP
    """
    if method == AUTO:
        try:
            return CAM(model, target_layer, jit_compile=jit_compile, augmentation=augmentation)
        except HeadNotFoundError as error:
            logger.warning("no CAM head, using Grad-CAM (%s)", str(error).split(". ")[0])
        except UsageError:
            logger.info("target layer %s is not the GAP input: using Grad-CAM there", target_layer)
        method = "gradcam"
    return method_class(method)(model, target_layer, jit_compile=jit_compile, augmentation=augmentation)

"""The few names a notebook needs: from a model (or its file) to a displayed map in one line."""

from __future__ import annotations

import os
from typing import Sequence

import keras

from cam_keras.cam import Explanation, make_explainer
from cam_keras.cam.inputs import ImageLike
from cam_keras.cam.targets import ClassSpec
from cam_keras.models import load_model


def explain(
    model: keras.Model | str | os.PathLike,
    images: ImageLike | Sequence[ImageLike],
    classes: ClassSpec = None,
    *,
    top_k: int = 1,
    method: str = "auto",
    target_layer: str | None = None,
) -> Explanation:
    """Class maps for ``images`` from a model or a ``.keras`` file.

    ``method="auto"`` uses CAM when the model has a GAP -> Dense head, else Grad-CAM; see
    :func:`cam_keras.make_explainer` for the others.

    Example:
        >>> cam_keras.explain("run/model.keras", ["cat.jpg", "dog.jpg"]).show()
    """
    if not isinstance(model, keras.Model):
        model = load_model(model)
    return make_explainer(model, method, target_layer)(images, classes, top_k=top_k)

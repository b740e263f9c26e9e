"""A serializable layer that applies a ``keras.applications`` family's ``preprocess_input``.

Putting preprocessing inside the model means a saved model takes raw RGB pixels in [0, 255]
and nobody can feed it the wrong scale.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="cam_keras")
class ApplicationPreprocessing(keras.layers.Layer):
    """Maps raw RGB images in [0, 255] to what a ``keras.applications`` backbone expects.

    Args:
        module: name of the ``keras.applications`` submodule whose ``preprocess_input`` to
            apply, e.g. ``"resnet50"`` (caffe: BGR, mean subtracted) or ``"inception_v3"``
            (scaled to [-1, 1]).

    Input and output shape: ``(batch, height, width, 3)``.
    """

    def __init__(self, module: str, **kwargs) -> None:
        super().__init__(**kwargs)
        if not hasattr(getattr(keras.applications, module, None), "preprocess_input"):
            raise ValueError(f"keras.applications.{module} has no preprocess_input")
        self.module = module
        self._preprocess = getattr(keras.applications, module).preprocess_input

    def call(self, images):
        return self._preprocess(images)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "module": self.module}

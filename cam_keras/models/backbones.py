"""Backbone registry: every ``keras.applications`` family by name, plus a small CPU-friendly CNN.

A backbone here is a functional model from raw RGB pixels in [0, 255] to a 4-D feature map
``(batch, h, w, channels)``; preprocessing is part of it.
"""

from __future__ import annotations

import functools
import inspect
import os
from dataclasses import dataclass
from typing import Callable

import keras

from cam_keras.errors import WeightsUnavailableError
from cam_keras.models.preprocessing import ApplicationPreprocessing

SMALL_CNN = "small_cnn"


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone: its constructor and the module holding ``preprocess_input``."""

    name: str
    constructor: Callable[..., keras.Model]
    module: str


@functools.cache
def application_backbones() -> dict[str, BackboneSpec]:
    """All ``keras.applications`` constructors, keyed by lower-case name (``"resnet50"``,
    ``"inceptionv3"``, ...). Found by walking the public submodules, so new families appear
    without code changes. Lookups ignore ``_`` and ``-`` (``"inception_v3"`` works).
    """
    specs: dict[str, BackboneSpec] = {}
    for module_name in sorted(dir(keras.applications)):
        module = getattr(keras.applications, module_name)
        if not inspect.ismodule(module) or not hasattr(module, "preprocess_input"):
            continue
        for attr in dir(module):
            constructor = getattr(module, attr)
            if attr[:1].isupper() and callable(constructor):
                name = attr.lower()
                # Prefer the module named after the model (resnet50 over resnet).
                if name not in specs or _canonical(module_name) == name:
                    specs[name] = BackboneSpec(name, constructor, module_name)
    return specs


def available_backbones() -> list[str]:
    """Names accepted by :func:`cam_keras.build_model`'s ``backbone`` argument."""
    return [SMALL_CNN, *sorted(application_backbones())]


def small_cnn(input_tensor: keras.KerasTensor, width: int = 32) -> keras.KerasTensor:
    """A fast CNN for CPUs: four conv stages, output stride 4, ``4 * width`` channels.

    Keeps a fine feature map (input/4) so CAM boxes stay tight on small images.
    """
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(input_tensor)
    stages = [(width, 1), (width, 2), (2 * width, 1), (2 * width, 2), (4 * width, 1)]
    for index, (filters, stride) in enumerate(stages, start=1):
        x = keras.layers.Conv2D(
            filters, 3, strides=stride, padding="same", use_bias=False, name=f"conv{index}"
        )(x)
        x = keras.layers.BatchNormalization(name=f"conv{index}_bn")(x)
        x = keras.layers.ReLU(name=f"conv{index}_relu")(x)
    return x


def _canonical(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _resolve_spec(name: str) -> BackboneSpec:
    key = _canonical(name)
    specs = application_backbones()
    if key not in specs:
        known = ", ".join(available_backbones())
        raise ValueError(f"unknown backbone {name!r}; choose one of: {known}")
    return specs[key]


def application_features(
    name: str, input_tensor: keras.KerasTensor, weights: str | None
) -> keras.KerasTensor:
    """Feature map of ``keras.applications`` model ``name`` (no top) applied to raw pixels.

    ``weights`` is ``None``, ``"imagenet"`` (downloaded and cached by Keras) or a path to a
    local ``.h5``/``.weights.h5`` file of the no-top model.
    """
    spec = _resolve_spec(name)
    if weights not in (None, "imagenet") and not os.path.exists(weights):
        raise WeightsUnavailableError(
            f"weights file {weights!r} does not exist; pass weights=None, 'imagenet' or the path "
            f"of a {spec.constructor.__name__} no-top weights file"
        )
    x = ApplicationPreprocessing(spec.module, name="preprocess")(input_tensor)
    try:
        model = spec.constructor(include_top=False, weights=weights, input_tensor=x)
    except Exception as error:  # Keras raises bare Exception for a failed download.
        if weights != "imagenet" or "fetch failure" not in str(error).lower():
            raise
        raise WeightsUnavailableError(
            f"could not download ImageNet weights for {spec.constructor.__name__}: {error}. "
            "This machine looks offline. On a connected machine run "
            f"`keras.applications.{spec.constructor.__name__}(include_top=False)` and copy the "
            "file it caches under ~/.keras/models/ here (Keras then finds it), or pass its path "
            "as weights='/path/to/file.h5'."
        ) from error
    return model.output

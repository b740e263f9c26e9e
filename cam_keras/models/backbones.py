"""Backbone registry: every ``keras.applications`` family by name, plus a small CPU-friendly CNN.

A backbone here is a functional model from raw RGB pixels in [0, 255] to a 4-D feature map
``(batch, h, w, channels)``; preprocessing is part of it.
"""

from __future__ import annotations

import os

import keras

from cam_keras.errors import WeightsUnavailableError, option
from cam_keras.models.applications import BackboneSpec, application_backbones, canonical_name
from cam_keras.models.preprocessing import application_preprocessing

SMALL_CNN = "small_cnn"


def available_backbones() -> list[str]:
    """Names accepted by :func:`cam_keras.build_model`'s ``backbone`` argument.

    Example:
        >>> "inception_v3" in available_backbones()
        True
    """
    return [SMALL_CNN, *sorted(application_backbones())]


def small_cnn(input_tensor: keras.KerasTensor, base_channels: int = 32) -> keras.KerasTensor:
    """A fast CNN for CPUs with output stride 4 and ``4 * base_channels`` channels.

    Seven stages; the last 3x3 is dilated, for a 42 px receptive field at full map
    resolution: a 64 px image gets a 16x16 CAM whose units see an object but not the whole
    image (37 px classified worse, 53-69 px localized worse on the synthetic shapes).

    Downsampling uses 2x2 stride-2 convolutions: they need no padding, so feature cell ``j``
    covers input pixels ``4j .. 4j + 3`` and is centered where bilinear upsampling puts it.
    A 3x3 stride-2 "same" convolution pads only the bottom/right of an even input and shifts
    the map by about 1.5 px per level (measured: boxes 2.5 px too high).
    """
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(input_tensor)
    # (filters, kernel, stride, dilation) per stage
    stages = [
        (base_channels, 3, 1, 1),
        (base_channels, 2, 2, 1),
        (2 * base_channels, 3, 1, 1),
        (2 * base_channels, 2, 2, 1),
        (4 * base_channels, 3, 1, 1),
        (4 * base_channels, 3, 1, 1),
        (4 * base_channels, 3, 1, 2),
    ]
    for index, (filters, kernel, stride, dilation) in enumerate(stages, start=1):
        x = keras.layers.Conv2D(
            filters, kernel, strides=stride, dilation_rate=dilation, padding="same", use_bias=False, name=f"conv{index}"
        )(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"conv{index}_bn")(x)
        x = keras.layers.ReLU(name=f"conv{index}_relu")(x)
    return x


def _resolve_spec(name: str) -> BackboneSpec:
    """Look a backbone up by name, ignoring case, ``_`` and ``-``."""
    by_canonical = {canonical_name(key): spec for key, spec in application_backbones().items()}
    if canonical_name(name) not in by_canonical:
        known = ", ".join(available_backbones())
        raise ValueError(f"unknown backbone {name!r}; choose one of: {known}")
    return by_canonical[canonical_name(name)]


def application_features(name: str, input_tensor: keras.KerasTensor, weights: str | None) -> keras.KerasTensor:
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
    x = application_preprocessing(spec.module, input_tensor)
    try:
        model = spec.constructor(include_top=False, weights=weights, input_tensor=x)
    except Exception as error:  # Keras raises bare Exception for a failed download.
        if weights != "imagenet" or "fetch failure" not in str(error).lower():
            raise
        raise WeightsUnavailableError(
            f"could not download ImageNet weights for {spec.constructor.__name__} (this machine looks "
            f"offline): on a connected machine run `keras.applications.{spec.constructor.__name__}"
            "(include_top=False)`, copy the file it caches under ~/.keras/models/ to the same folder "
            f"here, or pass its path as {option('weights', 'PATH')}"
        ) from error
    return model.output

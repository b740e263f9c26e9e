"""Pixel preprocessing: the one registry of conventions a model's input may expect, and a
``keras.applications`` family's ``preprocess_input`` put inside a model with Keras' own layers.

Putting preprocessing inside the model means a saved model takes raw RGB pixels in [0, 255]
and nobody can feed it the wrong scale; models without it get one of :data:`CONVENTIONS` or a
family's function, chosen with ``preprocess`` (see :func:`resolve_preprocessing`).
Built with Keras' own layers (:func:`application_preprocessing`), a saved model loads with plain
``keras.saving.load_model``, exports and converts to TFLite without cam-keras installed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from cam_keras.errors import UsageError
from cam_keras.models.applications import application_backbones, canonical_name

PREPROCESS_LAYER = "preprocess"


def application_preprocessing(module: str, images: keras.KerasTensor) -> keras.KerasTensor:
    """``keras.applications.<module>.preprocess_input`` applied to ``images`` with Keras' own
    layers: a ``Normalization`` named :data:`PREPROCESS_LAYER` (per-channel scale and offset),
    then a channel reordering op where the family wants BGR; nothing for families that take
    raw pixels (their models preprocess themselves).

    Raises:
        ValueError: a family whose ``preprocess_input`` is not a per-channel affine map.

    Example:
        >>> application_preprocessing("resnet50", keras.Input((32, 32, 3)))  # caffe: BGR, mean subtracted
    """
    scale, offset, order = _per_channel_affine(getattr(keras.applications, module).preprocess_input)
    if np.allclose(scale, 1) and np.allclose(offset, 0) and order == [0, 1, 2]:
        return images
    # y[j] = scale[j] * x[order[j]] + offset[j]: normalize each input channel, then reorder.
    by_input = np.argsort(order)
    mean, variance = -(offset / scale)[by_input], (1.0 / scale**2)[by_input]
    normalized = keras.layers.Normalization(mean=mean.tolist(), variance=variance.tolist(), name=PREPROCESS_LAYER)(
        images
    )
    return normalized if order == [0, 1, 2] else keras.ops.take(normalized, order, axis=-1)


def _per_channel_affine(function: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """``(scale, offset, order)`` with ``function(x)[..., j] == scale[j] * x[..., order[j]] + offset[j]``,
    read by probing the function with black and one-channel images, checked on random pixels."""
    probes = np.concatenate([np.zeros((1, 3)), 255.0 * np.eye(3)]).astype(np.float32).reshape(4, 1, 1, 3)
    out = np.asarray(function(probes.copy()), np.float64).reshape(4, 3)
    offset, columns = out[0], (out[1:] - out[0]) / 255.0  # columns[i, j]: input i -> output j
    order = [int(np.argmax(np.abs(columns[:, j]))) for j in range(3)]
    scale = np.array([columns[order[j], j] for j in range(3)])
    random = np.random.default_rng(0).uniform(0, 255, (1, 2, 2, 3)).astype(np.float32)
    expected = np.asarray(function(random.copy()), np.float64)
    if sorted(order) != [0, 1, 2] or not np.allclose(expected, random[..., order] * scale + offset, atol=1e-3):
        raise ValueError("preprocess_input is not a per-channel scale and offset of the RGB channels")
    return scale, offset, order


@keras.saving.register_keras_serializable(package="cam_keras")
class ApplicationPreprocessing(keras.layers.Layer):
    """Maps raw RGB images in [0, 255] to what a ``keras.applications`` backbone expects.

    Kept so that models saved by cam-keras before :func:`application_preprocessing` still load;
    new models use Keras' own layers and load without cam-keras.

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


@dataclass(frozen=True)
class Preprocessing:
    """One way of turning raw pixels in [0, 255] into what a model was trained on.

    Attributes:
        name: the ``preprocess`` spelling (``"none"``, ``"caffe"``,
            ``"resnet50"``...), or the callable's name for a user function.
        description: what it does, for ``inspect`` and messages.
        function: ``(batch, H, W, C)`` float32 pixels in [0, 255] -> model input, numpy in and out.
        rgb_only: the convention is defined for 3 RGB channels only.
    """

    name: str
    description: str
    function: Callable[[np.ndarray], np.ndarray]
    rgb_only: bool = False


def _imagenet(mode: str) -> Callable[[np.ndarray], np.ndarray]:
    return functools.partial(keras.applications.imagenet_utils.preprocess_input, mode=mode)


CONVENTIONS: dict[str, Preprocessing] = {
    p.name: p
    for p in (
        Preprocessing("none", "raw pixels in [0, 255], unchanged", lambda x: x),
        Preprocessing("unit", "pixels / 255, in [0, 1]", lambda x: x / 255.0),
        Preprocessing("symmetric", "pixels / 127.5 - 1, in [-1, 1]", lambda x: x / 127.5 - 1.0),
        Preprocessing("caffe", "BGR, ImageNet mean subtracted (VGG, ResNet)", _imagenet("caffe"), True),
        Preprocessing("torch", "pixels / 255, then ImageNet mean / std per channel", _imagenet("torch"), True),
    )
}


def _application_modules() -> dict[str, str]:
    """``keras.applications`` families by canonical name: module names (``mobilenet_v2``)
    and model names (``mobilenetv2``, ``efficientnetb0``) both map to their module."""
    found: dict[str, str] = {}
    for name, spec in application_backbones().items():
        found[canonical_name(name)] = spec.module
        found[canonical_name(spec.module)] = spec.module
    return found


def choice_names() -> list[str]:
    """Every accepted ``preprocess`` name: the conventions, then the ``keras.applications`` families."""
    return [*CONVENTIONS, *sorted(set(_application_modules().values()))]


def family_of(model_name: str) -> str | None:
    """The ``keras.applications`` module whose model is named ``model_name`` (a Keras
    application keeps its constructor's name: ``"resnet50"``, ``"mobilenetv2_1.00_224"``),
    longest match first; ``None`` for other names.

    Example:
        >>> family_of("mobilenetv2_1.00_224")
        'mobilenet_v2'
    """
    name = canonical_name(model_name)
    matches = [key for key in _application_modules() if name.startswith(key)]
    return _application_modules()[max(matches, key=len)] if matches else None


def resolve_preprocessing(choice: str | Callable[[np.ndarray], np.ndarray]) -> Preprocessing:
    """A :class:`Preprocessing` from a convention name, a ``keras.applications`` family or
    model name (``"resnet50"``, ``"mobilenet_v2"``, ``"efficientnetb0"``), or a callable.

    Raises:
        UsageError: an unknown name, listing the accepted ones.

    Example:
        >>> resolve_preprocessing("inception_v3").description
        'keras.applications.inception_v3.preprocess_input'
    """
    if callable(choice):
        return Preprocessing(getattr(choice, "__name__", "custom"), "your function", choice)
    if choice in CONVENTIONS:
        return CONVENTIONS[choice]
    module = _application_modules().get(canonical_name(choice))
    if module is None:
        raise UsageError(f"unknown preprocessing {choice!r}; choose one of: {', '.join(choice_names())}")
    function = getattr(keras.applications, module).preprocess_input
    return Preprocessing(module, f"keras.applications.{module}.preprocess_input", function, True)

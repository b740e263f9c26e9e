"""Pixel preprocessing: the one registry of conventions a model's input may expect, and a
serializable layer that puts a ``keras.applications`` family's ``preprocess_input`` inside a model.

Putting preprocessing inside the model means a saved model takes raw RGB pixels in [0, 255]
and nobody can feed it the wrong scale; models without it get one of :data:`CONVENTIONS` or a
family's function, chosen with ``--preprocess`` / ``preprocess=`` (see :func:`resolve_preprocessing`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from cam_keras.errors import UsageError


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


@dataclass(frozen=True)
class Preprocessing:
    """One way of turning raw pixels in [0, 255] into what a model was trained on.

    Attributes:
        name: the ``--preprocess`` / ``preprocess=`` spelling (``"none"``, ``"caffe"``,
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
    from cam_keras.models.backbones import application_backbones  # backbones imports this module

    found: dict[str, str] = {}
    for name, spec in application_backbones().items():
        found[canonical_name(name)] = spec.module
        found[canonical_name(spec.module)] = spec.module
    return found


def canonical_name(name: str) -> str:
    """Name compared ignoring case, ``_``, ``-`` and ``.``: ``"MobileNet_V2"`` -> ``"mobilenetv2"``."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def choice_names() -> list[str]:
    """Every accepted ``--preprocess`` name: the conventions, then the ``keras.applications`` families."""
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

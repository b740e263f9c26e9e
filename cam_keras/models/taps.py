"""Read tensors inside a model's own forward pass: the target activation and the logits.

Gradient methods need the activation of a layer and the pre-activation scores (located by
:func:`cam_keras.models.outputs.read_output`) *from the same forward pass*, even when the
layer sits inside a nested backbone. Instead of rebuilding the model (which breaks on nested
models), :func:`capture` wraps the chosen layers' ``call`` while the model runs (inside
``tf.function`` tracing that is once), records what flows through, and restores the layers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import keras
import tensorflow as tf

from cam_keras.models.graph import GraphCursor, find_layer, last_feature_map

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tap:
    """The ``"input"`` or ``"output"`` of one layer."""

    layer: keras.layers.Layer
    where: str = "output"


@contextlib.contextmanager
def capture(taps: Mapping[str, Tap]) -> Iterator[dict[str, tf.Tensor]]:
    """Record each tap's tensor while the model runs inside the ``with`` block.

    Example:
        >>> with capture({"act": Tap(model.get_layer("conv5_block3_out"))}) as recorded:
        ...     model(images)
        >>> recorded["act"].shape
        TensorShape([8, 7, 7, 2048])
    """
    recorded: dict[str, tf.Tensor] = {}
    originals = {}
    for name, tap in taps.items():
        layer = tap.layer
        if id(layer) not in originals:
            originals[id(layer)] = (layer, layer.__dict__.get("call"))
        inner = layer.call

        def hooked(*args, _inner=inner, _name=name, _where=tap.where, **kwargs):
            output = _inner(*args, **kwargs)
            recorded[_name] = args[0] if _where == "input" else output
            return output

        layer.call = hooked
    try:
        yield recorded
    finally:
        for layer, original in originals.values():
            if original is None:
                del layer.call
            else:
                layer.call = original


def _layer_of(cursor: GraphCursor, what: str) -> keras.layers.Layer:
    found = cursor.producer()
    if found is None:
        raise ValueError(f"{what} is a model input, not a layer output")
    return found[0]


def resolve_target_layer(model: keras.Model, target_layer: str | keras.layers.Layer | None = None) -> Tap:
    """The layer whose output a gradient method explains.

    ``None`` picks the last 4-D feature map before the head (walking nested models);
    a name may be plain (``"conv5_block3_out"``, searched in nested models) or a path
    (``"resnet50/conv5_block3_out"``).

    Example:
        >>> resolve_target_layer(model, "conv4_block6_out").layer.name
        'conv4_block6_out'
    """
    if isinstance(target_layer, keras.layers.Layer):
        return Tap(target_layer)
    cursor = find_layer(model, target_layer) if target_layer else last_feature_map(model)
    layer = _layer_of(cursor, "the target tensor")
    if len(layer.output.shape) != 4:
        raise ValueError(f"target layer {layer.name!r} outputs shape {layer.output.shape}; pick a 4-D feature map")
    if target_layer is None:
        logger.info("target layer: %s (last 4-D feature map)", cursor.layer_path)
    return Tap(layer)

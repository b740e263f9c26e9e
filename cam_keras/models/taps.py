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

from cam_keras.compat import sublayers
from cam_keras.models.graph import GraphCursor, find_layer, is_feature_map, last_feature_map, nearest_upstream

logger = logging.getLogger(__name__)


#: layers that read every token, so every token gets gradients (unlike a class-token readout).
TOKEN_READERS = (
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalMaxPooling1D,
    keras.layers.Flatten,
    keras.layers.Reshape,
)


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
            recorded[_name] = (args[0] if args else _main_input(kwargs)) if _where == "input" else output
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


def _attention_in(layer: keras.layers.Layer) -> keras.layers.MultiHeadAttention | None:
    """``layer`` if it is an attention layer, else the last attention layer inside it (a
    transformer encoder written as one layer, like keras-hub's ``ViTEncoder``)."""
    if isinstance(layer, keras.layers.MultiHeadAttention):
        return layer
    inner = [each for each in sublayers(layer) if isinstance(each, keras.layers.MultiHeadAttention)]
    return inner[-1] if inner else None


def _before_last_attention(cursor: GraphCursor) -> Tap:
    """The query tokens of the last attention layer before ``cursor``: after it, tokens other
    than the one a class-token head reads cannot change the logits, so gradients there vanish."""
    found = nearest_upstream(cursor, lambda layer: _attention_in(layer) is not None)
    if found is None:
        logger.warning(
            "no attention layer found before %s: tokens the head does not read may get no gradient; "
            "choose the tokens with target_layer",
            cursor.layer_path,
        )
        return Tap(_layer_of(cursor, "the token tensor"))
    attention = _attention_in(found.producer()[0])
    logger.info("target layer: the query tokens of %r (last attention before the token readout)", attention.name)
    return Tap(attention, "input")


def resolve_target_layer(model: keras.Model, target_layer: str | keras.layers.Layer | None = None) -> Tap:
    """The layer whose output a gradient method explains.

    ``None`` picks the last feature map before the head (walking nested models): a 4-D
    tensor, or a transformer's tokens on their patch grid (:mod:`cam_keras.models.tokens`);
    when the head reads one token (a class token) rather than all of them, the query tokens of
    the last attention layer. A name may be plain (``"conv5_block3_out"``, searched in nested
    models) or a path (``"resnet50/conv5_block3_out"``).

    Example:
        >>> resolve_target_layer(model, "conv4_block6_out").layer.name
        'conv4_block6_out'
    """
    if isinstance(target_layer, keras.layers.Layer):
        return Tap(target_layer)
    if target_layer:
        cursor = find_layer(model, target_layer)
    else:
        cursor, reader = last_feature_map(model)
        if len(cursor.tensor.shape) == 3 and not isinstance(reader, TOKEN_READERS):
            return _before_last_attention(cursor)
    layer = _layer_of(cursor, "the target tensor")
    if not is_feature_map(cursor.tensor, tuple(model.inputs[0].shape[1:3])):
        raise ValueError(
            f"target layer {layer.name!r} outputs shape {cursor.tensor.shape}; pick a 4-D feature map "
            "or a transformer's tokens on a patch grid"
        )
    if target_layer is None:
        logger.info("target layer: %s (last feature map)", cursor.layer_path)
    return Tap(layer)


def _main_input(kwargs: dict) -> object:
    """The input of a layer called with keywords only: ``query`` for attention (whose
    ``value`` may come first), ``inputs`` for most layers, else the first keyword."""
    for name in ("query", "inputs"):
        if name in kwargs:
            return kwargs[name]
    return next(iter(kwargs.values()))

r"""Fold the layers between global average pooling and the logits into one kernel.

At inference every layer accepted there is affine in its input: Dropout-like layers (the
identity), BatchNormalization (moving statistics), Rescaling, Normalization, Dense without
activation and the final Dense. So is LayerNormalization once the statistics of *its* input
are held at those of the image's pooled vector :math:`p = \operatorname{mean}_x f(x)`. The head
is then

.. math:: \text{logits} = r\,(p K) + B

with one kernel :math:`K` ``(channels, classes)`` made of weights alone, and a per-image scale
:math:`r` and bias :math:`B` (without LayerNormalization :math:`r = 1` and :math:`B` is the
folded bias, the same for every image). The class map is :math:`M(x) = r\, f(x) K`; as
:math:`K` is linear, :math:`\operatorname{mean}_x M + B = \text{logits}` exactly.

LayerNormalization of :math:`z` (:math:`d` channels) is
:math:`\gamma \odot (z - \bar z \mathbf 1) / s + \beta` with :math:`s = \sqrt{\operatorname{var}(z) + \epsilon}`.
Centering is linear: :math:`z - \bar z \mathbf 1 = z C`, :math:`C = I - \mathbf 1 \mathbf 1^\top / d`,
and :math:`s` is a per-image scalar, so LN is :math:`(z C \operatorname{diag}\gamma) / s + \beta`:
:math:`C \operatorname{diag}\gamma` goes into :math:`K`, :math:`1/s` (computed on the image's
pooled vector) into :math:`r`, :math:`\beta` into :math:`B`. Each location's feature is thus
centered on its own channel mean (whose spatial mean is the pooled mean :math:`\bar z`) and
scaled by the pooled scale :math:`1/s`: a part of a location's features that is equal across
channels, which LN removes, gets no share of the logit.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

#: layers that are the identity at inference.
IDENTITY_AT_INFERENCE = (
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.ActivityRegularization,
    keras.layers.Identity,
)
#: layers folded into the kernel (besides the identities), when :func:`foldable` accepts them.
FOLDABLE = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.Rescaling,
    keras.layers.Normalization,
    keras.layers.Dense,
    keras.layers.Activation,
)


def _last_axis_only(layer: keras.layers.Layer) -> bool:
    axis = getattr(layer, "axis", -1)
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    return axes in ([-1], [1])  # the channel axis of a (batch, channels) vector


def foldable(layer: keras.layers.Layer) -> bool:
    """Whether ``layer``, applied to a pooled ``(batch, channels)`` vector, folds into the kernel:
    per-channel normalizations, Rescaling, and Dense or Activation without a nonlinearity."""
    if isinstance(layer, IDENTITY_AT_INFERENCE):
        return True
    if isinstance(layer, (keras.layers.Dense, keras.layers.Activation)):
        return keras.activations.serialize(layer.activation) == "linear"
    if isinstance(layer, keras.layers.LayerNormalization) and layer.rms_scaling:
        return False
    if isinstance(layer, keras.layers.Normalization) and layer.invert:
        return False
    return isinstance(layer, FOLDABLE) and _last_axis_only(layer)


def _vector(value: object, width: int) -> tf.Tensor:
    return tf.broadcast_to(tf.reshape(tf.cast(value, tf.float32), [-1]), [width])


def _affine(layer: keras.layers.Layer, width: int) -> tuple[tf.Tensor | None, tf.Tensor | None, tf.Tensor | None]:
    """``(scale, matrix, shift)`` of an affine layer: ``x -> (x * scale) @ matrix + shift``
    (``None`` parts are absent), read from its current weights in float32."""
    if isinstance(layer, keras.layers.Dense):
        shift = tf.cast(layer.bias, tf.float32) if layer.use_bias else None
        return None, tf.cast(layer.kernel, tf.float32), shift
    if isinstance(layer, keras.layers.BatchNormalization):  # inference: moving statistics
        scale = tf.math.rsqrt(tf.cast(layer.moving_variance, tf.float32) + layer.epsilon)
        if layer.scale:
            scale *= tf.cast(layer.gamma, tf.float32)
        shift = -tf.cast(layer.moving_mean, tf.float32) * scale
        return scale, None, shift + tf.cast(layer.beta, tf.float32) if layer.center else shift
    if isinstance(layer, keras.layers.Rescaling):
        return _vector(layer.scale, width), None, _vector(layer.offset, width)
    if isinstance(layer, keras.layers.Normalization):  # keras: (x - mean) / max(sqrt(var), epsilon)
        scale = 1.0 / tf.maximum(tf.sqrt(_vector(layer.variance, width)), keras.backend.epsilon())
        return scale, None, -_vector(layer.mean, width) * scale
    return None, None, None  # the identity


def _times(left: tf.Tensor, scale: tf.Tensor | None, matrix: tf.Tensor | None) -> tf.Tensor:
    """``(left * scale) @ matrix`` with absent parts skipped."""
    left = left if scale is None else left * scale
    return left if matrix is None else tf.tensordot(left, matrix, axes=1)


def _plus(tensor: tf.Tensor, shift: tf.Tensor | None) -> tf.Tensor:
    return tensor if shift is None else tensor + shift


def _centered(tensor: tf.Tensor, axis: int) -> tf.Tensor:
    return tensor - tf.reduce_mean(tensor, axis=axis, keepdims=True)


def _normalize(
    layer: keras.layers.LayerNormalization, value: tf.Tensor, shift: tf.Tensor | None
) -> tuple[tf.Tensor, tf.Tensor | None, tf.Tensor, tf.Tensor | None]:
    """LayerNormalization with the statistics of ``value`` (the pooled vectors after the layers
    before it): its output, the new shift, ``1 / s`` ``(batch, 1)`` and ``gamma``."""
    gamma = tf.cast(layer.gamma, tf.float32) if layer.scale else None
    beta = tf.cast(layer.beta, tf.float32) if layer.center else None
    inverse = tf.math.rsqrt(tf.math.reduce_variance(value, axis=1, keepdims=True) + layer.epsilon)
    value = _plus(_times(_centered(value, 1), gamma, None) * inverse, beta)
    if shift is not None:
        shift = _plus(_times(_centered(shift, -1), gamma, None) * inverse, beta)
    return value, shift if shift is not None else beta, inverse, gamma


def fold(
    layers: Sequence[keras.layers.Layer], kernel: tf.Tensor, bias: tf.Tensor, pooled: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """The head ``layers`` (in order, each :func:`foldable`), then ``kernel`` and ``bias``,
    folded at the pooled vectors ``pooled`` ``(batch, channels)``: see the module docstring.

    Returns:
        ``K`` ``(channels, classes)``, ``r`` ``(batch,)`` and ``B`` ``(batch, classes)``, float32,
        with ``logits = r * (pooled @ K) + B``.
    """
    value, shift, scale = pooled, None, tf.ones_like(pooled[:, :1])
    linear_parts = []  # (kind, scale, matrix) of each layer, kind "affine" or "normalize"
    for layer in layers:
        if isinstance(layer, keras.layers.LayerNormalization):
            value, shift, inverse, gamma = _normalize(layer, value, shift)
            scale *= inverse
            linear_parts.append(("normalize", gamma, None))
        else:
            factor, matrix, offset = _affine(layer, value.shape[-1])
            value = _plus(_times(value, factor, matrix), offset)
            shift = offset if shift is None else _plus(_times(shift, factor, matrix), offset)
            linear_parts.append(("affine", factor, matrix))
    folded_bias = _plus(tf.matmul(tf.broadcast_to(shift, tf.shape(value)), kernel), bias) if shift is not None else bias
    for kind, factor, matrix in reversed(linear_parts):  # K = L_1 L_2 ... L_n kernel
        kernel = kernel if matrix is None else tf.matmul(matrix, kernel)
        kernel = kernel if factor is None else factor[:, None] * kernel
        kernel = _centered(kernel, 0) if kind == "normalize" else kernel  # C diag(gamma) kernel
    return kernel, scale[:, 0], tf.broadcast_to(folded_bias, [tf.shape(pooled)[0], tf.shape(kernel)[1]])

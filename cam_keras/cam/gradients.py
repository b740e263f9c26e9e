"""Gradient-based maps for any Keras classifier: Grad-CAM, Grad-CAM++ and Layer-CAM.

They share one forward-and-backward pass (:class:`GradientCAM`) and differ only in how the
activations :math:`A` and gradients :math:`G = \\partial y_c / \\partial A` of the target
layer are combined into a map.
"""

from __future__ import annotations

import abc

import keras
import tensorflow as tf

from cam_keras.cam.base import BaseCAM
from cam_keras.cam.targets import select_classes
from cam_keras.models.outputs import read_output
from cam_keras.models.taps import capture, resolve_target_layer

EPSILON = 1e-7


class TapForward(BaseCAM):
    """A :class:`BaseCAM` that reads the target layer's activation and the logits from one
    forward pass of the unmodified model (see :mod:`cam_keras.models.taps`).

    Args:
        model: any Keras classifier taking ``(batch, H, W, 3)`` images.
        target_layer: layer name, path or object; ``None`` for the last 4-D feature map.
        jit_compile: compile with XLA.
    """

    def __init__(self, model: keras.Model, target_layer: str | keras.layers.Layer | None = None, *, jit_compile: bool = False) -> None:
        self.target = resolve_target_layer(model, target_layer)
        self.logits_tap = read_output(model)
        super().__init__(model, jit_compile=jit_compile)

    @property
    def target_layer_name(self) -> str:
        return self.target.layer.name

    def _forward(self, images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(activations (batch, h, w, k), logits (batch, classes) float32)``."""
        with capture({"target": self.target, "logits": self.logits_tap.tap}) as recorded:
            self.model(images, training=False)
        return recorded["target"], self.logits_tap.logits(recorded["logits"])


class GradientCAM(TapForward):
    """Base of the gradient methods: one forward pass, one backward pass per explained class."""

    def _raw_maps(self, images, indices, num_targets, all_classes):
        with tf.GradientTape(persistent=True) as tape:
            activations, logits = self._forward(images)
            selected = select_classes(logits, indices, num_targets, all_classes)
            scores = tf.gather(logits, selected, batch_dims=1)
            per_target = [scores[:, j] for j in range(num_targets)]
        maps = []
        for score in per_target:
            gradients = tf.cast(tape.gradient(score, activations), tf.float32)
            maps.append(self._combine(tf.cast(activations, tf.float32), gradients))
        del tape
        return tf.stack(maps, axis=-1), logits, selected

    @abc.abstractmethod
    def _combine(self, activations: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
        """One map ``(batch, h, w)`` from ``activations`` and ``gradients`` ``(batch, h, w, k)``."""


class GradCAM(GradientCAM):
    r"""Grad-CAM (Selvaraju et al., ICCV 2017).

    .. math:: \alpha_k = \frac{1}{hw}\sum_{x,y} G_k(x, y), \qquad
              M = \operatorname{ReLU}\Big(\sum_k \alpha_k A_k\Big)

    On a GAP -> Dense model with the GAP input as target, :math:`G_k = w_k^c / hw`, so Grad-CAM
    equals :math:`\operatorname{ReLU}(\text{CAM}_c) / hw`.

    Example:
        >>> GradCAM(model, target_layer="conv5_block3_out")(images).show()
    """

    method = "gradcam"

    def _combine(self, activations, gradients):
        weights = tf.reduce_mean(gradients, axis=[1, 2], keepdims=True)
        return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))


class GradCAMPlusPlus(GradientCAM):
    r"""Grad-CAM++ (Chattopadhay et al., WACV 2018), with the exponential-score closed form.

    .. math:: a_k(x, y) = \frac{G_k^2}{2 G_k^2 + \sum_{x',y'} A_k(x', y')\, G_k^3}, \qquad
              \alpha_k = \sum_{x,y} a_k(x, y)\, \operatorname{ReLU}(G_k(x, y)), \qquad
              M = \operatorname{ReLU}\Big(\sum_k \alpha_k A_k\Big)

    Example:
        >>> GradCAMPlusPlus(model)(images, top_k=2).show()
    """

    method = "gradcam++"

    def _combine(self, activations, gradients):
        squared = gradients**2
        denominator = 2.0 * squared + tf.reduce_sum(activations, axis=[1, 2], keepdims=True) * squared * gradients
        ratio = tf.where(gradients != 0.0, squared / tf.where(denominator == 0.0, EPSILON, denominator), 0.0)
        weights = tf.reduce_sum(ratio * tf.nn.relu(gradients), axis=[1, 2], keepdims=True)
        return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))


class LayerCAM(GradientCAM):
    r"""Layer-CAM (Jiang et al., IEEE TIP 2021): pixel-wise positive gradients as weights.

    .. math:: M = \operatorname{ReLU}\Big(\sum_k \operatorname{ReLU}(G_k) \odot A_k\Big)

    Example:
        >>> LayerCAM(model, target_layer="conv3_block4_out")(images).show()  # finer, earlier layer
    """

    method = "layercam"

    def _combine(self, activations, gradients):
        return tf.nn.relu(tf.reduce_sum(tf.nn.relu(gradients) * activations, axis=-1))

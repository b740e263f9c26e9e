r"""Gradient methods for any Keras classifier: Grad-CAM, Grad-CAM++, XGrad-CAM, Layer-CAM.

They share one forward pass and one backward pass per map (:class:`GradientCAM`) and differ
only in how the target layer's activations :math:`A` and the gradients
:math:`G = \partial y / \partial A` of the explained score :math:`y` (a class logit, or a
function of the logits) become a map.
"""

from __future__ import annotations

import abc

import tensorflow as tf

from cam_keras.cam.base import BaseCAM, Forward
from cam_keras.cam.targets import Targets

EPSILON = 1e-7


class GradientCAM(BaseCAM):
    """Base of the gradient methods: a method defines :meth:`_combine`."""

    def _maps(self, images: tf.Tensor, forward: Forward, targets: Targets) -> tf.Tensor:
        size = images.shape[1:3]
        gradients = [self.feature_map(each, size) for each in targets.gradients(forward.recorded)]
        maps = [self._combine(forward.activations, each) for each in gradients]
        return tf.stack(maps, axis=-1)

    @abc.abstractmethod
    def _combine(self, activations: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
        """One map ``(batch, h, w)`` from ``activations`` and ``gradients`` ``(batch, h, w, k)`` float32."""


class GradCAM(GradientCAM):
    r"""Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization", ICCV 2017).

    .. math:: \alpha_k = \frac{1}{hw}\sum_{x,y} G_k(x, y), \qquad
              M = \operatorname{ReLU}\Big(\sum_k \alpha_k A_k\Big)

    On a GAP -> Dense model with the GAP input as target, :math:`G_k = w_k^c / hw`, so Grad-CAM
    equals :math:`\operatorname{ReLU}(\text{CAM}_c) / hw`.

    Example:
        >>> GradCAM(model, target_layer="conv5_block3_out")(images).show()  # doctest: +SKIP
    """

    method = "gradcam"

    def _combine(self, activations: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
        weights = tf.reduce_mean(gradients, axis=[1, 2], keepdims=True)
        return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))


class GradCAMPlusPlus(GradientCAM):
    r"""Grad-CAM++ (Chattopadhay et al., "Grad-CAM++: Generalized Gradient-based Visual
    Explanations for Deep Convolutional Networks", WACV 2018), exponential-score closed form.

    .. math:: a_k(x, y) = \frac{G_k^2}{2 G_k^2 + \sum_{x',y'} A_k(x', y')\, G_k^3}, \qquad
              \alpha_k = \sum_{x,y} a_k(x, y)\, \operatorname{ReLU}(G_k(x, y)), \qquad
              M = \operatorname{ReLU}\Big(\sum_k \alpha_k A_k\Big)

    Example:
        >>> GradCAMPlusPlus(model)(images, top_k=2).show()  # doctest: +SKIP
    """

    method = "gradcam++"

    def _combine(self, activations: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
        squared = gradients**2
        denominator = 2.0 * squared + tf.reduce_sum(activations, axis=[1, 2], keepdims=True) * squared * gradients
        ratio = tf.where(gradients != 0.0, squared / tf.where(denominator == 0.0, EPSILON, denominator), 0.0)
        weights = tf.reduce_sum(ratio * tf.nn.relu(gradients), axis=[1, 2], keepdims=True)
        return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))


class XGradCAM(GradientCAM):
    r"""XGrad-CAM (Fu et al., "Axiom-based Grad-CAM: Towards Accurate Visualization and
    Explanation of CNNs", BMVC 2020): gradients averaged with the activations as weights.

    .. math:: \alpha_k = \sum_{x,y} \frac{A_k(x, y)}{\sum_{x',y'} A_k(x', y')}\, G_k(x, y), \qquad
              M = \operatorname{ReLU}\Big(\sum_k \alpha_k A_k\Big)

    Example:
        >>> import cam_keras, numpy as np
        >>> model = cam_keras.build_model("small_cnn", class_names=["cat", "dog"], input_size=32, base_channels=8)
        >>> explanation = XGradCAM(model, target_layer="conv5_relu")(np.zeros((2, 32, 32, 3)), classes="dog")
        >>> explanation.raw_maps.shape, explanation.labels(1)
        ((2, 1, 8, 8), ['dog'])
    """

    method = "xgradcam"

    def _combine(self, activations: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
        totals = tf.reduce_sum(activations, axis=[1, 2], keepdims=True) + EPSILON
        weights = tf.reduce_sum(activations * gradients / totals, axis=[1, 2], keepdims=True)
        return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))


class LayerCAM(GradientCAM):
    r"""Layer-CAM (Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for
    Localization", IEEE TIP 2021): pixel-wise positive gradients as weights.

    .. math:: M = \operatorname{ReLU}\Big(\sum_k \operatorname{ReLU}(G_k) \odot A_k\Big)

    Example:
        >>> LayerCAM(model, target_layer="conv3_block4_out")(images).show()  # doctest: +SKIP
    """

    method = "layercam"

    def _combine(self, activations: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
        return tf.nn.relu(tf.reduce_sum(tf.nn.relu(gradients) * activations, axis=-1))

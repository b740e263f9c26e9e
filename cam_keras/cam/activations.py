r"""Activation methods: maps as channel-weighted sums of the target layer's activations,
:math:`M = \sum_k \alpha_k A_k`, with weights that need no gradients (CAM, Score-CAM,
Eigen-CAM). A method defines :meth:`ActivationCAM._channel_weights`.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import tensorflow as tf

from cam_keras.cam.base import BaseCAM, Forward
from cam_keras.cam.targets import Targets


class ActivationCAM(BaseCAM):
    """Base of the activation methods. ``rectify``: apply ReLU to the weighted sum."""

    rectify: ClassVar[bool] = False

    def _maps(self, images: tf.Tensor, forward: Forward, targets: Targets) -> tf.Tensor:
        weights = self._channel_weights(images, forward, targets)  # (batch, k, n)
        maps = tf.einsum("bhwk,bkn->bhwn", forward.activations, weights)
        return tf.nn.relu(maps) if self.rectify else maps

    @abc.abstractmethod
    def _channel_weights(self, images: tf.Tensor, forward: Forward, targets: Targets) -> tf.Tensor:
        """Weights ``(batch, k, n)`` of the ``k`` channels for each of the ``n`` targets."""


class EigenCAM(ActivationCAM):
    r"""Eigen-CAM (Muhammad & Yeasin, "Eigen-CAM: Class Activation Map using Principal
    Components", IJCNN 2020): the activations projected on their first principal direction.

    With :math:`A` reshaped to :math:`(hw, k)` and :math:`A = U \Sigma V^\top`,

    .. math:: M = A\, v_1

    where :math:`v_1` is the first right singular vector, its sign chosen so that
    :math:`\sum M \ge 0` (as in the paper, :math:`A` is not centered). The map does not depend
    on the class: every target of an image gets the same map. No gradients, no extra pass.

    Example:
        >>> import cam_keras, numpy as np
        >>> model = cam_keras.build_model("small_cnn", class_names=["cat", "dog"], input_size=32, base_channels=8)
        >>> explanation = EigenCAM(model)(np.random.default_rng(0).uniform(0, 255, (32, 32, 3)), top_k=2)
        >>> np.allclose(explanation.maps[0, 0], explanation.maps[0, 1])  # one map for every class
        True
    """

    method = "eigencam"

    def _channel_weights(self, images: tf.Tensor, forward: Forward, targets: Targets) -> tf.Tensor:
        shape = tf.shape(forward.activations)
        flat = tf.reshape(forward.activations, [shape[0], shape[1] * shape[2], shape[3]])
        _, _, v = tf.linalg.svd(flat)  # v: (batch, k, min(hw, k)), singular values descending
        first = v[:, :, 0]
        first *= tf.where(tf.reduce_sum(tf.linalg.matvec(flat, first), axis=1, keepdims=True) < 0.0, -1.0, 1.0)
        return tf.tile(first[:, :, None], [1, 1, targets.classes.shape[1]])

"""Class Activation Mapping (Zhou et al., CVPR 2016)."""

from __future__ import annotations

import keras
import tensorflow as tf

from cam_keras.cam.activations import ActivationCAM
from cam_keras.cam.base import Forward
from cam_keras.cam.targets import Targets
from cam_keras.errors import UsageError
from cam_keras.models.head import find_cam_head
from cam_keras.models.taps import Tap, resolve_target_layer


class CAM(ActivationCAM):
    r"""Class Activation Mapping for models with a GAP -> Dense head.

    With feature maps :math:`A_k` at the GAP input and Dense kernel :math:`w^c_k`,

    .. math:: M_c(x, y) = \sum_k w^c_k A_k(x, y) \quad (+\, b_c \text{ if include\_bias})

    so that :math:`\operatorname{mean}_{x,y} M_c + b_c = \text{logit}_c`. One forward pass
    gives features and logits; the maps cost one small matrix product.

    Reference: B. Zhou et al., "Learning Deep Features for Discriminative Localization",
    CVPR 2016.

    Args:
        model: a classifier whose output is ``GlobalAveragePooling2D -> Dense`` (optionally
            followed by softmax), possibly nested inside other models.
        target_layer: always the GAP input; naming another layer is an error (use a
            gradient method there).
        include_bias: add the class bias :math:`b_c` to each raw map.
        flip_average: see :class:`BaseCAM`. Cancels left-right biases of the learned maps
            (demo, flat shapes: top-1 localization +0.02 to +0.06 in each of six runs;
            textured shapes, whose maps are already even: +0 to +0.005).
        jit_compile: compile with XLA.
        resize: see :class:`BaseCAM`.

    Raises:
        HeadNotFoundError: the model has no such head (use :class:`GradCAM`).

    Example:
        >>> explanation = CAM(model)(images, classes="all")  # doctest: +SKIP
        >>> explanation.raw_maps.shape  # (batch, classes, h, w)  # doctest: +SKIP
    """

    method = "cam"
    accepts_functions = False

    def __init__(
        self,
        model: keras.Model,
        target_layer: str | keras.layers.Layer | None = None,
        *,
        include_bias: bool = False,
        flip_average: bool = False,
        jit_compile: bool = False,
        resize: str | None = None,
    ) -> None:
        self.head = find_cam_head(model)
        self.include_bias = include_bias
        super().__init__(model, target_layer, flip_average=flip_average, jit_compile=jit_compile, resize=resize)

    def _target_tap(self, model: keras.Model, target_layer: str | keras.layers.Layer | None) -> Tap:
        tap = resolve_target_layer(model, self.head.feature_path)
        if target_layer is not None and resolve_target_layer(model, target_layer).layer is not tap.layer:
            raise UsageError(
                f"CAM maps the GAP input {self.head.feature_path!r}; for target layer "
                f"{getattr(target_layer, 'name', target_layer)!r} use a gradient method (e.g. --method gradcam)"
            )
        return tap

    def _maps(self, images: tf.Tensor, forward: Forward, targets: Targets) -> tf.Tensor:
        kernel, bias = self.head.kernel_and_bias()  # a single-unit binary head as two classes
        if targets.classes.shape[1] < kernel.shape[1]:
            maps = super()._maps(images, forward, targets)
        else:  # every class (or more maps than classes): one product, then pick
            every = tf.tensordot(forward.activations, kernel, axes=1)
            maps = tf.gather(every, targets.classes, axis=3, batch_dims=1)
        if self.include_bias:
            maps += tf.gather(bias, targets.classes)[:, None, None, :]
        return maps

    def _channel_weights(self, images: tf.Tensor, forward: Forward, targets: Targets) -> tf.Tensor:
        kernel, _ = self.head.kernel_and_bias()  # (k, classes)
        return tf.transpose(tf.gather(kernel, targets.classes, axis=1), [1, 0, 2])

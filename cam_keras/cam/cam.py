"""Class Activation Mapping (Zhou et al., CVPR 2016)."""

from __future__ import annotations

import keras
import tensorflow as tf

from cam_keras.cam.activations import ActivationCAM
from cam_keras.cam.augmentation import MapAugmentation
from cam_keras.cam.base import Forward
from cam_keras.cam.targets import Targets
from cam_keras.errors import UsageError, option
from cam_keras.models.head import find_cam_head
from cam_keras.models.taps import Tap


class CAM(ActivationCAM):
    r"""Class Activation Mapping for models with a CAM head: global average pooling, then
    layers affine at inference, then the logits (see :mod:`cam_keras.models.head`).

    With feature maps :math:`A_k` at the pooling input and the head folded into a kernel
    :math:`w^c_k`, a per-image scale :math:`r` and bias :math:`b_c`
    (:mod:`cam_keras.models.fold`; a plain ``GAP -> Dense`` head: its kernel, :math:`r = 1` and its bias),

    .. math:: M_c(x, y) = r \sum_k w^c_k A_k(x, y) \quad (+\, b_c \text{ if include\_bias})

    so that :math:`\operatorname{mean}_{x,y} M_c + b_c = \text{logit}_c`. With
    ``clamp_negative_weights`` the sum runs over :math:`\max(w^c_k, 0)` instead (Bae et al.,
    "Rethinking Class Activation Mapping for Weakly Supervised Object Localization", ECCV 2020:
    channels that speak against the class otherwise dig holes in the object's map); the
    identity with the logit then no longer holds. For class channels
    pooled into the logits (NiN, SqueezeNet), :math:`w` is the identity and :math:`b = 0`: the map
    is the class's channel. A transformer's tokens are mapped on their patch grid. One forward
    pass gives features and logits; the maps cost one small matrix product.

    Reference: B. Zhou et al., "Learning Deep Features for Discriminative Localization",
    CVPR 2016.

    Args:
        model: a classifier with a CAM head, possibly nested inside other models.
        target_layer: always the pooling input; naming another layer is an error (use a
            gradient method there).
        include_bias: add the class bias :math:`b_c` to each raw map.
        clamp_negative_weights: use :math:`\max(w^c_k, 0)` as class weights (see above).
        augmentation: see :class:`BaseCAM`. Its mirrors cancel left-right biases of the
            learned maps (demo, flat shapes: top-1 localization +0.02 to +0.06 in each of six
            runs; textured shapes, whose maps are already even: +0 to +0.005).
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
        clamp_negative_weights: bool = False,
        augmentation: MapAugmentation | None = None,
        jit_compile: bool = False,
        resize: str | None = None,
    ) -> None:
        self.head = find_cam_head(model)
        self.include_bias = include_bias
        self.clamp_negative_weights = clamp_negative_weights
        super().__init__(model, target_layer, augmentation=augmentation, jit_compile=jit_compile, resize=resize)

    def _target_tap(self, model: keras.Model, target_layer: str | keras.layers.Layer | None) -> Tap:
        """The pooling layer's input: also when an operation (``x + y``), not a layer, makes it."""
        name = getattr(target_layer, "name", target_layer)
        if target_layer is not None and name not in (self.head.feature_path, self.head.feature_path.split("/")[-1]):
            raise UsageError(
                f"CAM maps the pooling input {self.head.feature_path!r}; for target layer "
                f"{name!r} use a gradient method (e.g. {option('method', 'gradcam')})"
            )
        return Tap(self.head.pooling, "input")

    @property
    def target_layer_name(self) -> str:
        """Name of the layer (or operation) making the pooling input, the last part of
        :attr:`CamHead.feature_path`."""
        return self.head.feature_path.split("/")[-1]

    def _maps(self, images: tf.Tensor, forward: Forward, targets: Targets) -> tf.Tensor:
        kernel, scale, bias = self._folded(forward)
        if targets.classes.shape[1] < kernel.shape[1]:
            maps = super()._maps(images, forward, targets)
        else:  # every class (or more maps than classes): one product, then pick
            every = tf.tensordot(forward.activations, kernel, axes=1) * scale[:, None, None, None]
            maps = tf.gather(every, targets.classes, axis=3, batch_dims=1)
        if self.include_bias:
            maps += tf.gather(bias, targets.classes, batch_dims=1)[:, None, None, :]
        return maps

    def _channel_weights(self, images: tf.Tensor, forward: Forward, targets: Targets) -> tf.Tensor:
        kernel, scale, _ = self._folded(forward)  # kernel (k, classes)
        return tf.transpose(tf.gather(kernel, targets.classes, axis=1), [1, 0, 2]) * scale[:, None, None]

    def _folded(self, forward: Forward) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """The head folded at this forward pass's pooled features (traced once per call),
        its kernel clamped at 0 with ``clamp_negative_weights``."""
        kernel, scale, bias = self.head.fold(tf.reduce_mean(forward.activations, axis=[1, 2]))
        return (tf.nn.relu(kernel) if self.clamp_negative_weights else kernel), scale, bias

    def clamped(self, clamp_negative_weights: bool = True) -> CAM:
        """This explainer with negative class weights clamped at 0 (or not)."""
        if clamp_negative_weights == self.clamp_negative_weights:
            return self
        return self._twin(clamp_negative_weights=clamp_negative_weights)

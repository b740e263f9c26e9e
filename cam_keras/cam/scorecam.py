"""Score-CAM (Wang et al., CVPRW 2020): channel weights from masked forward passes."""

from __future__ import annotations

import keras
import tensorflow as tf

from cam_keras.cam.activations import ActivationCAM
from cam_keras.cam.augmentation import MapAugmentation
from cam_keras.cam.base import Forward
from cam_keras.cam.maps import normalize_maps
from cam_keras.cam.targets import Targets


class ScoreCAM(ActivationCAM):
    r"""Score-CAM (Wang et al., "Score-CAM: Score-Weighted Visual Explanations for
    Convolutional Neural Networks", CVPR Workshops 2020): each channel, upsampled and scaled to
    [0, 1], masks the input; the target scores of the masked images, softmaxed over channels,
    weight the channels.

    .. math:: H_k = \operatorname{norm}(\operatorname{up}(A_k)), \quad
              \alpha_k = \operatorname{softmax}_k\big(y(X \odot H_k)\big), \quad
              M = \operatorname{ReLU}\Big(\sum_k \alpha_k A_k\Big)

    Costs one forward pass per channel and image (batched by ``mask_batch_size``); no gradients.
    Weights follow pytorch-grad-cam (softmax over channels of the masked logits).

    Args:
        mask_batch_size: masked images per forward pass.

    Example:
        >>> ScoreCAM(model, mask_batch_size=32)(images[:4]).show()  # doctest: +SKIP
    """

    method = "scorecam"
    rectify = True

    def __init__(
        self,
        model: keras.Model,
        target_layer: str | keras.layers.Layer | None = None,
        *,
        mask_batch_size: int = 64,
        augmentation: MapAugmentation | None = None,
        jit_compile: bool = False,
        resize: str | None = None,
    ) -> None:
        self.mask_batch_size = mask_batch_size
        super().__init__(model, target_layer, augmentation=augmentation, jit_compile=jit_compile, resize=resize)

    def _masked_logits(self, image: tf.Tensor, masks: tf.Tensor) -> tf.Tensor:
        """Logits ``(k, classes)`` of ``image (H, W, 3)`` times each mask of ``(H, W, k)``."""
        masks = tf.transpose(masks, [2, 0, 1])[..., None]
        chunks = [
            self.forward(image[None] * masks[start : start + self.mask_batch_size]).logits
            for start in range(0, masks.shape[0], self.mask_batch_size)
        ]
        return tf.concat(chunks, axis=0)

    def _channel_weights(self, images: tf.Tensor, forward: Forward, targets: Targets) -> tf.Tensor:
        activations = forward.activations
        masks = normalize_maps(tf.image.resize(activations, images.shape[1:3], method="bilinear"))
        logits = tf.map_fn(
            lambda pair: self._masked_logits(pair[0], pair[1]),
            (images, masks),
            fn_output_signature=tf.TensorSpec([activations.shape[-1], forward.logits.shape[-1]], tf.float32),
        )  # (batch, k, classes)
        return tf.nn.softmax(targets.scores_of(logits), axis=1)

"""Score-CAM (Wang et al., CVPRW 2020): channel weights from masked forward passes."""

from __future__ import annotations

import keras
import tensorflow as tf

from cam_keras.cam.gradients import TapForward
from cam_keras.cam.maps import normalize_maps
from cam_keras.cam.targets import select_classes


class ScoreCAM(TapForward):
    r"""Score-CAM: each channel, upsampled and scaled to [0, 1], masks the input; the class
    logits of the masked images, softmaxed over channels, weight the channels.

    .. math:: H_k = \operatorname{norm}(\operatorname{up}(A_k)), \quad
              \alpha_k = \operatorname{softmax}_k\big(y_c(X \odot H_k)\big), \quad
              M = \operatorname{ReLU}\Big(\sum_k \alpha_k A_k\Big)

    Costs one forward pass per channel and image (batched by ``mask_batch_size``); no gradients.
    Weights follow pytorch-grad-cam (softmax over channels of the masked logits).

    Args:
        mask_batch_size: masked images per forward pass.

    Example:
        >>> ScoreCAM(model, mask_batch_size=32)(images[:4]).show()
    """

    method = "scorecam"

    def __init__(self, model: keras.Model, target_layer=None, *, mask_batch_size: int = 64, jit_compile: bool = False) -> None:
        self.mask_batch_size = mask_batch_size
        super().__init__(model, target_layer, jit_compile=jit_compile)

    def _masked_scores(self, image: tf.Tensor, masks: tf.Tensor) -> tf.Tensor:
        """Logits ``(k, classes)`` of ``image (H, W, 3)`` times each mask of ``(H, W, k)``."""
        channels = masks.shape[-1]
        masks = tf.transpose(masks, [2, 0, 1])[..., None]
        chunks = []
        for start in range(0, channels, self.mask_batch_size):
            chunks.append(self._forward(image[None] * masks[start : start + self.mask_batch_size])[1])
        return tf.concat(chunks, axis=0)

    def _raw_maps(self, images, indices, num_targets, all_classes):
        activations, logits = self._forward(images)
        activations = tf.cast(activations, tf.float32)
        selected = select_classes(logits, indices, num_targets, all_classes)
        masks = normalize_maps(tf.image.resize(activations, self.input_size, method="bilinear"))
        scores = tf.map_fn(
            lambda pair: self._masked_scores(pair[0], pair[1]),
            (images, masks),
            fn_output_signature=tf.TensorSpec([activations.shape[-1], logits.shape[-1]], tf.float32),
        )  # (batch, k, classes)
        weights = tf.nn.softmax(tf.gather(scores, selected, axis=2, batch_dims=1), axis=1)  # (batch, k, n)
        maps = tf.nn.relu(tf.einsum("bhwk,bkn->bhwn", activations, weights))
        return maps, logits, selected

"""One base explainer: forward pass, class selection, upsampling and normalization live here.

Each map method (CAM, Grad-CAM, ...) subclasses :class:`BaseCAM` and defines only
``_raw_maps``: how its maps are computed from a batch, given which classes to explain.
"""

from __future__ import annotations

import abc
from typing import ClassVar, Sequence

import keras
import numpy as np
import tensorflow as tf

from cam_keras.cam.explanation import Explanation
from cam_keras.cam.inputs import ImageLike, prepare_batch
from cam_keras.cam.maps import upsample_and_normalize
from cam_keras.cam.targets import ALL_CLASSES, ClassSpec, resolve_classes
from cam_keras.models.contract import model_contract


class BaseCAM(abc.ABC):
    """Explain a Keras image classifier with class maps.

    Args:
        model: a Keras image classifier; how images go in and what its output means is read
            by :func:`cam_keras.models.contract.model_contract` (set choices with
            :func:`cam_keras.models.contract.configure_model`).
        jit_compile: compile the whole batch computation with XLA.

    Calling the explainer returns an :class:`Explanation`; :meth:`explain_batch` is the
    array-in, arrays-out form used by pipelines.
    """

    method: ClassVar[str]

    def __init__(self, model: keras.Model, *, jit_compile: bool = False) -> None:
        self.model = model
        self.contract = model_contract(model)
        self.class_names = self.contract.class_names
        self.input_size: tuple[int, int] = self.contract.inputs.size
        self._traced = tf.function(self._explain_batch, jit_compile=jit_compile, reduce_retracing=True)

    def __call__(
        self,
        images: ImageLike | Sequence[ImageLike],
        classes: ClassSpec = None,
        *,
        top_k: int = 1,
        upsample: bool | tuple[int, int] = True,
    ) -> Explanation:
        """Explain images of any size (resized to the model input).

        Args:
            images: paths, PIL images, arrays ``(h, w)``, ``(h, w, c)`` or ``(batch, h, w, c)``
                (raw pixels, converted to the model's channels; see :func:`prepare_batch`).
            classes: ``None`` for the top-``top_k`` predictions, ``"all"``, a class name or
                index for every image, or one per image (see :func:`resolve_classes`).
            top_k: how many predicted classes to explain when ``classes`` is ``None``.
            upsample: scale ``maps`` to the model input size (``True``), to a given
                ``(height, width)``, or keep feature resolution (``False``).

        Example:
            >>> explanation = CAM(model)("photo.jpg", top_k=3)
            >>> explanation.show()
        """
        batch, originals = prepare_batch(images, self.contract.inputs)
        arrays = self.explain_batch(batch, classes, top_k=top_k, upsample=upsample)
        return Explanation(images=originals, class_names=self.class_names, method=self.method, **arrays)

    def explain_batch(
        self,
        batch: np.ndarray | tf.Tensor,
        classes: ClassSpec = None,
        *,
        top_k: int = 1,
        upsample: bool | tuple[int, int] = True,
    ) -> dict[str, np.ndarray]:
        """Maps for a batch already at model input size.

        Args:
            batch: float ``(batch, H, W, c)``, raw pixels in [0, 255] (RGB or the model's
                channels); the model's preprocessing is applied here.

        Returns:
            ``raw_maps`` ``(batch, n, h, w)``, ``maps`` ``(batch, n, H, W)`` in [0, 1],
            ``class_indices`` ``(batch, n)``, ``logits`` and ``probabilities`` ``(batch, classes)``.
        """
        selection = resolve_classes(classes, len(batch), self.class_names)
        all_classes = isinstance(selection, str) and selection == ALL_CLASSES
        indices = selection if isinstance(selection, np.ndarray) else None
        if not all_classes and indices is None and not 1 <= top_k <= len(self.class_names):
            raise ValueError(f"top_k must be between 1 and {len(self.class_names)}, got {top_k}")
        num_targets = len(self.class_names) if all_classes else top_k if indices is None else indices.shape[1]
        outputs = self._traced(
            tf.convert_to_tensor(self.contract.inputs.prepare(batch), tf.float32),
            indices,
            num_targets=num_targets,
            all_classes=all_classes,
            upsample=tuple(upsample) if isinstance(upsample, (tuple, list)) else bool(upsample),
        )
        return {name: value.numpy() for name, value in outputs.items()}

    def _explain_batch(
        self,
        images: tf.Tensor,
        indices: tf.Tensor | None,
        num_targets: int,
        all_classes: bool,
        upsample: bool | tuple[int, int],
    ) -> dict[str, tf.Tensor]:
        raw, logits, selected = self._raw_maps(images, indices, num_targets, all_classes)
        size = upsample if isinstance(upsample, tuple) else images.shape[1:3] if upsample else raw.shape[1:3]
        maps = upsample_and_normalize(raw, size)
        return {
            "raw_maps": tf.transpose(raw, [0, 3, 1, 2]),
            "maps": tf.transpose(maps, [0, 3, 1, 2]),
            "class_indices": selected,
            "logits": logits,
            "probabilities": self.contract.outputs.probabilities(logits),
        }

    @abc.abstractmethod
    def _raw_maps(
        self, images: tf.Tensor, indices: tf.Tensor | None, num_targets: int, all_classes: bool
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Compute maps inside the traced function.

        Args:
            images: ``(batch, H, W, 3)`` float32.
            indices: requested classes ``(batch, num_targets)`` or ``None``.
            num_targets: maps per image (static): the top-k when ``indices`` is ``None``.
            all_classes: map every class.

        Returns:
            ``(maps (batch, h, w, num_targets) float32, logits (batch, classes) float32,
            class indices (batch, num_targets) int32)``; select classes with
            :func:`cam_keras.cam.targets.select_classes`.
        """

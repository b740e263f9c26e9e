"""One base explainer: the forward pass, class selection, map augmentation (scales and
mirrors), upsampling and normalization live here.

A map method subclasses one of two families and defines one small function:

- :class:`~cam_keras.cam.gradients.GradientCAM`: ``_combine(activations, gradients)``;
- :class:`~cam_keras.cam.activations.ActivationCAM`: ``_channel_weights(images, forward, targets)``.

Adding a method is that class plus one line in :data:`cam_keras.cam.methods.METHODS`.
"""

from __future__ import annotations

import abc
import copy
import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from cam_keras.cam.augmentation import NO_AUGMENTATION, MapAugmentation
from cam_keras.cam.explanation import Explanation
from cam_keras.cam.inputs import ImageLike, note_assumed_resize, prepare_batch
from cam_keras.cam.maps import upsample_and_normalize
from cam_keras.cam.targets import ClassSpec, Selection, Targets, resolve_request
from cam_keras.cam.views import combine_views, rescale, scaled_size, unmirror, with_mirrors
from cam_keras.errors import CamKerasError, ModelError, UsageError
from cam_keras.models.any_size import any_input_size
from cam_keras.models.contract import model_contract
from cam_keras.models.taps import Tap, capture, resolve_target_layer
from cam_keras.models.tokens import as_feature_map

logger = logging.getLogger(__name__)


class Forward(NamedTuple):
    """What one forward pass of the model gives every method.

    Attributes:
        activations: the target layer's output ``(batch, h, w, k)`` float32 (a transformer's
            tokens on their patch grid, see :mod:`cam_keras.models.tokens`).
        logits: pre-softmax scores ``(batch, classes)`` float32.
        probabilities: the model's probabilities ``(batch, classes)`` float32.
        recorded: the target layer's output as the model computed it (what gradients are taken
            of; :meth:`BaseCAM.feature_map` turns them into maps like ``activations``).
    """

    activations: tf.Tensor
    logits: tf.Tensor
    probabilities: tf.Tensor
    recorded: tf.Tensor


class BaseCAM(abc.ABC):
    """Explain a Keras image classifier with class maps.

    Args:
        model: a Keras image classifier; how images go in and what its output means is read
            by :func:`cam_keras.models.contract.model_contract` (set choices with
            :func:`cam_keras.models.contract.configure_model`).
        target_layer: the layer whose activations are mapped: a name (searched in nested
            models), a path (``"resnet50/conv5_block3_out"``) or a layer; ``None`` for the
            method's default (the last 4-D feature map, or a transformer's tokens on their patch
            grid: see :func:`cam_keras.models.taps.resolve_target_layer`).
        augmentation: also map the image at other scales and mirrored, for the image's own
            classes, and average the maps (:class:`~cam_keras.cam.augmentation.MapAugmentation`,
            e.g. ``MapAugmentation(scales=(1.0, 1.5, 2.0), flip=True)``; one more forward pass
            per view). Logits and probabilities stay those of the image itself.
        jit_compile: compile the whole batch computation with XLA.
        resize: how pictures are fitted to the model input, ``squash``, ``crop`` or ``pad``;
            ``None`` keeps the model's contract (the policy it was trained with, else squash).

    Calling the explainer returns an :class:`Explanation`; :meth:`explain_batch` is the
    array-in, arrays-out form used by pipelines.
    """

    method: ClassVar[str]
    #: whether targets may be functions of the logits (not for methods whose weights are a class's).
    accepts_functions: ClassVar[bool] = True

    def __init__(
        self,
        model: keras.Model,
        target_layer: str | keras.layers.Layer | None = None,
        *,
        augmentation: MapAugmentation | None = None,
        jit_compile: bool = False,
        resize: str | None = None,
    ) -> None:
        self.model = model
        contract = model_contract(model)
        self.contract = replace(contract, inputs=contract.inputs.with_resize(resize))
        self.class_names = self.contract.class_names
        self.input_size: tuple[int, int] = self.contract.inputs.size
        self.target = self._target_tap(model, target_layer)
        self.logits_tap = self.contract.outputs
        self.augmentation = augmentation or NO_AUGMENTATION
        self.jit_compile = jit_compile
        self._traced = self._trace()

    def resized(self, resize: str | None) -> BaseCAM:
        """This explainer fitting pictures under the resize policy ``resize`` (itself when ``None``)."""
        if resize is None:
            return self
        twin = copy.copy(self)
        twin.contract = replace(self.contract, inputs=self.contract.inputs.with_resize(resize))
        return twin

    def augmented(self, augmentation: MapAugmentation | None) -> BaseCAM:
        """This explainer mapping the views of ``augmentation`` (itself when ``None``)."""
        if augmentation is None or augmentation == self.augmentation:
            return self
        return self._twin(augmentation=augmentation)

    def _twin(self, **attributes: object) -> BaseCAM:
        """A copy with ``attributes`` changed and its own traced function (which reads them)."""
        twin = copy.copy(self)
        twin.__dict__.update(attributes)
        twin._traced = twin._trace()
        return twin

    def _trace(self) -> tf.types.experimental.PolymorphicFunction:
        """The batch computation as one TensorFlow function (its Python branches are all on
        static values, so no AutoGraph: errors raised while tracing reach the caller as raised)."""
        return tf.function(self._explain_batch, jit_compile=self.jit_compile, reduce_retracing=True, autograph=False)

    def _target_tap(self, model: keras.Model, target_layer: str | keras.layers.Layer | None) -> Tap:
        """The tensor whose activations are mapped; override for a fixed layer (CAM)."""
        return resolve_target_layer(model, target_layer)

    @property
    def target_layer_name(self) -> str:
        """Name of the layer whose activations are mapped."""
        return self.target.layer.name

    def forward(self, images: tf.Tensor) -> Forward:
        """Activations, logits and probabilities of preprocessed ``images`` ``(batch, H, W, c)``
        from one forward pass of the unmodified model (see :mod:`cam_keras.models.taps`);
        probabilities follow the model's output contract (softmax, sigmoid or binary)."""
        with capture({"target": self.target, "logits": self.logits_tap.tap}) as recorded:
            self.model(images, training=False)
        logits = self.logits_tap.logits(recorded["logits"])
        activations = self.feature_map(recorded["target"], images.shape[1:3])
        return Forward(activations, logits, self.logits_tap.probabilities(logits), recorded["target"])

    def feature_map(self, tensor: tf.Tensor, input_size: tuple[int, int]) -> tf.Tensor:
        """The target layer's output (or its gradient) as a float32 map ``(batch, h, w, k)``:
        a transformer's tokens on their patch grid (:mod:`cam_keras.models.tokens`)."""
        return as_feature_map(tf.cast(tensor, tf.float32), input_size, self.target_layer_name)

    def __call__(
        self,
        images: ImageLike | Sequence[ImageLike],
        classes: ClassSpec = None,
        *,
        top_k: int = 1,
        plus_top_k: int = 0,
        upsample: bool | tuple[int, int] = True,
    ) -> Explanation:
        """Explain images of any size (resized to the model input).

        Args:
            images: paths, PIL images, arrays ``(h, w)``, ``(h, w, c)`` or ``(batch, h, w, c)``
                (raw pixels, converted to the model's channels; see :func:`prepare_batch`).
            classes: what to map, see :meth:`explain_batch`.
            top_k: how many predicted classes to map when ``classes`` is ``None``.
            plus_top_k: with ``classes``, also map this many top predictions after them.
            upsample: scale ``maps`` to the model input size (``True``), to a given
                ``(height, width)``, or keep feature resolution (``False``).

        Example:
            >>> explanation = CAM(model)("photo.jpg", top_k=3)  # doctest: +SKIP
            >>> explanation.show()  # doctest: +SKIP
        """
        prepared = prepare_batch(images, self.contract.inputs)
        note_assumed_resize(self.model, self.contract.inputs, prepared.sizes)
        arrays = self.explain_batch(prepared.batch, classes, top_k=top_k, plus_top_k=plus_top_k, upsample=upsample)
        return Explanation(
            images=prepared.pictures,
            class_names=self.class_names,
            method=self.method,
            image_sizes=prepared.sizes,
            windows=prepared.windows,
            **arrays,
        )

    def explain_batch(
        self,
        batch: np.ndarray | tf.Tensor,
        classes: ClassSpec = None,
        *,
        top_k: int = 1,
        plus_top_k: int = 0,
        upsample: bool | tuple[int, int] = True,
    ) -> dict[str, np.ndarray]:
        """Maps for a batch already at model input size.

        Args:
            batch: float ``(batch, H, W, c)``, raw pixels in [0, 255] (RGB or the model's
                channels); the model's preprocessing is applied here.

            classes: ``None`` for the ``top_k`` most probable classes (at most all of them),
                ``"all"``, a class name or index for every image, one per image (or a list
                per image, equal lengths), or a function of the logits ``(batch, classes) ->
                (batch,)`` (or a list of them) for the gradient methods and Score-CAM.
            plus_top_k: with ``classes``, also map the ``plus_top_k`` most probable classes,
                after the given ones: ``classes=labels, plus_top_k=5`` costs six maps per
                image, not one per class.

        Returns:
            ``raw_maps`` ``(batch, n, h, w)``, ``maps`` ``(batch, n, H, W)`` in [0, 1],
            ``class_indices`` ``(batch, n)`` (``-1`` for a function), ``logits`` and
            ``probabilities`` ``(batch, classes)``.
        """
        indices, selection = resolve_request(classes, len(batch), self.class_names, top_k, plus_top_k)
        self._warn_if_top_k_clamped(top_k if classes is None else plus_top_k, selection.top_k)
        if selection.functions and not self.accepts_functions:
            raise UsageError(f"{type(self).__name__} maps classes, not functions of the logits; use GradCAM")
        outputs = self._traced(
            tf.convert_to_tensor(self.contract.inputs.prepare(batch), tf.float32),
            indices,
            (selection.fixed, selection.top_k, selection.functions),  # plain values: traced once per value
            tuple(upsample) if isinstance(upsample, (tuple, list)) else bool(upsample),
        )
        self._warn_if_one_pixel(outputs["raw_maps"].shape[2:])
        return {name: value.numpy() for name, value in outputs.items()}

    def _warn_if_top_k_clamped(self, asked: int, mapped: int) -> None:
        """Warn once when more top classes are asked than the model has: fewer maps come back."""
        if asked > mapped and not getattr(self, "_warned_top_k", False):
            self._warned_top_k = True
            logger.warning(
                "top_k %d is more than the model's %d classes: %d class(es) mapped per image",
                asked,
                len(self.class_names),
                mapped,
            )

    def _warn_if_one_pixel(self, map_size: tuple[int, int]) -> None:
        """Warn once when the maps have a single location: they cannot show where anything is."""
        if tuple(map_size) == (1, 1) and not getattr(self, "_warned_one_pixel", False):
            self._warned_one_pixel = True
            logger.warning(
                "%s: the maps of layer %r are 1x1 at input size %s, so they cannot localize anything; "
                "use a larger input size (input_size, for dynamic models) or an earlier target_layer",
                self.method,
                self.target_layer_name,
                "x".join(map(str, self.input_size)),
            )

    def _explain_batch(
        self,
        images: tf.Tensor,
        indices: tf.Tensor | None,
        selection: tuple[int, int, tuple],
        upsample: bool | tuple[int, int],
    ) -> dict[str, tf.Tensor]:
        batch, scales, flip = tf.shape(images)[0], self.augmentation.scales, self.augmentation.flip
        mirrored = flip and 1.0 in scales
        forward, targets, raw = self._mapped(images, indices, Selection(*selection), mirrored)
        views = (unmirror(raw, batch) if mirrored else [raw]) if 1.0 in scales else []
        raw = combine_views(views + self._scaled_views(images, targets.classes[:batch], Selection(*selection)))
        size = upsample if isinstance(upsample, tuple) else images.shape[1:3] if upsample else raw.shape[1:3]
        return {
            "raw_maps": tf.transpose(raw, [0, 3, 1, 2]),
            "maps": tf.transpose(upsample_and_normalize(raw, size), [0, 3, 1, 2]),
            "class_indices": targets.classes[:batch],
            "logits": forward.logits[:batch],
            "probabilities": forward.probabilities[:batch],
        }

    def _mapped(
        self, images: tf.Tensor, indices: tf.Tensor | None, selection: Selection, mirrored: bool
    ) -> tuple[Forward, Targets, tf.Tensor]:
        """One forward pass of ``images`` (followed by their mirrors when ``mirrored``), its
        targets and raw maps ``(rows, h, w, n)``."""
        inputs = with_mirrors(images) if mirrored else images
        with tf.GradientTape(persistent=True) as tape:  # records at tracing only; free unless queried
            forward = self.forward(inputs)
            targets = Targets.select(forward.logits, indices, selection, 2 if mirrored else 1, tape)
        return forward, targets, self._maps(inputs, forward, targets)

    def _scaled_views(self, images: tf.Tensor, classes: tf.Tensor, selection: Selection) -> list[tf.Tensor]:
        """Maps of ``images`` at each augmentation scale other than 1 (and of their mirrors),
        for the ``classes`` (or target functions) chosen on the image itself."""
        batch, flip = tf.shape(images)[0], self.augmentation.flip
        again = Selection(0, 0, selection.functions) if selection.functions else Selection(selection.count, 0)
        views = []
        for scale in (scale for scale in self.augmentation.scales if scale != 1.0):
            try:
                with any_input_size(self.model):
                    _, _, raw = self._mapped(
                        rescale(images, scale), None if selection.functions else classes, again, flip
                    )
            except (ValueError, tf.errors.InvalidArgumentError) as error:
                if isinstance(error, CamKerasError):
                    raise
                height, width = scaled_size(tuple(images.shape[1:3]), scale)
                raise ModelError(
                    f"augmentation scale {scale:g}: model {self.model.name!r} cannot run at {height}x{width} "
                    f"({_first_reason(error)}); use scales=(1.0,) (flip works with any model)"
                ) from None
            views += unmirror(raw, batch) if flip else [raw]
        return views

    @abc.abstractmethod
    def _maps(self, images: tf.Tensor, forward: Forward, targets: Targets) -> tf.Tensor:
        """Raw maps ``(batch, h, w, n)`` float32, one per target; a family defines this."""


def _first_reason(error: Exception) -> str:
    """The first line of a Keras error that says what went wrong (not which call it was in),
    without the bold-text escapes Keras wraps it in."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(error)).splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith("Exception encountered")]
    return (reasons or lines or [type(error).__name__])[0]

"""The input contract: what a model's image input takes, read from the model.

- channels: 1 (grayscale), 3 (RGB) or 4 (RGBA / RGB + one more band);
- spatial size: fixed ``(H, W)``, or dynamic ``(None, None)``, run at ``input_size`` (default
  :data:`DEFAULT_DYNAMIC_SIZE`);
- value range: the preprocessing that turns raw pixels in [0, 255] into model input. Detected
  where the model says so (:func:`detect_preprocessing`), else chosen by the user
  (``preprocess``), else raw pixels; an assumption (raw pixels, or a
  family inferred from a ``keras.applications`` model's name) is logged once per model,
  naming the option;
- resize policy: how a picture of another aspect is fitted to that size (squash, crop or pad,
  see :func:`cam_keras.data.resize.fit_image`): chosen (``resize``), else the
  one the model was trained with (saved in its cam-keras metadata), else squash; a picture
  fitted under an assumed squash says so once per model.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace

import keras
import numpy as np

from cam_keras.choices import check_resize_policy
from cam_keras.errors import ModelError, UsageError, option
from cam_keras.models.graph import producer_names
from cam_keras.models.info import loaded_from, model_info
from cam_keras.models.preprocessing import (
    CONVENTIONS,
    ApplicationPreprocessing,
    Preprocessing,
    family_of,
    resolve_preprocessing,
)

logger = logging.getLogger(__name__)

DEFAULT_DYNAMIC_SIZE = (224, 224)
CHANNELS = (1, 3, 4)
LUMINANCE = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601-2, as Pillow's "L" mode
CHOSEN = "chosen (preprocess)"  # InputContract.source of a user's choice
RESIZE_CHOSEN = "chosen (resize)"
RESIZE_SAVED = "saved with the model by training"
RESIZE_ASSUMED = "assumed: the model does not say how it was trained to fit pictures (see resize)"
_TRANSPARENT = object()
# models already told about an assumption, by topic ("preprocessing", "resize")
_WARNED: dict[str, weakref.WeakSet] = {"preprocessing": weakref.WeakSet(), "resize": weakref.WeakSet()}
_WARNED_FILES: set[tuple[str, str]] = set()  # the same, for model files (loaded again by every explain("m.keras"))
_SCALING_OPS = frozenset({"TrueDivide", "Divide", "Subtract", "Multiply", "Add"})
_IDENTITY_AT_INFERENCE = (keras.layers.Dropout, keras.layers.GaussianNoise, keras.layers.GaussianDropout)


@dataclass(frozen=True)
class InputContract:
    """How images become one model batch.

    Attributes:
        channels: channels of the model input.
        size: ``(height, width)`` images are resized to.
        dynamic: the model accepts any spatial size (``size`` was chosen, not read).
        preprocessing: raw pixels in [0, 255] -> model input.
        source: where the preprocessing choice came from, for ``inspect`` and messages.
        resize: the resize policy pictures are fitted to :attr:`size` with.
        resize_source: where the resize policy came from, for ``inspect`` and messages.
    """

    channels: int
    size: tuple[int, int]
    dynamic: bool
    preprocessing: Preprocessing
    source: str
    resize: str = "squash"
    resize_source: str = RESIZE_ASSUMED

    def with_resize(self, resize: str | None) -> InputContract:
        """This contract with the user's resize policy, unless ``resize`` is ``None``."""
        return (
            self if resize is None else replace(self, resize=check_resize_policy(resize), resize_source=RESIZE_CHOSEN)
        )

    @property
    def resize_assumed(self) -> bool:
        """Nobody said how pictures are fitted: squash is used."""
        return self.resize_source == RESIZE_ASSUMED

    @property
    def takes_prepared_arrays(self) -> bool:
        """The user chose ``preprocess="none"``: arrays go in as given, in whatever range they are."""
        return self.preprocessing.name == "none" and self.source == CHOSEN

    def prepare(self, batch: np.ndarray) -> np.ndarray:
        """Model input from raw pixels ``(batch, H, W, c)`` at :attr:`size`: channels converted
        (see :func:`convert_channels`), then preprocessed; float32, never clipped."""
        batch = convert_channels(np.asarray(batch, np.float32), self.channels)
        return np.asarray(self.preprocessing.function(batch.copy()), np.float32)


def convert_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """``(..., c)`` pixels with ``channels`` channels: gray is repeated to RGB, RGB becomes gray
    by luminance, RGBA drops alpha for RGB models (and becomes gray by its RGB for gray models).

    Raises:
        UsageError: a 4-channel model given fewer channels (cam-keras cannot invent the fourth).
    """
    have = pixels.shape[-1]
    if have == channels:
        return pixels
    if channels == 4:
        raise UsageError(
            f"the model takes 4-channel images; pass (h, w, 4) arrays (got {have} channels; "
            "image files are decoded to RGB)"
        )
    rgb = np.repeat(pixels, 3, axis=-1) if have == 1 else pixels[..., :3]
    if channels == 3:
        return rgb
    return (rgb.astype(np.float32) @ LUMINANCE)[..., None]


#: The longest input side a model may ask for (a picture resized to 16,384 px a side holds 0.8 GB).
MAX_INPUT_SIDE = 16_384


def read_input(
    model: keras.Model,
    preprocess: str | Callable[[np.ndarray], np.ndarray] | None = None,
    input_size: int | tuple[int, int] | None = None,
    resize: str | None = None,
) -> InputContract:
    """Read the input contract of a single-image-input model.

    Args:
        preprocess: a name accepted by :func:`resolve_preprocessing` or a callable; ``None``
            detects it, or assumes raw pixels with a warning.
        input_size: side or ``(height, width)`` for a dynamic-size model.
        resize: ``squash``, ``crop`` or ``pad``; ``None`` takes the policy saved with the
            model, else squash.

    Raises:
        ModelError: several inputs, or an input that is not ``(batch, h, w, 1/3/4)`` images.
        UsageError: ``input_size`` for a fixed-size model, or an RGB-only preprocessing for
            another channel count.

    Example:
        >>> read_input(keras.applications.ResNet50(weights=None)).preprocessing.name
        'resnet50'
    """
    if len(model.inputs) != 1:
        names = ", ".join(producer_names(model.inputs))
        raise ModelError(
            f"model {model.name!r} takes {len(model.inputs)} inputs ({names}); cam-keras explains models "
            "with one image input. Build a one-input model around the image branch, or see "
            "cam_keras.describe(model) (the inspect command)."
        )
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[-1] not in CHANNELS:
        raise ModelError(
            f"model {model.name!r} takes input of shape {shape}, not images (batch, height, width, 1, 3 or 4); "
            "see cam_keras.describe(model) (the inspect command)"
        )
    channels, dynamic = shape[-1], None in shape[1:3]
    size = _input_size(model, shape[1:3], input_size)
    if preprocess is not None:
        preprocessing, source = resolve_preprocessing(preprocess), CHOSEN
        detected = detect_preprocessing(model)
        if detected is not None and detected[0] != preprocessing.name:
            logger.warning(
                "preprocessing %r applies before what the model does itself (%s)", preprocessing.name, detected[1]
            )
    else:
        preprocessing, source = _detected_or_assumed(model)
    if preprocessing.rgb_only and channels != 3:
        raise UsageError(
            f"preprocessing {preprocessing.name!r} is for RGB models; this model takes {channels} channels"
        )
    contract = InputContract(channels, size, dynamic, preprocessing, source)
    saved = model_info(model).resize if len(model.outputs) == 1 else None
    if saved is not None:
        contract = replace(contract, resize=check_resize_policy(saved), resize_source=RESIZE_SAVED)
    return contract.with_resize(resize)


def _input_size(model: keras.Model, shape: tuple, requested: int | tuple[int, int] | None) -> tuple[int, int]:
    requested = (requested, requested) if isinstance(requested, int) else requested
    if None not in shape and max(shape) > MAX_INPUT_SIDE:
        raise ModelError(
            f"model {model.name!r} takes fixed {shape[0]}x{shape[1]} images, over the {MAX_INPUT_SIDE:,} px a "
            "side an image can be resized to; the model file is damaged or its input shape is wrong"
        )
    if None not in shape:
        if requested is not None and tuple(requested) != shape:
            raise UsageError(
                f"model {model.name!r} takes fixed {shape[0]}x{shape[1]} images; {option('input_size')} "
                "is only for models with a dynamic input size"
            )
        return shape
    if requested is None:
        return DEFAULT_DYNAMIC_SIZE
    if min(requested) < 1:
        raise UsageError(f"input size must be positive, got {requested}")
    return tuple(int(side) for side in requested)


def _detected_or_assumed(model: keras.Model) -> tuple[Preprocessing, str]:
    found = detect_preprocessing(model)
    if found is None:
        warn_once(
            model,
            "model %r has no Rescaling/Normalization layer or known keras.applications backbone at its input: "
            "assuming it takes raw pixels in [0, 255]. If it was trained on other values, pass preprocess "
            "unit, symmetric, caffe, torch or a keras.applications family.",
            model.name,
        )
        return CONVENTIONS["none"], "assumed (nothing in the model says; see preprocess)"
    preprocessing = resolve_preprocessing(found[0])
    if found[0] == "none":  # read from a layer or arithmetic in the model
        return preprocessing, found[1]
    warn_once(
        model,
        "model %r: assuming %s, inferred from the name of its %s; if it was trained on other values, "
        "pass preprocess none, unit, symmetric, caffe, torch or another family.",
        model.name,
        preprocessing.description,
        found[1],
    )
    return preprocessing, f"{found[1]}, inferred from its name (see preprocess)"


def warn_once(model: keras.Model, message: str, *args: object, topic: str = "preprocessing") -> None:
    """Log a notice about an assumption on ``model`` (its ``topic``) once per model: per model
    object, and per saved version of a model file however often it is loaded."""
    version = loaded_from(model)
    seen, key = (_WARNED_FILES, (topic, version)) if version else (_WARNED[topic], model)
    if key not in seen:
        seen.add(key)
        logger.warning(message, *args)


def detect_preprocessing(model: keras.Model) -> tuple[str, str] | None:
    """``(preprocessing name, reason)`` when the model says what input it expects, else ``None``.

    The first step that changes pixels at inference (augmentation and dropout layers are
    skipped, nested models entered) says it: a ``Rescaling``, ``Normalization`` or cam-keras
    preprocessing layer, or arithmetic on the input, means the model takes raw pixels
    (``"none"``); any other layer means its model's name decides: a ``keras.applications``
    model keeps its constructor's name, which gives the family's ``preprocess_input``.

    Example:
        >>> detect_preprocessing(keras.applications.VGG19(weights=None))
        ('vgg19', "keras.applications model 'vgg19'")
    """
    found = _first_step(model)
    return None if found is _TRANSPARENT else found


def _first_step(model: keras.Model) -> tuple[str, str] | None | object:
    """Classify the first operation that changes pixels at inference; ``_TRANSPARENT`` if none."""
    for operation in getattr(model, "operations", model.layers):  # Sequential models list layers only
        if isinstance(operation, (keras.layers.InputLayer, *_IDENTITY_AT_INFERENCE)) or _is_augmentation(operation):
            continue
        if isinstance(operation, keras.Model):
            inner = _first_step(operation)
            if inner is _TRANSPARENT:
                continue
            return inner
        if isinstance(operation, (keras.layers.Rescaling, keras.layers.Normalization, ApplicationPreprocessing)):
            return "none", f"the model's own {type(operation).__name__} layer {operation.name!r}"
        if type(operation).__name__ in _SCALING_OPS:
            return "none", f"the model scales its input itself ({operation.name!r})"
        family = family_of(model.name)
        return (family, f"keras.applications model {model.name!r}") if family else None
    return _TRANSPARENT


def _is_augmentation(operation: object) -> bool:
    """Keras' random augmentation layers (``RandomFlip``...), identity at inference."""
    return type(operation).__name__.startswith("Random") and type(operation).__module__.startswith("keras.")

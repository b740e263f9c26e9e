"""Metadata that travels with a CAM model: class names, backbone, feature layer."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

import keras

from cam_keras.errors import ModelError, UsageError

_ATTRIBUTE = "_cam_keras_info"


@dataclass(frozen=True)
class ModelInfo:
    """What cam-keras knows about a model beyond its Keras graph.

    Attributes:
        class_names: one label per class, in logit order (for a single-unit binary model:
            negative, positive).
        backbone: registry name the model was built from, or ``None`` for foreign models.
        feature_layer: name (not a path: see ``CamHead.feature_path``) of the layer whose output
            enters GlobalAveragePooling2D, as :func:`cam_keras.build_model` made it; saved under
            this key in ``.keras`` files.
    """

    class_names: tuple[str, ...]
    backbone: str | None = None
    feature_layer: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ModelInfo:
        fields = json.loads(text)
        fields["class_names"] = tuple(fields["class_names"])
        return cls(**fields)


def class_count(model: keras.Model) -> int:
    """Classes a single-output model explains: its output width, or 2 for one unit (binary:
    the negative class, then the positive one)."""
    if len(model.outputs) != 1:
        raise ModelError(
            f"model {model.name!r} has {len(model.outputs)} outputs; pick one with --output NAME (API: output=NAME)"
        )
    units = int(model.outputs[0].shape[-1])
    return 2 if units == 1 else units


def attach_info(model: keras.Model, info: ModelInfo) -> None:
    """Record ``info`` on ``model`` (kept in memory; :func:`save_model` writes it to disk).

    A single-unit (binary) model takes two names, negative first, or the positive class's name
    alone (the negative becomes ``"not <name>"``).

    Example:
        >>> attach_info(model, ModelInfo(class_names=("cat", "dog")))
    """
    expected = class_count(model)
    names = info.class_names
    if expected == 2 and len(names) == 1 and model.outputs[0].shape[-1] == 1:
        info = replace(info, class_names=(f"not {names[0]}", names[0]))
    if len(info.class_names) != expected:
        raise UsageError(
            f"{len(names)} class names for a model with {expected} classes (--classes / class_names=): "
            + (
                "one output unit: pass the negative and the positive class, or the positive alone"
                if expected == 2 and model.outputs[0].shape[-1] == 1
                else f"give one name per output of {model.name!r}, in logit order"
            )
        )
    setattr(model, _ATTRIBUTE, info)


def model_info(model: keras.Model) -> ModelInfo:
    """The model's :class:`ModelInfo`; foreign models get ``class_0``, ``class_1``... names.

    Example:
        >>> model_info(model).class_names
        ('cat', 'dog')
    """
    info = getattr(model, _ATTRIBUTE, None)
    if info is not None:
        return info
    return ModelInfo(class_names=tuple(f"class_{i}" for i in range(class_count(model))))

"""Metadata that travels with a CAM model: class names, backbone, feature layer."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import keras

_ATTRIBUTE = "_cam_keras_info"


@dataclass(frozen=True)
class ModelInfo:
    """What cam-keras knows about a model beyond its Keras graph.

    Attributes:
        class_names: one label per logit, in logit order.
        backbone: registry name the model was built from, or ``None`` for foreign models.
        feature_layer: name of the layer whose output enters GlobalAveragePooling2D.
    """

    class_names: tuple[str, ...]
    backbone: str | None = None
    feature_layer: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "ModelInfo":
        fields = json.loads(text)
        fields["class_names"] = tuple(fields["class_names"])
        return cls(**fields)


def attach_info(model: keras.Model, info: ModelInfo) -> None:
    """Record ``info`` on ``model`` (kept in memory; :func:`save_model` writes it to disk).

    Example:
        >>> attach_info(model, ModelInfo(class_names=("cat", "dog")))
    """
    num_outputs = model.output_shape[-1]
    if len(info.class_names) != num_outputs:
        raise ValueError(
            f"{len(info.class_names)} class names for a model with {num_outputs} outputs"
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
    return ModelInfo(class_names=tuple(f"class_{i}" for i in range(model.output_shape[-1])))

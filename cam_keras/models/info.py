"""Metadata that travels with a CAM model: class names, backbone, feature layer, resize policy."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import keras

from cam_keras.errors import ModelError, UsageError, option

_ATTRIBUTE = "_cam_keras_info"
_FILE_ATTRIBUTE = "_cam_keras_file"


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
        resize: the resize policy the model was trained with (``squash``, ``crop`` or ``pad``,
            see :func:`cam_keras.data.resize.fit_image`), or ``None`` when nobody said.
    """

    class_names: tuple[str, ...]
    backbone: str | None = None
    feature_layer: str | None = None
    resize: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ModelInfo:
        """Raises ``ValueError`` for JSON that is not an object of these fields with these
        types (class names strings, backbone and feature layer a string or null)."""
        fields = json.loads(text)
        if not isinstance(fields, dict) or not isinstance(fields.get("class_names"), list):
            raise ValueError("expected an object with a list class_names")
        fields["class_names"] = tuple(fields["class_names"])
        for index, name in enumerate(fields["class_names"]):
            if not isinstance(name, str):
                raise ValueError(f"class_names[{index}] is {name!r}, not a string")
        for key in ("backbone", "feature_layer"):
            if not isinstance(fields.get(key), (str, type(None))):
                raise ValueError(f"{key} is {fields[key]!r}, not a string or null")
        return cls(**fields)


def class_count(model: keras.Model) -> int:
    """Classes a single-output model explains: its output width, or 2 for one unit (binary:
    the negative class, then the positive one)."""
    if len(model.outputs) != 1:
        raise ModelError(
            f"model {model.name!r} has {len(model.outputs)} outputs; pick one with {option('output')} NAME"
        )
    units = int(model.outputs[0].shape[-1])
    return 2 if units == 1 else units


def attach_info(model: keras.Model, info: ModelInfo) -> None:
    """Record ``info`` on ``model`` (kept in memory; :func:`save_model` writes it to disk).

    A single-unit (binary) model takes two names, negative first, or the positive class's name
    alone (the negative becomes ``"not <name>"``).

    Raises:
        UsageError: as many names as the model has no classes, or a name given twice.

    Example:
        >>> attach_info(model, ModelInfo(class_names=("cat", "dog")))
    """
    expected = class_count(model)
    names = info.class_names
    if expected == 2 and len(names) == 1 and model.outputs[0].shape[-1] == 1:
        info = replace(info, class_names=(f"not {names[0]}", names[0]))
    if len(info.class_names) != expected:
        raise UsageError(
            f"{len(names)} class names for a model with {expected} classes ({option('class_names')}): "
            + (
                "one output unit: pass the negative and the positive class, or the positive alone"
                if expected == 2 and model.outputs[0].shape[-1] == 1
                else f"give one name per output of {model.name!r}, in logit order"
            )
        )
    check_unique(info.class_names, f"class names ({option('class_names')})")
    setattr(model, _ATTRIBUTE, info)


def check_unique(class_names: Sequence[str], where: str) -> None:
    """Refuse repeated class names: a class asked for by name would silently be the first of them.

    Raises:
        UsageError: naming ``where`` and the repeated names.
    """
    repeated = sorted(name for name, count in Counter(class_names).items() if count > 1)
    if repeated:
        raise UsageError(
            f"{where}: {', '.join(map(repr, repeated))} named more than once; class names must be unique, "
            "one per class in logit order"
        )


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


def file_version(path: str | os.PathLike) -> str:
    """``"PATH@MTIME"``: one saved version of a model file, the same for every load of it."""
    path = Path(path).resolve()
    return f"{path}@{path.stat().st_mtime_ns}"


def mark_loaded_from(model: keras.Model, version: str | None) -> None:
    """Record the :func:`file_version` ``model`` was loaded from (a model derived from a loaded
    one passes that one's :func:`loaded_from`)."""
    setattr(model, _FILE_ATTRIBUTE, version)


def loaded_from(model: keras.Model) -> str | None:
    """The :func:`file_version` ``model`` was loaded from, or ``None`` for a model built in
    memory: a notice about a model file is given once, however often the file is loaded."""
    return getattr(model, _FILE_ATTRIBUTE, None)

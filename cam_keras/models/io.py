"""Save and load CAM models as ``.keras`` archives that carry their class names."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

import keras

from cam_keras.atomic import atomic_path
from cam_keras.models.info import ModelInfo, attach_info, model_info

INFO_ENTRY = "cam_keras.json"
TRAINING_ENTRY = "cam_keras_training.json"  # how the model trained (cam_keras.train.learning)


def save_model(model: keras.Model, path: str | os.PathLike, training: Mapping[str, Any] | None = None) -> Path:
    """Save ``model`` to a ``.keras`` file atomically, with its :class:`ModelInfo` inside.

    The archive stays a normal Keras file (``keras.saving.load_model`` reads it); the extra
    ``cam_keras.json`` entry holds the class names; ``training`` (validation accuracy and
    chance rate, from :mod:`cam_keras.train.learning`) goes into ``cam_keras_training.json``.

    Example:
        >>> save_model(model, "runs/first/model.keras")
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: model files must end in .keras")
    with atomic_path(path) as temp:
        model.save(temp)
        with zipfile.ZipFile(temp, "a") as archive:
            archive.writestr(INFO_ENTRY, model_info(model).to_json())
            if training is not None:
                archive.writestr(TRAINING_ENTRY, json.dumps(dict(training), indent=2))
    return path


def load_model(path: str | os.PathLike, *, safe_mode: bool = True) -> keras.Model:
    """Load a ``.keras`` model and its class names.

    Args:
        path: a file written by :func:`save_model` or by ``model.save``.
        safe_mode: keep Keras' safe mode, which refuses to deserialize Python code (lambda
            layers). Pass ``False`` only for files from a source you trust.

    Example:
        >>> model = load_model("runs/first/model.keras")
        >>> cam_keras.model_info(model).class_names
        ('cat', 'dog')
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        model = keras.saving.load_model(path, safe_mode=safe_mode)
    except ValueError as error:
        if "safe_mode" in str(error):
            raise ValueError(
                f"{path}: the model contains Python code (a Lambda layer) that Keras refuses to "
                "load in safe mode. If you trust its source, load it with safe_mode=False "
                "(CLI: --unsafe)."
            ) from error
        raise
    with zipfile.ZipFile(path) as archive:
        if INFO_ENTRY in archive.namelist():
            attach_info(model, ModelInfo.from_json(archive.read(INFO_ENTRY).decode("utf-8")))
    return model

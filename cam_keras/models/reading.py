"""Read a Keras model file for inference, whatever Keras wrote it: Keras 3 ``.keras`` and
``.h5`` files, Keras 2 ``.h5`` and ``.keras`` files (translated by :mod:`cam_keras.models.keras2`)
and Keras 2 SavedModel folders (through ``tf_keras``).

Explaining never needs the training configuration (optimizer, loss, metrics), so it is never
read: files whose optimizer or metrics Keras 3 cannot rebuild load all the same. Keras' and
TensorFlow's own log lines and warnings while loading are not shown: they are about that
training configuration or about the file's age, and cam-keras raises what matters.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import h5py
import keras
import numpy as np

from cam_keras.errors import ModelError
from cam_keras.models.budget import check_weights_budget
from cam_keras.models.keras2 import is_keras2_config, translate

#: The folder entry that makes a SavedModel a whole Keras 2 model (``model.save("folder")``).
KERAS2_METADATA = "keras_metadata.pb"
KERAS2_INSTALL = "pip install 'cam-keras[keras2]' (or pip install tf-keras)"
_CONFIG_ENTRY = "config.json"
#: The largest ``config.json`` read (a 300-layer EfficientNet's is under 1 MB).
MAX_CONFIG_BYTES = 64 * 2**20
_NOISY_LOGGERS = ("absl", "tensorflow", "keras", "tf_keras", "h5py")


def read_keras_model(path: Path, safe_mode: bool = True) -> keras.Model:
    """The model in ``path`` (a ``.keras``/``.h5`` file or a Keras 2 SavedModel folder),
    uncompiled, with the file's weights.

    Raises:
        ModelError: a configuration that asks for far more weights than the file stores
            (:mod:`cam_keras.models.budget`), or a Keras 2 SavedModel without ``tf_keras``.
    """
    with _keras_logs_silenced(), tempfile.TemporaryDirectory(prefix="cam-keras-") as scratch:
        if path.is_dir():
            return _read_keras2_savedmodel(path)
        archive = zipfile.is_zipfile(path)
        readable = (_keras3_archive if archive else _keras3_h5)(path, Path(scratch))
        check_weights_budget(readable, path)
        model = keras.saving.load_model(readable, compile=False, safe_mode=safe_mode)
        if readable != path and not archive:
            _check_weights_as_stored(model, path)
        return model


def _keras3_archive(path: Path, scratch: Path) -> Path:
    """``path`` itself, or for a Keras 2 archive a copy whose ``config.json`` is translated."""
    with zipfile.ZipFile(path) as archive:
        size = archive.getinfo(_CONFIG_ENTRY).file_size
        if size > MAX_CONFIG_BYTES:  # Keras would parse it whole, three times over
            raise ModelError(
                f"{path}: its {_CONFIG_ENTRY} unpacks to {size:,} bytes, over the {MAX_CONFIG_BYTES:,} a model "
                "configuration needs; the file is damaged or not a Keras model"
            )
        config = json.loads(archive.read(_CONFIG_ENTRY))
        if not is_keras2_config(config):
            return path
        copy = scratch / path.name
        with zipfile.ZipFile(copy, "w") as translated:
            for entry in archive.infolist():
                if entry.filename == _CONFIG_ENTRY:
                    translated.writestr(_CONFIG_ENTRY, json.dumps(translate(config)))
                else:
                    with archive.open(entry) as source, translated.open(entry.filename, "w") as target:
                        shutil.copyfileobj(source, target)
    return copy


def _keras3_h5(path: Path, scratch: Path) -> Path:
    """``path`` itself, or for a Keras 2 ``.h5`` a copy whose model configuration is translated."""
    with h5py.File(path, "r") as file:
        raw = file.attrs.get("model_config")
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw) if raw is not None else None
    if config is None or not is_keras2_config(config):
        return path
    copy = scratch / path.with_suffix(".h5").name
    shutil.copyfile(path, copy)
    with h5py.File(copy, "r+") as file:
        file.attrs["model_config"] = json.dumps(translate(config))
    return copy


def _check_weights_as_stored(model: keras.Model, path: Path) -> None:
    """Every array a translated Keras 2 ``.h5`` stores is in the variable of the same name (Keras
    loads them by position, layer after layer: a translation that reordered layers would show)."""
    with h5py.File(path, "r") as file:
        group = file["model_weights"] if "model_weights" in file else file
        for layer_name in _texts(group.attrs.get("layer_names", [])):
            held = {variable.path: variable for variable in model.get_layer(layer_name).weights}
            for weight_name in _texts(group[layer_name].attrs.get("weight_names", [])):
                variable = held.get(weight_name.removesuffix(":0"))
                if variable is not None and not np.array_equal(variable.numpy(), group[layer_name][weight_name][()]):
                    raise ModelError(
                        f"{path}: weight {weight_name!r} of layer {layer_name!r} did not load as stored "
                        "(the Keras 2 configuration was not translated faithfully); please report this file"
                    )


def _texts(values) -> list[str]:
    return [value.decode() if isinstance(value, bytes) else str(value) for value in values]


def _read_keras2_savedmodel(path: Path) -> keras.Model:
    """A Keras 3 model with the weights of the Keras 2 model saved in folder ``path``: loaded by
    ``tf_keras``, rebuilt from its translated configuration, weights copied in order."""
    try:
        import tf_keras
    except ModuleNotFoundError as error:
        raise ModelError(
            f"{path} is a Keras 2 SavedModel folder (model.save('{path.name}') before TensorFlow 2.13); "
            f"reading it needs tf_keras, which is not installed: {KERAS2_INSTALL}"
        ) from error
    legacy = tf_keras.models.load_model(path, compile=False)
    model = keras.models.model_from_json(json.dumps(translate(tf_keras.layers.serialize(legacy))))
    model.set_weights(legacy.get_weights())
    return model


@contextlib.contextmanager
def _keras_logs_silenced() -> Iterator[None]:
    """No Python warnings and no log records below ERROR from Keras, tf_keras or TensorFlow."""
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)

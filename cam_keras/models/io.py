"""Save and load CAM models as ``.keras`` archives that carry their class names; load legacy
``.h5`` files; import the user's custom-layer modules."""

from __future__ import annotations

import errno
import importlib
import importlib.util
import json
import os
import re
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from cam_keras.atomic import atomic_path
from cam_keras.errors import ModelError, UsageError, option
from cam_keras.models.info import ModelInfo, attach_info, check_unique, file_version, mark_loaded_from, model_info
from cam_keras.models.reading import KERAS2_METADATA, read_keras_model

INFO_ENTRY = "cam_keras.json"
TRAINING_ENTRY = "cam_keras_training.json"  # how the model trained (cam_keras.models.learning)


def save_model(model: keras.Model, path: str | os.PathLike, training: Mapping[str, Any] | None = None) -> Path:
    """Save ``model`` to a ``.keras`` file atomically, with its :class:`ModelInfo` inside.

    The archive stays a normal Keras file (``keras.saving.load_model`` reads it); the extra
    ``cam_keras.json`` entry holds the class names; ``training`` (validation accuracy and
    chance rate, from :mod:`cam_keras.models.learning`) goes into ``cam_keras_training.json``.

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
    """Load a ``.keras`` (or legacy ``.h5``) model and, if it carries them, its class names.

    Args:
        path: a file written by :func:`save_model`, by ``model.save`` or a legacy ``.h5``.
        safe_mode: keep Keras' safe mode, which refuses to deserialize Python code (lambda
            layers). Pass ``False`` only for files from a source you trust.

    Raises:
        FileNotFoundError: nothing at ``path``.
        ModelError: a SavedModel export folder, a corrupt or truncated file, a Lambda layer in
            safe mode, an unregistered custom layer, or unreadable cam-keras metadata; the
            message says why and what to do.

    Example:
        >>> model = load_model("runs/first/model.keras")
        >>> cam_keras.model_info(model).class_names
        ('cat', 'dog')
    """
    path = Path(path)
    _check_is_model_file(path)
    try:
        model = read_keras_model(path, safe_mode=safe_mode)
    except ModelError:  # already says which file and why
        raise
    except OSError as error:
        if error.errno is None:  # h5py's "file signature not found" and the like: the file's fault
            raise ModelError(f"{path}: {_load_failure(error)}") from error
        raise _system_failure(path, error) from error
    except RecursionError as error:  # before RuntimeError, its base
        raise ModelError(
            f"{path}: its model configuration is nested too deeply to read; the file is damaged or not a Keras model"
        ) from error
    except _DAMAGED as error:
        raise ModelError(f"{path}: {_load_failure(error)}") from error
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if INFO_ENTRY in archive.namelist():
                attach_info(model, _read_info(path, archive.read(INFO_ENTRY)))
    mark_loaded_from(model, file_version(path))
    return model


#: What reading a damaged file raises besides ``OSError``: Keras' own refusals, a zip entry failing
#: its checksum, an HDF5 structure h5py cannot walk (``RuntimeError``), a SavedModel's unreadable
#: variables (TensorFlow's ``OpError``).
_DAMAGED = (ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError, tf.errors.OpError)


def _check_is_model_file(path: Path) -> None:
    if path.is_dir():
        if (path / KERAS2_METADATA).is_file():
            return
        if (path / "saved_model.pb").is_file():
            raise ModelError(
                f"{path} is a SavedModel export (model.export()), which has no layers to read, so no map "
                "can be computed. Save the Keras model itself with model.save('model.keras') and pass that file."
            )
        raise ModelError(f"{path} is a folder; pass a .keras or .h5 model file")
    if not path.is_file():
        if os.path.lexists(path):
            raise ModelError(
                f"{path}: not a regular file (a pipe, a device, or a link to nothing or in a loop); pass a .keras "
                "or .h5 model file"
            )
        raise FileNotFoundError(f"{path}: no such model file")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ModelError(f"{path}: not a valid .keras archive (corrupt or truncated file?); save or copy it again")
    if path.suffix not in (".keras", ".h5", ".hdf5"):
        raise ModelError(f"{path}: unknown model format {path.suffix!r}; pass a .keras or legacy .h5 file")


# Keras 3: "Could not locate class 'MyGAP'. ... Full object config: {'module': 'mylayers', ...}";
# legacy .h5: "Unknown layer: 'MyGAP'. ...".
_MISSING_OBJECT = re.compile(r"Could not locate (class|function) '([^']+)'|Unknown (layer): '([^']+)'")
_CONFIG_MODULE = re.compile(r"'module': '([^']+)'")
_NOT_LAYER_MODULES = {"builtins", "keras", "tensorflow", "tf_keras", "cam_keras", "numpy"}


def _system_failure(path: Path, error: OSError) -> OSError:
    """A failed read or write while loading (a full temporary folder, permissions), which the
    file is not to blame for: it names the file and, for a full disk, the temporary folder."""
    where = f" {error.filename}" if error.filename else ""
    advice = (
        f"; Keras may unpack models into the temporary folder {tempfile.gettempdir()}: free space there or "
        "set TMPDIR to a folder with room"
        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        else ""
    )
    return OSError(error.errno, f"loading the model failed: {error.strerror}{where}{advice}", str(path))


def _load_failure(error: Exception) -> str:
    """Why Keras could not load a file, and the fix."""
    text = str(error)
    first_line = text.splitlines()[0].rstrip(".") if text else type(error).__name__
    if "safe_mode" in text:
        return (
            "the model contains Python code (a Lambda layer) that Keras refuses to load in safe mode. "
            f"If you trust its source, load it with {option('safe_mode', False)}."
        )
    missing = _MISSING_OBJECT.search(text)
    if missing:
        module = _CONFIG_MODULE.search(text[missing.end() :])
        kind, name = missing.group(1) or missing.group(3), missing.group(2) or missing.group(4)
        if module and _could_define_layers(module.group(1)):
            where, which = f" (module {module.group(1)!r})", module.group(1)
        else:
            where, which = "", "MODULE_OR_FILE"
        return (
            f"the model uses a custom {kind} {name!r}{where} that is not registered: import the module "
            f"of your own that defines {name!r} first "
            f"({option('import_user_code', which, python=f'import {which} before loading')})"
        )
    return f"Keras could not load it ({type(error).__name__}: {first_line}); the file may be corrupt or truncated"


def _could_define_layers(module: str) -> bool:
    """Whether ``module``, as named by a model file, is worth suggesting to import: a dotted
    Python name outside the standard library, Keras and TensorFlow (a hostile file may name
    ``subprocess``)."""
    top = module.split(".")[0]
    return (
        re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", module, re.ASCII) is not None
        and top not in sys.stdlib_module_names
        and top not in _NOT_LAYER_MODULES
    )


def _read_info(path: Path, data: bytes) -> ModelInfo:
    try:
        return ModelInfo.from_json(data.decode("utf-8"))
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as error:
        raise ModelError(
            f"{path}: its {INFO_ENTRY} entry (class names) is unreadable ({error}); remove the entry or "
            "save the model again with cam_keras.save_model"
        ) from error


def import_user_code(sources: Sequence[str]) -> None:
    """Import the modules or ``.py`` files the user named, so the custom
    layers they register load. Nothing else is imported or executed.

    Raises:
        UsageError: a source that cannot be imported, naming it.
    """
    for source in sources:
        try:
            if source.endswith(".py"):
                spec = importlib.util.spec_from_file_location(Path(source).stem, source)
                if spec is None or not Path(source).is_file():
                    raise FileNotFoundError(f"no such file {source}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[spec.name] = module
                spec.loader.exec_module(module)
            else:
                importlib.import_module(source)
        except Exception as error:  # any failure inside the user's module
            raise UsageError(f"{option('import_user_code')} {source}: {type(error).__name__}: {error}") from error


def read_class_names(path: str | os.PathLike) -> list[str]:
    """Class names from a text file, one a line in logit order (blank lines ignored).

    Raises:
        UsageError: the file is missing, unreadable or empty, or names a class twice.
    """
    try:
        names = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{option('class_names')} {path}: cannot read it ({error})") from error
    if not names:
        raise UsageError(f"{option('class_names')} {path}: no class names in it (one name a line)")
    check_unique(names, f"{option('class_names')} {path}")
    return names

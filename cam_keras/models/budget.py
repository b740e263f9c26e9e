"""Refuse a model file whose configuration asks for far more weights than it stores, before Keras
builds it: Keras allocates every layer's variables while building, so a small file whose
configuration says ``Conv2D(60000)`` then ``Dense(2_000_000)`` takes gigabytes before its
weights are read (and found missing).

:func:`implied_parameters` is a lower bound read from the configuration alone: each layer's
declared width (``filters``, ``units``...) times the width of what feeds it, followed through
the graph (nested models included); a file that honestly holds its model stores at least that.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import h5py

from cam_keras.errors import ModelError

#: Stored weights times this, plus :data:`SLACK`, is the most a configuration may ask for.
FACTOR = 2
SLACK = 10_000
_WEIGHTS_ENTRY = "model.weights.h5"
#: Built-in layers whose output width the configuration does not say (taken as 1: a lower bound).
_UNKNOWN_WIDTH = frozenset({"Lambda", "TFOpLambda", "SlicingOpLambda", "Permute", "Dot", "Reshape"})


def check_weights_budget(path: Path, shown: Path) -> None:
    """Raise :class:`ModelError` naming both figures when the configuration of the ``.keras`` or
    ``.h5`` file at ``path`` implies more than ``FACTOR`` x the weights it stores (+ ``SLACK``).
    ``shown`` is the path named in the message (the user's file, ``path`` may be a translated copy)."""
    config, stored = _config_and_stored_values(path)
    if config is None:
        return
    implied = implied_parameters(config)
    if implied > FACTOR * stored + SLACK:
        raise ModelError(
            f"{shown}: its configuration asks for at least {implied:,} weights ({_megabytes(implied)} in "
            f"float32) but the file stores {stored:,} ({_megabytes(stored)}); Keras would allocate them all "
            "before reading the file, so it is not loaded. The file is damaged or not what it claims: "
            "save the model again."
        )


def _megabytes(values: int) -> str:
    return f"{values * 4 / 1e6:,.1f} MB"


def _config_and_stored_values(path: Path) -> tuple[dict | None, int]:
    """The model configuration and the number of weight values stored in the file."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if _WEIGHTS_ENTRY not in archive.namelist():
                return None, 0
            config = json.loads(archive.read("config.json"))
            with archive.open(_WEIGHTS_ENTRY) as weights, h5py.File(weights, "r") as file:
                return config, _values(file, skip="optimizer")
    with h5py.File(path, "r") as file:
        raw = file.attrs.get("model_config")
        if raw is None:
            return None, 0
        weights = file["model_weights"] if "model_weights" in file else file
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw), _values(weights)


def _values(group: h5py.Group, skip: str = "") -> int:
    sizes: list[int] = []
    group.visititems(
        lambda name, item: (
            sizes.append(item.size) if isinstance(item, h5py.Dataset) and not name.startswith(skip or "\0") else None
        )
    )
    return sum(sizes)


def implied_parameters(config: dict) -> int:
    """A lower bound on the weights a serialized model (``{"class_name", "config"}``) builds.

    Example:
        >>> implied_parameters(json.loads(archive.read("config.json")))
        1234
    """
    return _model(_mapping(_mapping(config).get("config")), 1)[0]


def _model(config: dict, input_width: int) -> tuple[int, int]:
    """``(parameters at least, output width)`` of a Functional or Sequential model config."""
    widths: dict[str, int] = {}
    total, width = 0, input_width
    layers = config.get("layers")
    for layer in [layer for layer in layers if isinstance(layer, dict)] if isinstance(layers, list) else []:
        sources = [widths[name] for name in _inbound_names(layer.get("inbound_nodes")) if name in widths]
        if layer.get("class_name") == "Concatenate" and sources:
            incoming = sum(sources)
        else:
            incoming = sources[0] if sources else width
        parameters, width = _layer(layer, incoming)
        total += parameters
        widths[str(layer.get("name") or _mapping(layer.get("config")).get("name", ""))] = width
    return total, width


def _layer(layer: dict, width: int) -> tuple[int, int]:
    """``(parameters at least, output width)`` of one layer fed ``width`` channels."""
    class_name, config = layer.get("class_name"), _mapping(layer.get("config"))
    class_name = class_name if isinstance(class_name, str) else ""
    if isinstance(config.get("layers"), list):
        return _model(config, width)
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if class_name == "InputLayer":
        return 0, int(shape[-1]) if shape and shape[-1] else 1
    kernel = math.prod(config.get("kernel_size") or [1])
    multiplier = int(config.get("depth_multiplier", 1))
    if "filters" in config:
        filters = int(config["filters"])
        if class_name.startswith("Separable"):
            return width * multiplier * (kernel + filters), filters
        return width // max(int(config.get("groups", 1)), 1) * filters * kernel, filters
    if class_name.startswith("DepthwiseConv"):
        return width * multiplier * kernel, width * multiplier
    if "units" in config:
        return width * int(config["units"]), int(config["units"])
    if "input_dim" in config and "output_dim" in config:
        return int(config["input_dim"]) * int(config["output_dim"]), int(config["output_dim"])
    custom = layer.get("registered_name") or ">" in class_name
    return 0, 1 if class_name in _UNKNOWN_WIDTH or custom else width


def _mapping(value: Any) -> dict:
    """``value`` if it is a JSON object, else an empty one: a configuration of another shape
    (a list, a string) implies no weights here, and Keras refuses it with its own message."""
    return value if isinstance(value, dict) else {}


def _inbound_names(nodes: Any) -> list[str]:
    """Names of the layers feeding a layer, from Keras 3 (``keras_history``) or legacy
    (``[name, node, tensor, kwargs]``) inbound nodes."""
    if isinstance(nodes, dict):
        if isinstance(nodes.get("keras_history"), list):
            return [nodes["keras_history"][0]]
        return [name for value in nodes.values() for name in _inbound_names(value)]
    if isinstance(nodes, list):
        if len(nodes) in (3, 4) and isinstance(nodes[0], str) and isinstance(nodes[1], int):
            return [nodes[0]]
        return [name for value in nodes for name in _inbound_names(value)]
    return []

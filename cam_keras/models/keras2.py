"""Read model files written by Keras 2 (``tf.keras`` before TensorFlow 2.16, ``tf_keras``) with
Keras 3: translate the configuration keys Keras 3 renamed or dropped, layer by layer and nested
models included, into a Keras 3-readable copy of the file; its weights are loaded as stored.

What changed between the two, found by loading real Keras 2 files (tests/support/keras2_zoo.py):

- ``batch_input_shape`` on ``InputLayer`` is ``batch_shape``; on the first layer of a
  ``Sequential`` it becomes an ``InputLayer`` of its own;
- ``DepthwiseConv2D`` no longer takes ``groups``; ``BatchNormalization``'s ``axis`` is one
  integer, not a list;
- a nested model called on a tensor is its node 0 in Keras 3, node 1 in Keras 2;
- a ``.keras`` archive names its model classes by ``tf_keras`` modules; a mixed-precision
  ``Policy`` is a ``DTypePolicy``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

#: Keras 2 modules of model classes -> what Keras 3 reads.
_MODEL_CLASSES = {"Functional": ("keras", "Model"), "Sequential": ("keras", "Sequential"), "Model": ("keras", "Model")}
#: Module prefixes of Keras 2 classes in ``.keras`` archives (tf_keras; Keras 2.12-2.15).
_KERAS2_MODULES = ("tf_keras", "keras.engine", "keras.src.engine")
#: Keys Keras 3 dropped, per layer class.
_DROPPED = {"DepthwiseConv2D": ("groups",)}


def is_keras2_config(config: Any) -> bool:
    """Whether a model configuration was written by Keras 2: a ``batch_input_shape`` key or a
    Keras 2 module anywhere in it."""
    text = json.dumps(config)
    return '"batch_input_shape"' in text or any(f'"module": "{prefix}' in text for prefix in _KERAS2_MODULES)


def translate(config: dict) -> dict:
    """A Keras 3-readable copy of a Keras 2 model configuration (``{"class_name", "config"}``)."""
    config = copy.deepcopy(config)
    _translate_object(config)
    return config


def _translate_object(node: Any) -> None:
    """Translate every serialized object (a dict with ``class_name`` and ``config``) in place."""
    if isinstance(node, list):
        for item in node:
            _translate_object(item)
        return
    if not isinstance(node, dict):
        return
    for value in node.values():
        _translate_object(value)
    if not ("class_name" in node and isinstance(node.get("config"), dict)):
        return
    class_name, config = node["class_name"], node["config"]
    if str(node.get("module") or "").startswith(_KERAS2_MODULES):
        node["module"], node["class_name"] = _MODEL_CLASSES.get(class_name, ("keras.layers", class_name))
        node["registered_name"] = None
    if class_name == "Policy":  # mixed precision
        node["class_name"], node["module"] = "DTypePolicy", "keras"
    for key in _DROPPED.get(class_name, ()):
        config.pop(key, None)
    if class_name == "BatchNormalization" and isinstance(config.get("axis"), list) and len(config["axis"]) == 1:
        config["axis"] = config["axis"][0]
    if class_name == "InputLayer" and "batch_input_shape" in config:
        config["batch_shape"] = config.pop("batch_input_shape")
    if isinstance(config.get("layers"), list):
        if class_name == "Sequential":
            _sequential_input(config)
        else:
            _renumber_nested_model_nodes(config["layers"])


def _sequential_input(config: dict) -> None:
    """Keras 2 put a Sequential model's input shape on its first layer; Keras 3 wants an InputLayer."""
    layers = config["layers"]
    shape = layers[0]["config"].pop("batch_input_shape", None) if layers else None
    if shape is not None and layers[0]["class_name"] != "InputLayer":
        dtype = layers[0]["config"].get("dtype", "float32")
        dtype = dtype if isinstance(dtype, str) else "float32"
        layers.insert(0, {"class_name": "InputLayer", "config": {"batch_shape": shape, "dtype": dtype}})
    for layer in layers[1:]:
        layer["config"].pop("batch_input_shape", None)


def _renumber_nested_model_nodes(layers: list[dict]) -> None:
    """Calls of a nested model: Keras 2 numbered them from 1 (node 0 was the model's own
    construction), Keras 3 from 0. Legacy (list) inbound nodes only: ``[name, node, tensor, kwargs]``."""
    models = {layer.get("name", layer["config"].get("name")) for layer in layers if "layers" in layer["config"]}
    for layer in layers:
        for node in layer.get("inbound_nodes", []):
            for inbound in node if isinstance(node, list) else []:
                if isinstance(inbound, list) and inbound[0] in models and inbound[1] > 0:
                    inbound[1] -= 1

"""The ``keras.applications`` families by name: the registry that both the backbone builder
(:mod:`cam_keras.models.backbones`) and the preprocessing choices
(:mod:`cam_keras.models.preprocessing`) read. It imports neither."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import keras


def canonical_name(name: str) -> str:
    """Name compared ignoring case, ``_``, ``-`` and ``.``: ``"MobileNet_V2"`` -> ``"mobilenetv2"``."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone: its constructor and the module holding ``preprocess_input``."""

    name: str
    constructor: Callable[..., keras.Model]
    module: str


@functools.cache
def application_backbones() -> dict[str, BackboneSpec]:
    """All ``keras.applications`` constructors by name (``"resnet50"``, ``"inception_v3"``,
    ``"efficientnetb0"``, ...), found by walking the public submodules, so new families
    appear without code changes. A model named like its module takes the module's spelling.
    """
    specs: dict[str, BackboneSpec] = {}
    for module_name in sorted(dir(keras.applications)):
        module = getattr(keras.applications, module_name)
        if not inspect.ismodule(module) or not hasattr(module, "preprocess_input"):
            continue
        for attr in dir(module):
            constructor = getattr(module, attr)
            if not (attr[:1].isupper() and callable(constructor)):
                continue
            name = module_name if canonical_name(module_name) == canonical_name(attr) else attr.lower()
            # Prefer the module named after the model (resnet50 over resnet).
            if name not in specs or name == module_name:
                specs[name] = BackboneSpec(name, constructor, module_name)
    # Some constructors (MobileNetV3Small/Large) are exported only at the top level: pair
    # them with the submodule whose name starts theirs.
    known = {spec.constructor for spec in specs.values()}
    modules = {spec.module for spec in specs.values()} | {
        m for m in dir(keras.applications) if hasattr(getattr(keras.applications, m), "preprocess_input")
    }
    for attr in dir(keras.applications):
        constructor = getattr(keras.applications, attr)
        if attr[:1].isupper() and callable(constructor) and constructor not in known:
            owners = [m for m in modules if canonical_name(attr).startswith(canonical_name(m))]
            if owners:
                specs[attr.lower()] = BackboneSpec(attr.lower(), constructor, max(owners, key=len))
    return specs

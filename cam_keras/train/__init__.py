"""Train room: configuration, two-phase fine-tuning loop, callbacks, strategies.

Names load on first use, so reading the configuration (as the command line's help does) does
not import TensorFlow.
"""

import importlib

_EXPORTS = {
    "CamSnapshots": "cam_keras.train.callbacks",
    "SaveBestModel": "cam_keras.train.callbacks",
    "TrainConfig": "cam_keras.train.config",
    "load_config": "cam_keras.train.config",
    "learning_note": "cam_keras.train.learning",
    "read_training_metadata": "cam_keras.train.learning",
    "TrainResult": "cam_keras.train.loop",
    "fine_tune": "cam_keras.train.loop",
    "make_strategy": "cam_keras.train.strategy",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__

"""Train room: configuration, two-phase fine-tuning loop, callbacks, strategies.

Names load on first use, so reading the configuration (as the command line's help does) does
not import TensorFlow.
"""

from cam_keras.quiet_import import lazy_exports

_EXPORTS = {
    "CamSnapshots": "cam_keras.train.callbacks",
    "SaveBestModel": "cam_keras.train.callbacks",
    "TrainConfig": "cam_keras.train.config",
    "load_config": "cam_keras.train.config",
    "learning_note": "cam_keras.models.learning",
    "read_training_metadata": "cam_keras.models.learning",
    "TrainResult": "cam_keras.train.loop",
    "fine_tune": "cam_keras.train.loop",
    "make_strategy": "cam_keras.train.strategy",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

"""Train room: configuration, two-phase fine-tuning loop, callbacks, strategies."""

from cam_keras.train.callbacks import CamSnapshots, SaveBestModel
from cam_keras.train.config import TrainConfig, load_config
from cam_keras.train.learning import learning_note, read_training_metadata
from cam_keras.train.loop import TrainResult, fine_tune
from cam_keras.train.strategy import make_strategy

__all__ = [
    "CamSnapshots",
    "SaveBestModel",
    "TrainConfig",
    "TrainResult",
    "fine_tune",
    "learning_note",
    "load_config",
    "make_strategy",
    "read_training_metadata",
]

"""Training configuration: defaults, TOML files, and flag overrides, in that order."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


@dataclass
class TrainConfig:
    """Everything a fine-tuning run needs besides its data and output folders.

    Two phases: ``head_epochs`` with the backbone frozen at ``head_lr``, then
    ``finetune_epochs`` with the backbone unfrozen (``unfreeze``: ``"all"`` or the number of
    top backbone layers) at ``finetune_lr``. For pretrained backbones BatchNormalization
    stays in inference mode throughout; a backbone trained from scratch (``weights=None``)
    trains its BatchNormalization layers.
    """

    backbone: str = "small_cnn"
    input_size: int = 64
    weights: str | None = None
    width: int = 32
    drop_last_pool: bool = False
    head_conv: int | None = None
    dropout: float = 0.0

    head_epochs: int = 0
    finetune_epochs: int = 10
    head_lr: float = 1e-3
    finetune_lr: float = 1e-3
    unfreeze: str | int = "all"
    optimizer: str = "adam"
    label_smoothing: float = 0.0
    batch_size: int = 32

    val_fraction: float = 0.2
    val_dir: str | None = None
    seed: int = 0
    resize: str = "squash"
    augment: str = "standard"
    cache: bool = False
    class_weights: bool = False
    skip_empty_classes: bool = False

    checkpoint_every: str | int = "epoch"
    log_every: int = 10
    snapshot_every_epochs: int = 1
    snapshot_every_steps: int | None = None
    snapshot_images: int = 8
    early_stopping: int = 0
    reduce_lr: int = 0

    mixed_precision: bool = False
    jit_compile: bool = False
    deterministic: bool = False
    strategy: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def validate(self) -> TrainConfig:
        if self.head_epochs < 0 or self.finetune_epochs < 0 or self.head_epochs + self.finetune_epochs == 0:
            raise ValueError("head_epochs and finetune_epochs must be >= 0 and not both 0")
        if self.augment not in ("none", "flip", "standard"):
            raise ValueError(f"augment must be none, flip or standard, not {self.augment!r}")
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ValueError(f"optimizer must be adam, adamw or sgd, not {self.optimizer!r}")
        if not (self.unfreeze == "all" or (isinstance(self.unfreeze, int) and self.unfreeze > 0)):
            raise ValueError(f"unfreeze must be 'all' or a positive number of layers, not {self.unfreeze!r}")
        if self.checkpoint_every != "epoch" and not (isinstance(self.checkpoint_every, int) and self.checkpoint_every > 0):
            raise ValueError("checkpoint_every must be 'epoch' or a positive number of steps")
        return self

    def to_toml(self) -> str:
        """The config as TOML (``None`` values are left out, as TOML has no null)."""
        lines = []
        for key, value in dataclasses.asdict(self).items():
            if key == "extra" or value is None:
                continue
            lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def config_fields() -> set[str]:
    return {f.name for f in dataclasses.fields(TrainConfig)} - {"extra"}


def load_config(path: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Defaults, then the TOML file at ``path`` (if any), then ``overrides`` whose value is not
    ``None``. Unknown keys are errors that name the key and the file.

    Example:
        >>> config = load_config("configs/resnet50_gpu.toml", {"batch_size": 32})
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            values.update(tomllib.loads(path.read_text()))
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: config file not found") from None
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{path}: not valid TOML ({error})") from None
        unknown = set(values) - config_fields()
        if unknown:
            raise ValueError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(config_fields()))}")
    for key, value in (overrides or {}).items():
        if key not in config_fields():
            raise ValueError(f"unknown setting {key!r}")
        if value is not None:
            values[key] = value
    return TrainConfig(**values).validate()

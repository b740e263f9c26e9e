"""Training configuration: defaults, TOML files, and overrides given as text, in that order.

Every setting is one :class:`TrainConfig` field whose metadata (:func:`setting`) says, once,
its help text, its valid values, its group and whether a resumed run may change it. The TOML
loader, the command line's flags and help, and the resume check all derive from it, and
:func:`check_settings` validates values from any source, naming the file and key or the option.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cam_keras.choices import AUGMENTATIONS, RESIZE_POLICIES, STRATEGIES
from cam_keras.errors import UsageError, option
from cam_keras.train.budget import memory_problem
from cam_keras.train.optimizers import OPTIMIZERS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

GROUPS = ("model", "training", "data", "checkpoints and logs", "hardware")


def setting(
    default: Any,
    help: str,
    group: str,
    *,
    choices: tuple[str, ...] = (),
    minimum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    on_resume: bool = False,
) -> Any:
    """A :class:`TrainConfig` field with its help text and valid values.

    ``choices`` lists the words a text setting accepts (for ``str | int`` settings, the word
    besides a positive number); ``minimum`` is an inclusive bound, ``above``/``below`` exclusive
    ones. ``on_resume``: a resumed run may change the setting, because it does not
    change what was already trained (see :data:`RESUMABLE`).
    """
    metadata = dict(
        help=help, group=group, choices=choices, minimum=minimum, above=above, below=below, on_resume=on_resume
    )
    return dataclasses.field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Everything a fine-tuning run needs besides its data and output folders.

    Two phases: ``head_epochs`` with the backbone frozen at ``head_lr``, then
    ``finetune_epochs`` with the backbone unfrozen (``unfreeze``: ``"all"`` or the number of
    top backbone layers) at ``finetune_lr``. For pretrained backbones BatchNormalization
    stays in inference mode throughout; a backbone trained from scratch (``weights=None``)
    trains its BatchNormalization layers.
    """

    backbone: str = setting("small_cnn", "small_cnn or a keras.applications name, e.g. resnet50", "model")
    input_size: int = setting(64, "side of the square model input, in pixels", "model", minimum=8)
    weights: str | None = setting(
        None, "imagenet or a local no-top weights file of a keras.applications backbone; omit for random init", "model"
    )
    width: int = setting(32, "base channels of small_cnn (its maps have 4x width channels)", "model", minimum=1)
    drop_last_pool: bool = setting(False, "cut the backbone's last pooling, for maps twice as fine", "model")
    output_stride: int | None = setting(
        None,
        "input pixels per map cell, a power of two finer than the backbone's own (32 for keras.applications, "
        "4 for small_cnn): later strides become dilations; each halving costs ~4x the later layers' work",
        "model",
        minimum=1,
    )
    head_conv: int | None = setting(
        None, "filters of an extra 3x3 conv before the pooling (omit for none)", "model", minimum=1
    )
    dropout: float = setting(0.0, "dropout rate before the classifier", "model", minimum=0.0, below=1.0)

    head_epochs: int = setting(0, "epochs of the head phase (backbone frozen)", "training", minimum=0, on_resume=True)
    finetune_epochs: int = setting(
        10, "epochs of the fine-tune phase (backbone unfrozen)", "training", minimum=0, on_resume=True
    )
    head_lr: float = setting(1e-3, "learning rate of the head phase", "training", above=0.0)
    finetune_lr: float = setting(1e-3, "learning rate of the fine-tune phase", "training", above=0.0)
    unfreeze: str | int = setting(
        "all",
        "backbone layers trained in the fine-tune phase: all or the number of top layers",
        "training",
        choices=("all",),
    )
    optimizer: str = setting("adam", "optimizer of both phases", "training", choices=tuple(OPTIMIZERS))
    label_smoothing: float = setting(
        0.0, "label smoothing of the cross-entropy loss", "training", minimum=0.0, below=1.0
    )
    batch_size: int = setting(32, "images per training step", "training", minimum=1)
    early_stopping: int = setting(
        0, "stop a phase after this many epochs without better validation loss (0 = off)", "training", minimum=0
    )
    reduce_lr: int = setting(
        0,
        "divide the learning rate by 3.3 after this many epochs without better validation loss (0 = off)",
        "training",
        minimum=0,
    )

    val_fraction: float = setting(
        0.2,
        f"fraction of every class held out for validation (without {option('val_dir')})",
        "data",
        above=0.0,
        below=1.0,
    )
    val_dir: str | None = setting(None, "separate validation folder with the same class folders", "data")
    seed: int = setting(0, "seed of the split, the shuffling, augmentation and initial weights", "data", minimum=0)
    resize: str = setting(
        "squash", "how images become squares: squash, crop the center, or pad", "data", choices=RESIZE_POLICIES
    )
    augment: str = setting(
        "standard",
        "training augmentation: none, flip, or standard (flip, shift, light jitter)",
        "data",
        choices=AUGMENTATIONS,
    )
    cache: bool = setting(False, "keep decoded images in memory", "data", on_resume=True)
    class_weights: bool = setting(False, "weight classes by inverse frequency", "data")
    skip_empty_classes: bool = setting(
        False, "leave out class folders without readable images (not model outputs)", "data", on_resume=True
    )

    checkpoint_every: str | int = setting(
        "epoch", "checkpoint every epoch, or every N steps", "checkpoints and logs", choices=("epoch",), on_resume=True
    )
    log_every: int = setting(10, "TensorBoard scalars every N steps", "checkpoints and logs", minimum=1, on_resume=True)
    snapshot_every_epochs: int = setting(
        1, "CAM snapshot grid every N epochs (0 = off)", "checkpoints and logs", minimum=0, on_resume=True
    )
    snapshot_every_steps: int | None = setting(
        None, "also a CAM snapshot every N steps (omit for none)", "checkpoints and logs", minimum=1, on_resume=True
    )
    snapshot_images: int = setting(
        8,
        "validation images in each snapshot grid (0 = no snapshots)",
        "checkpoints and logs",
        minimum=0,
        on_resume=True,
    )

    mixed_precision: bool = setting(False, "train in mixed_float16 (GPUs)", "hardware")
    jit_compile: bool = setting(False, "compile train steps with XLA", "hardware", on_resume=True)
    deterministic: bool = setting(
        False, "deterministic ops: the same seed trains the same weights", "hardware", on_resume=True
    )
    strategy: str = setting(
        "auto",
        "distribution: auto, default (one device), mirrored (all GPUs) or multiworker (TF_CONFIG)",
        "hardware",
        choices=STRATEGIES,
        on_resume=True,
    )

    def validate(self) -> TrainConfig:
        """Check every value (see :func:`check_settings`); return ``self``.

        Raises:
            UsageError: naming the setting and its valid values.
        """
        check_settings(dataclasses.asdict(self), "TrainConfig")
        return self

    def to_toml(self) -> str:
        """The config as TOML (``None`` values are left out, as TOML has no null)."""
        values = dataclasses.asdict(self).items()
        lines = [f"{key} = {_toml_value(value)}" for key, value in values if value is not None]
        return "\n".join(lines) + "\n"


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(TrainConfig)}
RESUMABLE: tuple[str, ...] = tuple(name for name, f in FIELDS.items() if f.metadata["on_resume"])
"""Settings a resumed run may change: epochs (to extend a phase), data loading, logging,
checkpoints, snapshots and hardware. Every other setting is fixed once a run has trained."""
FIXED_ON_RESUME: tuple[str, ...] = tuple(name for name in FIELDS if name not in RESUMABLE)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def _kinds(key: str) -> set[str]:
    """The value types a field accepts, from its annotation (``"int | None"`` -> int, None)."""
    return {part.strip() for part in str(FIELDS[key].type).split("|")}


def _number(value: Any, kinds: set[str], text: bool) -> int | float:
    """``value`` as the field's number type, from TOML or Python (typed) or, with ``text``,
    text from the command line.

    Raises:
        ValueError: not a (finite, whole where required) number; text from anywhere but the command line.
    """
    whole = "float" not in kinds
    if isinstance(value, str) and text:
        value = int(value) if whole else float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (whole and not isinstance(value, int)):
        raise ValueError(value)
    if not math.isfinite(value):
        raise ValueError(value)
    return value if whole else float(value)


def _range_text(meta: Mapping[str, Any]) -> str:
    parts = [
        f">= {meta['minimum']}" if meta["minimum"] is not None else "",
        f"> {meta['above']}" if meta["above"] is not None else "",
        f"< {meta['below']}" if meta["below"] is not None else "",
    ]
    return " and ".join(part for part in parts if part)


def _in_range(value: float, meta: Mapping[str, Any]) -> bool:
    return not (
        (meta["minimum"] is not None and value < meta["minimum"])
        or (meta["above"] is not None and value <= meta["above"])
        or (meta["below"] is not None and value >= meta["below"])
    )


def check_value(key: str, value: Any, text: bool = False) -> Any:
    """``value`` converted to setting ``key``'s type; with ``text`` (a command line's value) text is
    parsed, elsewhere (TOML, Python) a number or truth value given as text is refused.

    Raises:
        ValueError: saying what the setting expects (the caller names where it came from).
    """
    meta, kinds = FIELDS[key].metadata, _kinds(key)
    if value is None and "None" in kinds:
        return None
    if "bool" in kinds:
        if text and isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise ValueError("true or false" + (", without quotes" if isinstance(value, str) else ""))
        return value
    words = meta["choices"]
    if "int" in kinds and "str" in kinds:  # a word or a positive number (unfreeze, checkpoint_every)
        if value in words:
            return value
        try:
            number = _number(value, {"int"}, text)
        except ValueError:
            number = 0
        if number < 1:
            raise ValueError(f"{' or '.join(words)} or a positive whole number")
        return number
    if "str" in kinds:
        if not isinstance(value, str) or not value:
            raise ValueError("a non-empty text" if not words else f"one of {', '.join(words)}")
        if words and value not in words:
            raise ValueError(f"one of {', '.join(words)}")
        return value
    expected = f"a {'finite ' if 'float' in kinds else 'whole '}number {_range_text(meta)}".strip()
    try:
        number = _number(value, kinds, text)
    except ValueError:
        raise ValueError(expected + (", without quotes" if isinstance(value, str) and not text else "")) from None
    if not _in_range(number, meta):
        raise ValueError(expected)
    return number


def checked_values(values: Mapping[str, Any], source: str, from_text: bool = False) -> dict[str, Any]:
    """``values`` converted to their settings' types, each checked on its own.

    Args:
        values: setting -> value (typed from TOML, or text from the command line).
        source: where the values came from, for messages (a file name, ``TrainConfig``).
        from_text: the values are text to parse, each named as an option (``batch_size 0``)
            rather than ``key = value``.

    Raises:
        UsageError: one line naming the source, the key or option, the value and what is valid.
    """
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise UsageError(f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    checked = {}
    for key, value in values.items():
        try:
            checked[key] = check_value(key, value, text=from_text)
        except ValueError as error:
            where = f"{option(key)} {value}" if from_text else f"{source}: {key} = {value!r}"
            raise UsageError(f"{where}: expected {error}") from None
    return checked


def check_settings(values: Mapping[str, Any], source: str) -> TrainConfig:
    """A validated :class:`TrainConfig`: defaults updated with ``values`` (see
    :func:`checked_values`), then the checks that involve several settings or files.

    Raises:
        UsageError: naming ``source``, the setting and the problem.
    """
    config = TrainConfig(**checked_values(values, source))
    for key, problem in _cross_checks(config):
        raise UsageError(f"{source}: {key} = {getattr(config, key)!r}: {problem}")
    return config


def _cross_checks(config: TrainConfig) -> list[tuple[str, str]]:
    """Problems that involve more than one setting or the file system: (key, problem)."""
    problems = []
    if config.head_epochs + config.finetune_epochs == 0:
        problems.append(("finetune_epochs", "head_epochs and finetune_epochs are both 0; train at least one epoch"))
    if config.weights is not None:
        if config.backbone == "small_cnn":
            problems.append(
                ("weights", "small_cnn has no pretrained weights; omit weights or choose a keras.applications backbone")
            )
        elif config.weights != "imagenet" and not Path(config.weights).is_file():
            problems.append(("weights", "no such file; pass imagenet, the path of a no-top weights file, or omit it"))
    too_large = memory_problem(config)
    if too_large:
        problems.append(too_large)
    return problems


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """The settings in a TOML file, each checked (see :func:`checked_values`).

    Raises:
        UsageError: the file is missing, not valid TOML, or holds an invalid setting, naming it.
    """
    path = Path(path)
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: not valid TOML ({error})") from None
    return checked_values(values, str(path))


def requested_settings(path: str | os.PathLike | None, texts: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a user asked for: the TOML file's, then those given as text (``None`` =
    not given), each checked and converted, without defaults."""
    values = read_toml(path) if path is not None else {}
    given = {key: value for key, value in texts.items() if value is not None}
    return {**values, **checked_values(given, "settings", from_text=True)}


def load_config(path: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Defaults, then the TOML file at ``path`` (if any), then ``overrides`` whose value is not
    ``None``. Unknown keys and invalid values are errors that name the key and the file.

    Example:
        >>> config = load_config("configs/resnet50_gpu.toml", {"batch_size": 32})
    """
    return check_settings(requested_settings(path, overrides or {}), str(path) if path is not None else "settings")

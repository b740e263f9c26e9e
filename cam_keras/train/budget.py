"""How much memory a training config needs at least, checked against the machine's before
anything is built: a typo such as ``input_size = 100000`` or ``batch_size = 100000000000``
is refused in a line with the figure instead of swapping for minutes or hanging.

The figure is a lower bound, counted from what one training step must hold in float32 (half
with mixed precision): a batch of input pixels twice (the pipeline's prefetched batch and the
model's rescaled copy) and, for ``small_cnn``, each stage's convolution output, plus the
weights, their gradients and the optimizer's two moments. What else a step holds (batch
normalization and ReLU outputs, a keras.applications backbone's maps, TensorFlow itself) only
adds to it, so a config refused here could not have trained.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cam_keras.train.config import TrainConfig

# small_cnn's stages (see cam_keras.models.backbones.small_cnn): channels in base widths and
# the side divisor of each convolution's output.
_SMALL_CNN_STAGES = ((1, 1), (1, 2), (2, 2), (2, 4), (4, 4), (4, 4), (4, 4))
_SMALL_CNN_KERNELS = (9, 4, 9, 4, 9, 9, 9)  # kernel cells per stage (3x3 or 2x2)
_COPIES_OF_WEIGHTS = 4  # weights, gradients, and Adam's two moments


def least_training_bytes(config: TrainConfig) -> int:
    """A lower bound of the memory one training step of ``config`` needs, in bytes."""
    value_bytes = 2 if config.mixed_precision else 4
    pixels = config.input_size**2
    per_image = 2 * 3 * pixels
    weights = 0
    if config.backbone == "small_cnn":
        channels_in = 3
        for (width, divisor), cells in zip(_SMALL_CNN_STAGES, _SMALL_CNN_KERNELS):
            per_image += width * config.width * pixels // divisor**2
            weights += cells * channels_in * width * config.width
            channels_in = width * config.width
        if config.head_conv:
            per_image += config.head_conv * pixels // 16
            weights += 9 * channels_in * config.head_conv
    return value_bytes * (config.batch_size * per_image + _COPIES_OF_WEIGHTS * weights)


def machine_memory() -> int | None:
    """This machine's physical memory in bytes (``None`` where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def memory_problem(config: TrainConfig) -> tuple[str, str] | None:
    """``(setting, problem)`` when ``config`` needs more memory than the machine has, naming
    the setting furthest above its default and the figures; ``None`` when it may fit."""
    defaults = {field.name: field.default for field in dataclasses.fields(config)}
    needed, memory = least_training_bytes(config), machine_memory()
    if memory is None or needed <= memory:
        return None
    sizes = ("input_size", "batch_size", *(("width",) if config.backbone == "small_cnn" else ()), "head_conv")
    key = max(sizes, key=lambda name: (getattr(config, name) or 0) / (defaults[name] or 1))
    shown = ", ".join(f"{name} = {getattr(config, name)}" for name in sizes if getattr(config, name) is not None)
    return key, (
        f"one training step with {shown} needs at least {_human(needed)} (input batches, feature maps and "
        f"weights), more than this machine's {_human(memory)} of memory; lower {key}"
    )


def _human(size: int) -> str:
    """``3.8 TB``, ``23.4 GB``: bytes in decimal units."""
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
    power = min(len(units) - 1, (len(str(size)) - 1) // 3)
    return f"{size / 1000**power:.1f} {units[power]}"

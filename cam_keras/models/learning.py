"""The learning check: is validation accuracy clearly above chance?

Chance is the majority-class rate ``p`` of the validation set (what always answering the
commonest class scores). With ``n`` validation images its standard error is
``sqrt(p (1 - p) / n)``; an accuracy within two standard errors of ``p`` is not clearly above
chance, and the model may have learned nothing, however convincing its heatmaps look.

Training records the check (:mod:`cam_keras.train`); it lives here, with the model file it is
saved in, so that whatever loads a model (``cam-keras heatmap``) can warn without importing
the training package.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

from cam_keras.errors import Spelling, library_spelling, name_options, option
from cam_keras.models.backbones import SMALL_CNN
from cam_keras.models.io import TRAINING_ENTRY


def _advice(backbone: str | None, pretrained: bool | None) -> str:
    """What usually helps a model that learned nothing, leaving out what it already does."""
    if backbone == SMALL_CNN:
        pretrained_backbone = f"{option('backbone', 'resnet50')} {option('weights', 'imagenet')}"
        steps = [f"a pretrained backbone ({pretrained_backbone}, or a smaller family)"]
    else:
        steps = [] if pretrained else [f"pretrained weights ({option('weights', 'imagenet')})"]
        steps.append(f"the small CNN for small data from scratch ({option('backbone', 'small_cnn')})")
    return f"what usually helps: {', '.join(steps)}, more epochs, or a lower learning rate"


def can_judge(chance: float, images: int) -> bool:
    """Whether ``images`` validation images can show an accuracy clearly above ``chance``:
    false when even 100% accuracy lies within two standard errors of it."""
    return chance + 2.0 * math.sqrt(chance * (1.0 - chance) / images) < 1.0


def learning_check(val_accuracy: float | None, val_counts: Sequence[int]) -> dict[str, Any] | None:
    """``{"val_accuracy", "chance_accuracy", "val_images", "above_chance"}``, or ``None``
    without validation images or accuracy.

    Example:
        >>> learning_check(0.34, [20, 20, 20])["above_chance"]
        False
    """
    total = int(sum(val_counts))
    if not total or val_accuracy is None:
        return None
    chance = max(val_counts) / total
    margin = 2.0 * math.sqrt(chance * (1.0 - chance) / total)
    return {
        "val_accuracy": float(val_accuracy),
        "chance_accuracy": chance,
        "val_images": total,
        "above_chance": bool(val_accuracy > chance + margin),
    }


def learning_note(
    metadata: Mapping[str, Any] | None,
    backbone: str | None = None,
    pretrained: bool | None = None,
    spelling: Spelling = library_spelling,
) -> str | None:
    """A warning when a model's stored validation accuracy is at chance, else ``None``.

    ``metadata`` is a :func:`learning_check` result, as stored in a trained model (see
    :func:`read_training_metadata`) and in the run's ``state.json``. The advice leaves out
    what the model already does: its ``backbone``, and pretrained weights when
    ``pretrained`` (``None``: not known). With so few validation images that no accuracy
    could be clearly above chance, the warning says that instead. Settings are named as
    ``spelling`` spells them (by default as :class:`~cam_keras.train.TrainConfig` fields).

    Example:
        >>> learning_note(learning_check(0.35, [20, 20, 20])).split(" (")[0]
        'validation accuracy 0.350 is not clearly above chance'
    """
    if not metadata or metadata.get("above_chance", True):
        return None
    chance, images = metadata["chance_accuracy"], metadata["val_images"]
    if not can_judge(chance, images):
        note = (
            f"only {images} validation image(s): even 100% accuracy would not be clearly above chance "
            f"({chance:.3f}, the share of the commonest class), so nothing can be judged from so few; hold out "
            f"more images ({option('val_fraction')}) or pass a larger {option('val_dir')}"
        )
        return name_options(note, spelling)
    note = (
        f"validation accuracy {metadata['val_accuracy']:.3f} is not clearly above chance "
        f"({chance:.3f}, the share of the commonest class among {images} "
        f"validation images): the model may have learned nothing, and its heatmaps mean little; "
        f"{_advice(backbone, pretrained)}"
    )
    return name_options(note, spelling)


def read_training_metadata(path: str | os.PathLike) -> dict[str, Any] | None:
    """The learning check stored in a ``.keras`` file written by training, or ``None``.

    Example (a model trained by ``cam-keras train``)::

        learning_note(read_training_metadata("runs/first/model.keras"))
    """
    try:
        with zipfile.ZipFile(path) as archive:
            if TRAINING_ENTRY not in archive.namelist():
                return None
            record = json.loads(archive.read(TRAINING_ENTRY).decode("utf-8"))
    except (OSError, zipfile.BadZipFile, ValueError):
        return None
    return record if isinstance(record, dict) else None

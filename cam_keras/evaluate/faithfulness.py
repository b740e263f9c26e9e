"""Is a map faithful to the model? Deletion/insertion curves and average drop/increase.

- Deletion (Petsiuk et al., BMVC 2018): remove pixels (set them to a blurred copy) in order of
  decreasing map value; the class probability should fall fast, so a lower AUC is better.
- Insertion: start from the blurred image and restore pixels in the same order; a higher
  AUC is better.
- Average drop / increase (Chattopadhyay et al., WACV 2018): the class probability on the
  image multiplied by its map, relative to the full image: drop
  :math:`\\operatorname{mean}(\\max(0, y - o) / y)` (lower is better) and the fraction of
  images whose probability rises (higher is better).

All functions are batched through the model and deterministic (ties broken by position).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import keras
import numpy as np

from cam_keras.models.contract import model_contract

BLUR_SIGMA_FRACTION = 0.05


def blurred(images: np.ndarray) -> np.ndarray:
    """Gaussian-blurred copies of ``(batch, H, W, 3)`` images: the "removed" pixel values.

    Example:
        >>> blurred(np.zeros((2, 64, 64, 3), np.float32)).shape
        (2, 64, 64, 3)
    """
    from scipy.ndimage import gaussian_filter

    sigma = max(1.0, BLUR_SIGMA_FRACTION * images.shape[1])
    return np.stack([gaussian_filter(image, sigma=(sigma, sigma, 0)) for image in images]).astype(np.float32)


def _probabilities(model: keras.Model, batch: np.ndarray, classes: np.ndarray, batch_size: int) -> np.ndarray:
    contract = model_contract(model)
    scores = []
    for start in range(0, len(batch), batch_size):
        output = model(contract.inputs.prepare(batch[start : start + batch_size]), training=False)
        scores.append(contract.outputs.output_probabilities(output).numpy())
    return np.concatenate(scores)[np.arange(len(batch)), classes]


def perturbation_curves(
    model: keras.Model, images: np.ndarray, maps: np.ndarray, classes: np.ndarray, steps: int = 16, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Deletion and insertion curves, each ``(batch, steps + 1)`` class probabilities.

    Args:
        images: ``(batch, H, W, 3)`` model inputs in [0, 255].
        maps: ``(batch, H, W)`` saliency at input size (higher = more important).
        classes: ``(batch,)`` class to follow.

    Example:
        >>> deletion, insertion = perturbation_curves(model, images, maps, labels, steps=16)
        >>> deletion.shape  # (batch, 17)
    """
    batch, height, width = maps.shape
    baseline = blurred(images)
    order = np.argsort(-maps.reshape(batch, -1), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(height * width)[None].repeat(batch, 0), axis=1)
    rank = rank.reshape(batch, height, width, 1)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    deletion, insertion = [], []
    for fraction in fractions:
        chosen = rank < round(fraction * height * width)
        deletion.append(np.where(chosen, baseline, images))
        insertion.append(np.where(chosen, images, baseline))
    repeated = np.tile(classes, steps + 1)
    delete_scores = _probabilities(model, np.concatenate(deletion), repeated, batch_size)
    insert_scores = _probabilities(model, np.concatenate(insertion), repeated, batch_size)
    return delete_scores.reshape(steps + 1, batch).T, insert_scores.reshape(steps + 1, batch).T


def area_under_curve(curve: np.ndarray) -> np.ndarray:
    """Trapezoidal area of curves sampled evenly on [0, 1]: ``(batch, points)`` -> ``(batch,)``.

    Example:
        >>> area_under_curve(np.array([[1.0, 0.5, 0.0]]))
        array([0.5])
    """
    return (curve[..., 1:] + curve[..., :-1]).sum(axis=-1) / (2.0 * (curve.shape[-1] - 1))


@dataclass
class FaithfulnessScores:
    """Mean scores over images (see the module docstring for which direction is better);
    ``labels`` names them in the printed summary."""

    labels: ClassVar[dict[str, str]] = {
        "deletion_auc": "deletion AUC (lower=better)",
        "insertion_auc": "insertion AUC",
        "average_drop": "average drop",
        "average_increase": "average increase",
    }
    deletion_auc: float
    insertion_auc: float
    average_drop: float
    average_increase: float

    def as_dict(self) -> dict[str, float]:
        return dict(vars(self))


def faithfulness(
    model: keras.Model, images: np.ndarray, maps: np.ndarray, classes: np.ndarray, steps: int = 16, batch_size: int = 64
) -> FaithfulnessScores:
    """All four scores for maps ``(batch, H, W)`` in [0, 1] of ``classes`` on ``images``.

    Example:
        >>> maps = CAM(model).explain_batch(images, labels.tolist())["maps"][:, 0]
        >>> faithfulness(model, images, maps, labels).deletion_auc
    """
    deletion, insertion = perturbation_curves(model, images, maps, classes, steps, batch_size)
    full = deletion[:, 0]
    masked = _probabilities(model, images * maps[..., None], classes, batch_size)
    return FaithfulnessScores(
        deletion_auc=float(area_under_curve(deletion).mean()),
        insertion_auc=float(area_under_curve(insertion).mean()),
        average_drop=float(np.mean(np.maximum(0.0, full - masked) / np.maximum(full, 1e-12))),
        average_increase=float(np.mean(masked > full)),
    )

"""Map post-processing from the weakly-supervised localization literature, as evaluation options.

Both come from Bae et al., "Rethinking Class Activation Mapping for Weakly Supervised Object
Localization", ECCV 2020, and both are off by default:

- ``clamp_negative_weights``: CAM sums its channels with :math:`\\max(w^c_k, 0)` instead of
  :math:`w^c_k` (:class:`~cam_keras.cam.cam.CAM`), so channels that speak against the class do not
  dig holes in the object's map. Only CAM has class weights to clamp.
- ``percentile``: a map in [0, 1] is divided by its ``percentile``-th percentile instead of its
  maximum and clipped to [0, 1], so one hot spot does not set the scale that the box threshold is a
  fraction of.

This module imports no TensorFlow, so the command line can name the options.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cam_keras.errors import UsageError

#: each option and what it does, for help texts and reports (the one list of them).
POSTPROCESSING = {
    "clamp_negative_weights": "CAM with negative class weights set to 0 before the sum (Bae et al., ECCV 2020)",
    "percentile": "each map divided by its P-th percentile instead of its maximum, clipped to [0, 1] "
    "(Bae et al., ECCV 2020)",
}


@dataclass(frozen=True)
class MapPostprocessing:
    """How maps are post-processed before boxes and scores (see the module's docstring).

    Attributes:
        clamp_negative_weights: CAM's class weights clamped at 0.
        percentile: scale each map by this percentile of its values (0 < P <= 100); ``None``
            (or 100) keeps the maximum.

    Example:
        >>> MapPostprocessing(clamp_negative_weights=True, percentile=99).as_dict()
        {'clamp_negative_weights': True, 'percentile': 99}
    """

    clamp_negative_weights: bool = False
    percentile: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.clamp_negative_weights, bool):
            raise UsageError(f"clamp_negative_weights must be True or False, got {self.clamp_negative_weights!r}")
        ok = self.percentile is None or (
            isinstance(self.percentile, (int, float)) and math.isfinite(self.percentile) and 0 < self.percentile <= 100
        )
        if not ok:
            raise UsageError(f"percentile must be a number above 0 and at most 100, e.g. 99; got {self.percentile!r}")

    def normalize(self, maps: np.ndarray) -> np.ndarray:
        """Maps ``(..., H, W)`` already scaled to [0, 1] by their minimum and maximum, divided
        by the ``percentile``-th percentile of each map and clipped to [0, 1]; unchanged without a
        percentile. A map whose percentile is 0 (mostly at its minimum) keeps its maximum scale.

        Example:
            >>> MapPostprocessing(percentile=50).normalize(np.array([[0.0, 0.25, 0.5, 1.0]])).round(3).tolist()
            [[0.0, 0.667, 1.0, 1.0]]
        """
        if self.percentile is None:
            return maps
        levels = np.percentile(maps, self.percentile, axis=(-2, -1), keepdims=True)
        levels = np.where(levels > 0, levels, 1.0)
        return np.clip(maps / levels, 0.0, 1.0).astype(maps.dtype, copy=False)

    def describe(self) -> str:
        """The settings in words, for reports; empty when maps are left as they are.

        Example:
            >>> MapPostprocessing(clamp_negative_weights=True, percentile=99).describe()
            'negative class weights clamped; maps scaled by their 99th percentile'
        """
        parts = ["negative class weights clamped"] if self.clamp_negative_weights else []
        parts += [f"maps scaled by their {self.percentile:g}th percentile"] if self.percentile else []
        return "; ".join(parts)

    def as_dict(self) -> dict:
        """The settings as JSON values, for reports."""
        return {"clamp_negative_weights": self.clamp_negative_weights, "percentile": self.percentile}


NO_POSTPROCESSING = MapPostprocessing()

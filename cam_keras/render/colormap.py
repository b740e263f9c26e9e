"""Colormaps as 256-entry lookup tables: one numpy index per pixel, no figure per image."""

from __future__ import annotations

import functools

import matplotlib
import numpy as np


@functools.cache
def colormap_table(name: str = "jet") -> np.ndarray:
    """RGB lookup table ``(256, 3)`` uint8 for a matplotlib colormap name.

    Example:
        >>> colormap_table("viridis").shape
        (256, 3)
    """
    try:
        colormap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(f"unknown colormap {name!r}; try jet, turbo, viridis, inferno") from None
    return (colormap(np.linspace(0.0, 1.0, 256))[:, :3] * 255.0 + 0.5).astype(np.uint8)


def colormap_levels(heatmap: np.ndarray) -> np.ndarray:
    """``(h, w)`` values in [0, 1] as uint8 colormap indices 0..255 (NaN as 0, rounded)."""
    levels = np.multiply(heatmap, 255.0, dtype=np.float32)
    levels += 0.5
    np.clip(levels, 0.0, 255.0, out=levels)
    levels[np.isnan(levels)] = 0.0
    return levels.astype(np.uint8)


def colorize(heatmap: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """Map ``(h, w)`` values in [0, 1] to an RGB image ``(h, w, 3)`` uint8.

    Example:
        >>> colorize(np.linspace(0, 1, 16).reshape(4, 4), "turbo").shape
        (4, 4, 3)
    """
    return np.take(colormap_table(colormap), colormap_levels(heatmap), axis=0)

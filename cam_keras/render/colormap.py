"""Colormaps as 256-entry lookup tables: one numpy index per pixel, no figure per image.

Wherever a colormap is asked for, a name or a table is accepted (:data:`Colormap`): a table
resolved once travels to render worker processes, which then never import matplotlib.
"""

from __future__ import annotations

import functools

import numpy as np

Colormap = str | np.ndarray
"""A matplotlib colormap name, or its lookup table from :func:`colormap_table`."""


@functools.cache
def colormap_table(name: str = "jet") -> np.ndarray:
    """RGB lookup table ``(256, 3)`` uint8 for a matplotlib colormap name.

    Example:
        >>> colormap_table("viridis").shape
        (256, 3)
    """
    import matplotlib  # here, not at import: 0.2 s that a render worker given tables never spends

    try:
        colormap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(f"unknown colormap {name!r}; try jet, turbo, viridis, inferno") from None
    return (colormap(np.linspace(0.0, 1.0, 256))[:, :3] * 255.0 + 0.5).astype(np.uint8)


def as_table(colormap: Colormap) -> np.ndarray:
    """The lookup table of a colormap name, or the table itself (checked)."""
    if isinstance(colormap, str):
        return colormap_table(colormap)
    table = np.asarray(colormap)
    if table.shape != (256, 3) or table.dtype != np.uint8:
        raise ValueError(f"a colormap table is uint8 (256, 3), got {table.dtype} {table.shape}")
    return table


def colormap_levels(heatmap: np.ndarray) -> np.ndarray:
    """``(h, w)`` values in [0, 1] as uint8 colormap indices 0..255 (NaN as 0, rounded)."""
    levels = np.multiply(heatmap, 255.0, dtype=np.float32)
    levels += 0.5
    np.clip(levels, 0.0, 255.0, out=levels)
    levels[np.isnan(levels)] = 0.0
    return levels.astype(np.uint8)


def colorize(heatmap: np.ndarray, colormap: Colormap = "jet") -> np.ndarray:
    """Map ``(h, w)`` values in [0, 1] to an RGB image ``(h, w, 3)`` uint8.

    Example:
        >>> colorize(np.linspace(0, 1, 16).reshape(4, 4), "turbo").shape
        (4, 4, 3)
    """
    return np.take(as_table(colormap), colormap_levels(heatmap), axis=0)

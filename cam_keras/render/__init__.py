"""Render room: colormaps, overlays, grids and boxes, and atomic picture writers."""

from cam_keras.render.colormap import colorize, colormap_table
from cam_keras.render.overlay import caption, draw_boxes, grid, overlay, side_by_side
from cam_keras.render.writers import IMAGE_FORMATS, write_picture, write_png

__all__ = [
    "IMAGE_FORMATS",
    "caption",
    "colorize",
    "colormap_table",
    "draw_boxes",
    "grid",
    "overlay",
    "side_by_side",
    "write_picture",
    "write_png",
]

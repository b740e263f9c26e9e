"""Pictures of class maps a person can read, from plain arrays (no TensorFlow, so render
worker processes stay light): a map upsampled once to the picture, normalized per map or
shared across an image's maps, blended over the image, captioned, with an optional colour bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cam_keras.errors import UsageError, option
from cam_keras.render.colormap import Colormap, colorize, colormap_table
from cam_keras.render.overlay import Region, caption, caption_font_size, overlay

Placement = tuple[Region, tuple[float, float, float, float]]  # picture region, box of the map on it

NORMALIZATIONS = ("per-map", "shared")
GAP_COLOR = 255


@dataclass(frozen=True)
class Style:
    """How maps are drawn.

    Attributes:
        colormap: matplotlib colormap name.
        alpha: heatmap opacity in [0, 1].
        normalize: ``"shared"`` (default) scales an image's maps together to their common
            range, so a class with little evidence looks cold next to the predicted one;
            ``"per-map"`` scales each map to its own [min, max], so every map has a hot spot,
            even that of a class with probability 0. Captions of an image with several maps
            say which (``shared scale`` / ``per-map scale``).
        colorbar: add a low-to-high colour scale at the right of each map.
        table: the colormap's lookup table, resolved once (and pickled with the style, so a
            render worker process needs no matplotlib).
    """

    colormap: str = "jet"
    alpha: float = 0.5
    normalize: str = "shared"
    colorbar: bool = False
    table: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZATIONS:
            raise UsageError(f"{option('normalize')} {self.normalize!r}: expected one of {', '.join(NORMALIZATIONS)}")
        if not 0.0 <= self.alpha <= 1.0:
            raise UsageError(f"{option('alpha')} {self.alpha}: expected an opacity between 0 and 1")
        object.__setattr__(self, "table", colormap_table(self.colormap))  # an unknown name fails here


def scale_maps_to(
    raw: np.ndarray, size: tuple[int, int], normalize: str = "per-map", placement: Placement | None = None
) -> np.ndarray:
    """Raw maps ``(n, h, w)`` bilinearly upsampled to ``size = (H, W)`` and min-max scaled to
    [0, 1], per map or over all ``n`` maps together: ``(n, H, W)`` float32.

    ``placement`` ``(region, box)`` says where the picture the maps were computed on lies on
    this one (from the resize policy, :meth:`cam_keras.data.resize.Window.placement`): the
    ``box`` of the maps goes on the ``region`` ``(top, bottom, left, right)`` of the picture (a
    crop's maps cover its centre, a pad's padding is dropped), scaled over what is shown;
    outside they are 0. Pillow's bilinear resize with half-pixel centres, the same as
    ``tf.image.resize`` (and :func:`cam_keras.cam.maps.scale_maps`, which the tests compare
    it with) for upsampling. Constant maps become 0.

    Example:
        >>> scale_maps_to(np.random.rand(2, 7, 7).astype("float32"), (224, 224), "shared").shape
        (2, 224, 224)
    """
    raw = np.asarray(raw, np.float32)
    (top, bottom, left, right), box = placement or ((0, size[0], 0, size[1]), None)
    shape = (bottom - top, right - left)
    upsampled = np.stack(
        [
            m
            if m.shape == shape and box is None
            else np.asarray(Image.fromarray(m, "F").resize(shape[::-1], Image.Resampling.BILINEAR, box=box))
            for m in raw
        ]
    )
    axes = (1, 2) if normalize == "per-map" else (0, 1, 2)
    low = upsampled.min(axis=axes, keepdims=True)
    span = upsampled.max(axis=axes, keepdims=True) - low
    scaled = np.divide(upsampled - low, span, out=np.zeros_like(upsampled), where=span > 0)
    if shape == tuple(size):
        return scaled
    placed = np.zeros((len(raw), *size), np.float32)
    placed[:, top:bottom, left:right] = scaled
    return placed


def colorbar(height: int, colormap: Colormap, font_size: int) -> np.ndarray:
    """A vertical colour scale ``(height, w, 3)``, high at the top, labelled ``high`` / ``low``."""
    bar_width = max(8, font_size // 2)
    levels = np.linspace(1.0, 0.0, height)[:, None].repeat(bar_width, axis=1)
    font = ImageFont.load_default(size=max(10, font_size * 2 // 3))
    label_width = round(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength("high", font=font)) + 4
    canvas = Image.new("RGB", (bar_width + label_width + 6, height), (GAP_COLOR,) * 3)
    canvas.paste(Image.fromarray(colorize(levels, colormap)), (4, 0))
    draw = ImageDraw.Draw(canvas)
    draw.text((bar_width + 6, 0), "high", fill=(0, 0, 0), font=font)
    draw.text((bar_width + 6, height), "low", fill=(0, 0, 0), font=font, anchor="ld")
    return np.asarray(canvas)


def map_picture(
    image: np.ndarray, heatmap: np.ndarray, text: str, style: Style, region: Region | None = None
) -> np.ndarray:
    """One map over its image (blended over ``region`` only, see :func:`overlay`), ``text`` as
    a caption scaled to the picture, and the colour bar if the style asks for it: uint8 ``(h', w', 3)``."""
    picture = overlay(image, heatmap, style.table, style.alpha, region)
    font_size = caption_font_size(image.shape[1])
    if style.colorbar:
        picture = np.concatenate([picture, colorbar(picture.shape[0], style.table, font_size)], axis=1)
    return caption(picture, text, font_size)


def image_row(
    image: np.ndarray, raw_maps: np.ndarray, texts: Sequence[str], style: Style, placement: Placement | None = None
) -> np.ndarray:
    """Every map of one image, upsampled once to the image's size (placed as
    :func:`scale_maps_to` says; the image outside the region is drawn without heat), as
    captioned pictures side by side: uint8 ``(h', n * w', 3)``. With several maps, each
    caption ends with the scale they share or not (``shared scale``, ``per-map scale``)."""
    maps = scale_maps_to(raw_maps, image.shape[:2], style.normalize, placement)
    if len(texts) > 1:
        texts = [f"{text}  {style.normalize} scale" for text in texts]
    region = placement[0] if placement else None
    pictures = [map_picture(image, heat, text, style, region) for heat, text in zip(maps, texts)]
    return pictures[0] if len(pictures) == 1 else hstack(pictures, caption_font_size(image.shape[1]) // 2)


def hstack(pictures: Sequence[np.ndarray], gap: int = 0) -> np.ndarray:
    """Pictures side by side, top-aligned on white, ``gap`` pixels apart."""
    height = max(p.shape[0] for p in pictures)
    width = sum(p.shape[1] for p in pictures) + gap * (len(pictures) - 1)
    canvas = np.full((height, width, 3), GAP_COLOR, np.uint8)
    left = 0
    for picture in pictures:
        canvas[: picture.shape[0], left : left + picture.shape[1]] = picture
        left += picture.shape[1] + gap
    return canvas


def vstack(pictures: Sequence[np.ndarray], gap: int = 0) -> np.ndarray:
    """Pictures one under the other, left-aligned on white, ``gap`` pixels apart."""
    return np.transpose(hstack([np.transpose(p, (1, 0, 2)) for p in pictures], gap), (1, 0, 2))

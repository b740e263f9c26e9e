"""Pictures people look at: overlays, side-by-side panels, grids, boxes and captions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cam_keras.render.colormap import Colormap, as_table, colorize, colormap_levels
from cam_keras.safe_text import for_terminal

Box = Sequence[float]  # (xmin, ymin, xmax, ymax) in pixels
Region = tuple[int, int, int, int]  # (top, bottom, left, right) rows and columns
PREDICTED_BOX_COLOR = (0, 255, 0)
TRUE_BOX_COLOR = (255, 0, 0)


def overlay(
    image: np.ndarray,
    heatmap: np.ndarray,
    colormap: Colormap = "jet",
    alpha: float = 0.5,
    region: Region | None = None,
) -> np.ndarray:
    """Blend a colorized ``(h, w)`` heatmap in [0, 1] over an ``(h, w, 3)`` RGB image in
    [0, 255]; returns uint8. With ``region = (top, bottom, left, right)`` only those rows and
    columns are blended (where the map was computed: a crop-trained model's centre); the
    rest shows the image without heat.

    Example:
        >>> picture = overlay(image, explanation.maps_at(0)[0], colormap="jet", alpha=0.4)
    """
    if image.shape[:2] != heatmap.shape:
        raise ValueError(f"image {image.shape[:2]} and heatmap {heatmap.shape} differ in size")
    if region is not None and region != (0, image.shape[0], 0, image.shape[1]):
        top, bottom, left, right = region
        picture = np.clip(image, 0, 255).astype(np.uint8)  # as side_by_side shows the original
        picture[top:bottom, left:right] = overlay(
            image[top:bottom, left:right], heatmap[top:bottom, left:right], colormap, alpha
        )
        return picture
    if image.dtype != np.uint8:
        blended = (1.0 - alpha) * image.astype(np.float32) + alpha * colorize(heatmap, colormap)
        return np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    # Integer blend, within one grey level of the float one and 15x faster: the colormap table
    # is weighted (and rounded) once, then looked up per pixel.
    weight = round(alpha * 256)
    tinted = as_table(colormap).astype(np.uint16) * weight + 128
    blended = image.astype(np.uint16)
    blended *= np.uint16(256 - weight)
    blended += np.take(tinted, colormap_levels(heatmap), axis=0)
    blended >>= 8
    return blended.astype(np.uint8)


def side_by_side(
    image: np.ndarray,
    heatmap: np.ndarray,
    colormap: Colormap = "jet",
    alpha: float = 0.5,
    region: Region | None = None,
) -> np.ndarray:
    """``original | heatmap | overlay`` as one ``(h, 3 * w, 3)`` uint8 image (``region`` as in
    :func:`overlay`).

    Example:
        >>> side_by_side(np.zeros((4, 6, 3), np.uint8), np.zeros((4, 6))).shape
        (4, 18, 3)
    """
    original = np.clip(image, 0, 255).astype(np.uint8)
    return np.concatenate(
        [original, colorize(heatmap, colormap), overlay(image, heatmap, colormap, alpha, region)], axis=1
    )


def draw_boxes(
    image: np.ndarray,
    boxes: Sequence[Box],
    color: tuple[int, int, int] = PREDICTED_BOX_COLOR,
    width: int | None = None,
) -> np.ndarray:
    """Return a copy of ``image`` with rectangles drawn at each ``(xmin, ymin, xmax, ymax)``.

    Example:
        >>> picture = draw_boxes(image, [(10, 12, 50, 60)], color=(0, 255, 0))
    """
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    line = width or max(1, round(min(image.shape[:2]) / 100))
    for xmin, ymin, xmax, ymax in boxes:
        draw.rectangle([xmin, ymin, max(xmin, xmax - 1), max(ymin, ymax - 1)], outline=color, width=line)
    return np.asarray(canvas)


def caption_font_size(width: int) -> int:
    """Caption font size in pixels for a picture ``width`` pixels wide: 1/28 of the width, at
    least 12, so a caption reads the same on a 224 px tile and a 4032 px photo."""
    return max(12, round(width / 28))


def caption(image: np.ndarray, text: str, font_size: int | None = None) -> np.ndarray:
    """Add a white strip with ``text`` (control characters shown as escapes) above ``image``:
    one line if it fits the picture's width, else wrapped between words; the picture is
    widened (left-aligned) only for a word wider than the image. The font scales with the
    picture (:func:`caption_font_size`) unless ``font_size`` is given.

    Example:
        >>> caption(np.zeros((64, 64, 3), np.uint8), "cat (p=0.93)").shape[0] > 64
        True
    """
    font = ImageFont.load_default(size=font_size or caption_font_size(image.shape[1]))
    margin = max(2, round(font.size / 6))
    # class names come from model files: control characters escaped, so the only line breaks are ours
    text = _wrapped(for_terminal(text), font, image.shape[1] - 2 * margin)
    _, _, right, bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).multiline_textbbox(
        (0, 0), text, font=font, spacing=margin
    )
    height = bottom + 2 * margin
    width = max(image.shape[1], right + 2 * margin)
    strip = Image.new("RGB", (width, height), (255, 255, 255))
    ImageDraw.Draw(strip).multiline_text((margin, margin), text, fill=(0, 0, 0), font=font, spacing=margin)
    canvas = np.full((height + image.shape[0], width, 3), 255, np.uint8)  # in numpy: no copy through Pillow
    canvas[:height] = np.asarray(strip)
    canvas[height:, : image.shape[1]] = image if image.ndim == 3 else image[..., None]
    return canvas


def _wrapped(text: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """``text`` as is if it fits ``width`` pixels, else its words greedily on lines that do
    (a word wider than ``width`` gets a line of its own)."""
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength
    if measure(text, font=font) <= width:
        return text
    lines: list[str] = []
    for word in text.split():
        if lines and measure(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return "\n".join(lines)


def grid(tiles: Sequence[np.ndarray], columns: int = 4, tile_size: int = 160, gap: int = 4) -> np.ndarray:
    """Tile images into one picture; each is scaled to fit a ``tile_size`` square cell.

    Example:
        >>> write_png("grid.png", grid([explanation.overlay(i) for i in range(8)], columns=4))
    """
    if not tiles:
        raise ValueError("grid needs at least one image")
    columns = max(1, min(columns, len(tiles)))
    fitted = [_fit(tile, tile_size) for tile in tiles]
    cell_h = max(tile.shape[0] for tile in fitted)
    rows = -(-len(fitted) // columns)
    canvas = np.full((rows * (cell_h + gap) + gap, columns * (tile_size + gap) + gap, 3), 255, dtype=np.uint8)
    for index, tile in enumerate(fitted):
        top = gap + (index // columns) * (cell_h + gap)
        left = gap + (index % columns) * (tile_size + gap)
        canvas[top : top + tile.shape[0], left : left + tile.shape[1]] = tile
    return canvas


def _fit(image: np.ndarray, size: int) -> np.ndarray:
    scale = size / max(image.shape[:2])
    new_w, new_h = max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))
    return np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR))

"""A synthetic weakly-supervised localization dataset: one large shape per image, flat or
filled with its class's texture, on a cluttered, noisy background with small distractors.
Deterministic from a seed.

Layout written by :func:`write_synthetic_dataset`::

    ROOT/train/<class>/<class>_00000.png         ROOT/train/boxes.csv
    ROOT/calibration/<class>/<class>_00000.png   ROOT/calibration/boxes.csv   (when asked for)
    ROOT/test/<class>/<class>_00000.png          ROOT/test/boxes.csv
    ROOT/masks/<split>/<class>/<class>_00000.png (object masks, 0 or 255)

``boxes.csv`` has the header ``path,xmin,ymin,xmax,ymax`` (path relative to the split
folder, pixel-edge coordinates: a box covering columns 3..9 has ``xmin=3, xmax=10``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cam_keras.choices import FILLS
from cam_keras.records import write_csv

SHAPES = ("circle", "square", "triangle", "cross", "ring", "star")
# The two-tone pattern each shape is filled with when ``fill="texture"``.
TEXTURES = {
    "circle": "checker",
    "square": "stripes",
    "triangle": "dots",
    "cross": "diagonal",
    "ring": "grid",
    "star": "columns",
}


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate.

    Attributes:
        classes: shape names from :data:`SHAPES`, one class each.
        image_size: side of the square images in pixels.
        object_scale: (min, max) object side as a fraction of ``image_size``.
        distractors: (min, max) number of small distractor blobs and lines.
        noise: standard deviation of the per-pixel Gaussian noise (0-255 scale).
        fill: ``"flat"`` paints the object in one color, so its class is told by its outline
            alone; ``"texture"`` also fills it with its class's two-tone pattern
            (:data:`TEXTURES`, random period and phase), so that, as with natural objects,
            evidence of the class covers the whole object and not only its edges.
    """

    classes: tuple[str, ...] = ("circle", "square", "triangle", "cross")
    image_size: int = 64
    object_scale: tuple[float, float] = (0.35, 0.6)
    distractors: tuple[int, int] = (3, 7)
    noise: float = 12.0
    fill: str = "flat"

    def __post_init__(self) -> None:
        if self.fill not in FILLS:
            raise ValueError(f"fill must be one of {FILLS}, not {self.fill!r}")


def _shape_polygon(shape: str, box: tuple[float, float, float, float]) -> list:
    x0, y0, x1, y1 = box
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    if shape == "triangle":
        return [(cx, y0), (x1, y1), (x0, y1)]
    if shape == "cross":
        t = 0.18
        return [
            (cx - t * w, y0),
            (cx + t * w, y0),
            (cx + t * w, cy - t * h),
            (x1, cy - t * h),
            (x1, cy + t * h),
            (cx + t * w, cy + t * h),
            (cx + t * w, y1),
            (cx - t * w, y1),
            (cx - t * w, cy + t * h),
            (x0, cy + t * h),
            (x0, cy - t * h),
            (cx - t * w, cy - t * h),
        ]
    if shape == "star":
        angles = np.linspace(-np.pi / 2, 3 * np.pi / 2, 11)[:-1]
        radii = np.where(np.arange(10) % 2 == 0, 0.5, 0.22)
        return [(cx + r * w * np.cos(a), cy + r * h * np.sin(a)) for r, a in zip(radii, angles)]
    raise ValueError(f"unknown shape {shape!r}; choose from {', '.join(SHAPES)}")


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, box, fill) -> None:
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    elif shape == "ring":
        x0, y0, x1, y1 = box
        width = max(2, round((x1 - x0) * 0.18))
        draw.ellipse(box, outline=fill, width=width)
    else:
        draw.polygon(_shape_polygon(shape, box), fill=fill)


def _bright_color(rng: np.random.Generator) -> tuple[int, int, int]:
    color = rng.integers(0, 256, 3)
    color[rng.integers(0, 3)] = rng.integers(190, 256)
    return tuple(int(c) for c in color)


def _background(spec: SyntheticSpec, rng: np.random.Generator) -> Image.Image:
    size = spec.image_size
    base = rng.integers(40, 200, 3)
    coarse = rng.normal(0, 25, (4, 4, 3))
    smooth = np.asarray(
        Image.fromarray(np.uint8(np.clip(coarse + 128, 0, 255))).resize((size, size), Image.Resampling.BILINEAR)
    )
    return Image.fromarray(np.uint8(np.clip(base + smooth.astype(np.float32) - 128, 0, 255)))


def _distractors(draw: ImageDraw.ImageDraw, spec: SyntheticSpec, rng: np.random.Generator) -> None:
    size = spec.image_size
    for _ in range(rng.integers(spec.distractors[0], spec.distractors[1] + 1)):
        x, y = rng.uniform(0, size, 2)
        if rng.random() < 0.5:
            r = rng.uniform(0.02, 0.07) * size
            q = rng.uniform(0.5, 1.5) * r
            draw.ellipse([x - r, y - q, x + r, y + q], fill=_bright_color(rng))
        else:
            length = rng.uniform(0.1, 0.3) * size
            angle = rng.uniform(0, np.pi)
            end = (x + length * np.cos(angle), y + length * np.sin(angle))
            draw.line([(x, y), end], fill=_bright_color(rng), width=int(rng.integers(1, 3)))


def _texture(shape: str, size: int, color: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """``(size, size, 3)`` float32: ``shape``'s pattern in ``color`` and a darker tone of it."""
    half = int(rng.integers(2, 4))  # half period, px
    yy, xx = np.mgrid[:size, :size] + rng.integers(0, 2 * half, 2)[:, None, None]
    pattern = {
        "checker": (yy // half + xx // half) % 2 == 0,
        "stripes": (yy // half) % 2 == 0,
        "columns": (xx // half) % 2 == 0,
        "diagonal": ((xx + yy) // half) % 2 == 0,
        "dots": (yy % (2 * half) < half) & (xx % (2 * half) < half),
        "grid": (yy % (2 * half) < half) | (xx % (2 * half) < half),
    }[TEXTURES[shape]]
    bright = np.asarray(color, np.float32)
    return np.where(pattern[..., None], bright, 0.45 * bright)


def make_example(
    shape: str, spec: SyntheticSpec, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """One image of ``shape``.

    Returns:
        ``(image (S, S, 3) uint8, mask (S, S) bool, box (xmin, ymin, xmax, ymax))``.

    Example:
        >>> image, mask, box = make_example("cross", SyntheticSpec(), np.random.default_rng(0))
        >>> image.shape, mask.shape
        ((64, 64, 3), (64, 64))
    """
    size = spec.image_size
    canvas = _background(spec, rng)
    _distractors(ImageDraw.Draw(canvas), spec, rng)
    side = rng.uniform(*spec.object_scale) * size
    aspect = rng.uniform(0.8, 1.25)
    w, h = side * aspect**0.5, side / aspect**0.5
    x0, y0 = rng.uniform(0, size - w), rng.uniform(0, size - h)
    box = (x0, y0, x0 + w, y0 + h)
    mask_image = Image.new("L", (size, size), 0)
    _draw_shape(ImageDraw.Draw(mask_image), shape, box, 255)
    color = _bright_color(rng)
    mask = np.asarray(mask_image) > 0
    paint = _texture(shape, size, color, rng) if spec.fill == "texture" else np.asarray(color, np.float32)
    pixels = np.where(mask[..., None], paint, np.asarray(canvas, np.float32)) + rng.normal(
        0, spec.noise, (size, size, 3)
    )
    ys, xs = np.nonzero(mask)
    tight = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return np.uint8(np.clip(pixels, 0, 255)), mask, tight


def write_split(
    root: str | os.PathLike, mask_root: str | os.PathLike, per_class: int, spec: SyntheticSpec, seed: int
) -> Path:
    """Write ``per_class`` images of each class, ``boxes.csv`` and masks; returns ``root``.

    Example:
        >>> write_split("data/train", "data/masks/train", per_class=10, spec=SyntheticSpec(), seed=0)
    """
    root, mask_root = Path(root), Path(mask_root)
    rng = np.random.default_rng(seed)
    rows = []
    for shape in spec.classes:
        (root / shape).mkdir(parents=True, exist_ok=True)
        (mask_root / shape).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            image, mask, (xmin, ymin, xmax, ymax) = make_example(shape, spec, rng)
            relative = f"{shape}/{shape}_{index:05d}.png"
            Image.fromarray(image).save(root / relative)
            Image.fromarray(np.uint8(mask) * 255).save(mask_root / relative)
            rows.append({"path": relative, "xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax})
    write_csv(root / "boxes.csv", rows, ["path", "xmin", "ymin", "xmax", "ymax"])
    return root


def write_synthetic_dataset(
    root: str | os.PathLike,
    train_per_class: int = 300,
    test_per_class: int = 100,
    spec: SyntheticSpec | None = None,
    seed: int = 0,
    calibration_per_class: int = 0,
) -> Path:
    """Write train and test splits (see module docstring), and a held-out ``calibration`` split
    (for choosing a box threshold on other images than those scored) when
    ``calibration_per_class``; the same seed gives the same files.

    Example:
        >>> root = write_synthetic_dataset("shapes", train_per_class=300, test_per_class=100)
    """
    spec = spec or SyntheticSpec()
    root = Path(root)
    write_split(root / "train", root / "masks" / "train", train_per_class, spec, seed)
    write_split(root / "test", root / "masks" / "test", test_per_class, spec, seed + 1)
    if calibration_per_class:
        write_split(root / "calibration", root / "masks" / "calibration", calibration_per_class, spec, seed + 2)
    return root

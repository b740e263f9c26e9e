"""The one image decoder of cam-keras, and image-file discovery.

Every path (training, heatmaps, evaluation) decodes through :func:`load_image`, so every
command treats odd files the same way: EXIF rotation applied, palette/grayscale/CMYK/16-bit
converted to 8-bit RGB, transparency composited on white, animated images reduced to their
first frame, and decompression bombs refused.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image, ImageOps

from cam_keras.errors import ImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
MAX_PIXELS = 89_478_485  # Pillow's own default bomb limit; larger images are refused.


def load_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file to RGB.

    Returns:
        ``uint8`` array of shape ``(height, width, 3)``.

    Raises:
        ImageError: the file is empty, not an image, truncated, or larger than ``max_pixels``.

    Example:
        >>> load_image("photo.jpg").shape  # (height, width, 3) uint8
        (480, 640, 3)
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageError(path, "empty file (0 bytes)")
        with Image.open(path) as image:
            if image.width * image.height > max_pixels:
                raise ImageError(
                    path,
                    f"{image.width}x{image.height} pixels exceeds the limit of {max_pixels:,} "
                    "(possible decompression bomb); downscale it or raise max_pixels",
                )
            image.seek(0)
            return to_rgb_array(ImageOps.exif_transpose(image))
    except ImageError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageError(path, f"decompression bomb refused: {error}") from error
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    except MemoryError:
        raise
    except Exception as error:  # Pillow raises OSError, EOFError, struct.error, zlib.error...
        raise ImageError(path, f"not a readable image ({type(error).__name__}: {error})") from error


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Convert any Pillow image to an 8-bit RGB array ``(height, width, 3)``."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        pixels = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if pixels.max(initial=0) > 255 else 255.0
        gray = np.clip(pixels / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an ``(h, w, 3)`` image to ``size = (height, width)`` (bilinear, antialiased).

    uint8 stays uint8; float images are resized per channel in float32, without rounding.
    """
    if image.shape[:2] == tuple(size):
        return image
    target = (size[1], size[0])
    if image.dtype == np.uint8:
        return np.asarray(Image.fromarray(image).resize(target, Image.Resampling.BILINEAR))
    channels = [
        np.asarray(Image.fromarray(image[..., c].astype(np.float32), mode="F").resize(target, Image.Resampling.BILINEAR))
        for c in range(image.shape[-1])
    ]
    return np.stack(channels, axis=-1)


def is_image_name(path: Path) -> bool:
    """True for visible files with an image suffix (``.DS_Store`` and ``._x.jpg`` are not)."""
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES


def find_images(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Image files among ``inputs``: files as given, folders searched recursively (sorted,
    symlink loops and hidden folders skipped).

    Example:
        >>> find_images(["photos/", "extra.png"])[:2]
        [PosixPath('photos/a/1.jpg'), PosixPath('photos/a/2.jpg')]
    """
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found.extend(_walk_images(item))
        elif item.is_file():
            found.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    return found


def _walk_images(root: Path) -> list[Path]:
    images: list[Path] = []
    seen: set[str] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            warnings.warn(f"{folder}: symlink loop, skipped", stacklevel=3)
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        images.extend(Path(folder) / name for name in sorted(files) if is_image_name(Path(name)))
    return images

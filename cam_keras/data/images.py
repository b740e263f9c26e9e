"""The one image decoder of cam-keras, and image-file discovery.

Every path (training, heatmaps, evaluation) decodes through :func:`decode_image` (or its
array form :func:`load_image`), and what a model sees of a file through :func:`decode_fitted`
(decoded at the size needed, fitted under the model's resize policy), so every command treats
odd files the same way and feeds a model the same pixels of a file: EXIF rotation
applied, palette/grayscale/CMYK/16-bit converted to 8-bit RGB, transparency composited on
white, animated images reduced to their first frame, and decompression bombs refused.

Decoding at the size needed: given ``at_least = (height, width)``, a JPEG is decoded with DCT
scaling (1/2, 1/4 or 1/8, Pillow's ``draft``) to the smallest scale still covering that size,
and any format is box-reduced by an integer factor right after decoding, before it becomes a
numpy array, so a 12-megapixel photo needed at 224 px never exists at full size in memory and
a large PNG exists only once, as Pillow's 8-bit decode (at most ``MAX_PIXELS`` pixels, about
270 MB for RGB), never as a float copy.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import stat
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import ExifTags, Image

from cam_keras.data.resize import Window, fit_image, fit_window
from cam_keras.errors import CamKerasError, ImageError
from cam_keras.safe_text import terminal_lines

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
MAX_PIXELS = 89_478_485  # Pillow's own default bomb limit; larger images are refused.
# A reduced decode may come out this much smaller than asked, to be resized up by the caller:
# a 4032 px photo needed at 1024 px then decodes at 1/4 scale (1008 px) instead of 1/2
# (2016 px), a quarter of the pixels, and a 1.6% upscale is not visible.
DECODE_SLACK = 0.97
SIXTEEN_BIT_PEAK = 65535
_BOMB_FIX = (
    "if you trust the file, save a downscaled copy and pass that (in Python, load_image(path, max_pixels=N) "
    "reads it whole)"
)


Size = tuple[int, int]  # (height, width)
SizeNeeded = Size | Callable[[Size], Size] | None
"""What a decode must cover: ``(height, width)``, a function of the original (oriented) size
returning one, or ``None`` for full resolution."""

# EXIF orientation -> the transpose that shows the picture upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_SIDES = frozenset({5, 6, 7, 8})
# Modes Image.reduce cannot shrink, and the mode each is reduced in instead.
_REDUCIBLE_AS = {"1": "L", "P": "RGBA", "I;16": "I", "I;16B": "I", "I;16L": "I", "I;16N": "I"}


@dataclass(frozen=True)
class DecodedImage:
    """A decoded picture and the size of the file's full-resolution picture.

    Attributes:
        pixels: uint8 RGB ``(h, w, 3)``, upright; at least ``DECODE_SLACK`` (97%) of the size
            asked for on both sides (when the file is that large) and less than twice it on
            one side at least.
        original_size: ``(height, width)`` of the upright full-resolution picture.
    """

    pixels: np.ndarray
    original_size: Size


def decode_image(path: str | os.PathLike, at_least: SizeNeeded = None, max_pixels: int = MAX_PIXELS) -> DecodedImage:
    """Decode an image file to upright RGB, no larger than needed.

    Args:
        path: the image file.
        at_least: the smallest ``(height, width)`` the caller will resize the picture to (or a
            function of the original size returning it); the decode is reduced (JPEG DCT
            scaling, then an integer box reduction) while both sides stay at least that large,
            give or take ``DECODE_SLACK``.
            ``None`` decodes at full resolution.
        max_pixels: files with more pixels are refused as possible decompression bombs.

    Raises:
        ImageError: the file is empty, not an image, truncated, larger than ``max_pixels``, or
            holds pixels without a defined 8-bit meaning (see :func:`to_rgb_array`).

    Example:
        >>> decoded = decode_image("photo_4032x3024.jpg", at_least=(224, 224))
        >>> decoded.pixels.shape, decoded.original_size  # DCT-scaled by 1/8
        ((378, 504, 3), (3024, 4032))
    """
    path = Path(path)
    try:
        with open_image_file(path) as file, Image.open(file) as image:
            if image.width * image.height > max_pixels:
                raise ImageError(
                    path,
                    f"{image.width}x{image.height} pixels exceeds the limit of {max_pixels:,} "
                    f"(possible decompression bomb); {_BOMB_FIX}",
                )
            image.seek(0)
            return _decode_open(image, at_least)
    except ImageError:
        raise
    except PixelFormatError as error:
        raise ImageError(path, str(error)) from None
    except Image.DecompressionBombError as error:
        raise ImageError(path, f"decompression bomb refused ({error}); {_BOMB_FIX}") from error
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    except MemoryError:
        raise
    except Exception as error:  # Pillow raises OSError, EOFError, struct.error, zlib.error...
        raise ImageError(path, f"not a readable image ({type(error).__name__}: {error})") from error


_FILE_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


def open_image_file(path: str | os.PathLike) -> io.BufferedReader:
    """``path`` opened for reading in binary, if it is a non-empty regular file.

    The file is opened without blocking and checked on the open descriptor, so a named pipe
    (which would wait forever for a writer), a device (``/dev/zero`` never ends) or a socket
    is refused however it was named, and cannot be swapped in after the check.

    Raises:
        ImageError: not a regular file (saying what it is), or empty.
        OSError: it cannot be opened (``FileNotFoundError`` when it is missing).
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as error:
        if error.errno == errno.ENXIO:  # a socket, or a device without a driver: nothing to read
            raise _not_regular(path, os.stat(path).st_mode) from None
        raise
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise _not_regular(path, status.st_mode)
        if status.st_size == 0:
            raise ImageError(str(path), "empty file (0 bytes)")
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(descriptor, True)
        file = os.fdopen(descriptor, "rb")
        file.raw.name = os.fspath(path)  # for messages, as open(path) would name it
        return file
    except BaseException:
        os.close(descriptor)
        raise


def _not_regular(path: str | os.PathLike, mode: int) -> ImageError:
    kind = _FILE_KINDS.get(stat.S_IFMT(mode), "not a file")
    return ImageError(str(path), f"not a regular file ({kind}); give image files")


def load_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS, at_least: SizeNeeded = None) -> np.ndarray:
    """Decode an image file to RGB (see :func:`decode_image`).

    Returns:
        ``uint8`` array of shape ``(height, width, 3)``.

    Example:
        >>> load_image("photo.jpg").shape  # (height, width, 3) uint8
        (480, 640, 3)
    """
    return decode_image(path, at_least, max_pixels).pixels


def _decode_open(image: Image.Image, at_least: SizeNeeded) -> DecodedImage:
    """Decode an opened file: DCT-scale (JPEG), load, box-reduce, turn upright, convert to RGB.
    Sizes are computed in the stored orientation, where the file's width may be the upright height."""
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    swapped = orientation in _SWAPS_SIDES
    original = (image.width, image.height) if swapped else (image.height, image.width)
    need = at_least(original) if callable(at_least) else at_least
    if need is not None:
        height, width = (max(1, int(side * DECODE_SLACK)) for side in need)
        stored_need = (height, width) if swapped else (width, height)  # (width, height) as stored
        image.draft(image.mode, stored_need)  # JPEG only: the smallest DCT scale covering stored_need
        image = _reduce(image, stored_need)
    if orientation in _UPRIGHT:
        image = image.transpose(_UPRIGHT[orientation])
    return DecodedImage(to_rgb_array(image), original)


def _reduce(image: Image.Image, stored_need: Size) -> Image.Image:
    """Box-reduce by the largest integer factor that keeps ``(width, height) >= stored_need``."""
    factor = min(image.width // max(1, stored_need[0]), image.height // max(1, stored_need[1]))
    if factor < 2:
        return image
    if "transparency" in image.info:  # lost by reduce(): composite from RGBA instead
        image = image.convert("RGBA")
    elif image.mode in _REDUCIBLE_AS:
        image = image.convert(_REDUCIBLE_AS[image.mode])
    return image.reduce(factor)


class PixelFormatError(CamKerasError, ValueError):
    """A picture whose pixel values have no defined 8-bit meaning (see :func:`to_rgb_array`);
    :func:`decode_image` turns it into an :class:`ImageError` naming the file."""


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Convert any Pillow image to an 8-bit RGB array ``(height, width, 3)``.

    16-bit grayscale (``I;16*``) maps 0..65535 to 0..255, as the file format defines it,
    whatever the picture holds; 32-bit integer (``I``) pictures the same when their values
    lie in 0..65535.

    Raises:
        PixelFormatError: a 32-bit integer picture with values outside 0..65535, or a 32-bit
            float picture (``F``: no convention says which values are black and white).
    """
    if image.mode.startswith("I;16") or image.mode == "I":
        pixels = np.asarray(image, dtype=np.float64)
        if image.mode == "I" and pixels.size and (pixels.min() < 0 or pixels.max() > SIXTEEN_BIT_PEAK):
            raise PixelFormatError(
                f"32-bit integer image with values {pixels.min():.0f}..{pixels.max():.0f}, outside the 16-bit range "
                f"0..{SIXTEEN_BIT_PEAK}; save it as an 8- or 16-bit image"
            )
        gray = np.clip(pixels / SIXTEEN_BIT_PEAK * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode == "F":
        raise PixelFormatError("32-bit float image: save it as 8- or 16-bit")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


@dataclass(frozen=True)
class FittedImage:
    """An image file decoded for a model: the pixels it sees, and optionally a picture to draw on.

    Attributes:
        model_input: uint8 RGB at the model input size, fitted under the resize policy
            (:func:`cam_keras.data.resize.fit_image`).
        original_size: ``(height, width)`` of the file's upright full-resolution picture.
        window: where ``model_input`` lies on the picture (see :class:`~cam_keras.data.resize.Window`).
        picture: uint8 RGB at the size asked for (``picture_size``), or ``None`` when not asked.
    """

    model_input: np.ndarray
    original_size: Size
    window: Window = Window()
    picture: np.ndarray | None = None


def decode_fitted(
    path: str | os.PathLike, size: Size, policy: str = "squash", picture_size: Callable[[Size], Size] | None = None
) -> FittedImage:
    """Decode ``path`` for a model taking ``size`` images, fitted under the resize ``policy``:
    the pixels a model sees of a file, the same in training, snapshots, explaining, heatmaps
    and evaluation. With ``picture_size`` (original size -> ``(height, width)``), also the
    picture to draw maps on, decoding again only when it needs more pixels than the model
    input's decode holds (JPEG DCT scaling): a 12-megapixel photo never exists at full size.

    Raises:
        ImageError: the file cannot be read, naming it.

    Example:
        >>> fitted = decode_fitted("photo_4032x3024.jpg", (224, 224), "crop", lambda size: (768, 1024))
        >>> fitted.model_input.shape, fitted.picture.shape, fitted.original_size
        ((224, 224, 3), (768, 1024, 3), (3024, 4032))
    """
    decoded = decode_image(path, at_least=size)
    fitted = FittedImage(
        fit_image(decoded.pixels, size, policy),
        decoded.original_size,
        fit_window(decoded.pixels.shape[:2], size, policy),
    )
    if picture_size is None:
        return fitted
    wanted = picture_size(decoded.original_size)
    source = decoded.pixels
    if any(
        have < need * DECODE_SLACK and have < full
        for have, need, full in zip(source.shape, wanted, decoded.original_size)
    ):
        source = decode_image(path, at_least=wanted).pixels
    return replace(fitted, picture=fit_image(source, wanted))


def is_image_name(path: Path) -> bool:
    """True for visible files with an image suffix (``.DS_Store`` and ``._x.jpg`` are not)."""
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES


def _is_hidden_image_name(name: str) -> bool:
    """``...png``, ``.png``, ``.x.jpg``: an image suffix, and a leading dot that hides the file."""
    return name.startswith(".") and name.lower().endswith(tuple(IMAGE_SUFFIXES))


HIDDEN_REASON = "hidden file (name starts with '.'); give it by name to use it"


class ImageScan(NamedTuple):
    """Images found under some inputs, and the hidden files with an image suffix left out."""

    images: list[Path]
    hidden: list[Path]


def find_images(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Image files among ``inputs``: files as given, folders searched recursively (sorted,
    symlink loops and hidden folders skipped; hidden files with an image suffix, such as
    ``...png``, are left out with a warning that lists them: :func:`scan_images` returns them).

    Example:
        >>> find_images(["photos/", "extra.png"])[:2]
        [PosixPath('photos/a/1.jpg'), PosixPath('photos/a/2.jpg')]
    """
    return scan_images(inputs).images


def scan_images(inputs: Iterable[str | os.PathLike]) -> ImageScan:
    """:func:`find_images`, with the hidden image files it left out."""
    found = ImageScan([], [])
    for item in map(Path, inputs):
        if item.is_dir():
            images, hidden = _walk_images(item)
            found.images.extend(images)
            found.hidden.extend(hidden)
        elif item.exists():  # a file, or a pipe or device that the decode then refuses by name
            found.images.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    return found


def _walk_images(root: Path) -> ImageScan:
    images: list[Path] = []
    hidden: list[Path] = []
    seen: set[str] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            warnings.warn(f"{folder}: symlink loop, skipped", stacklevel=4)
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        images.extend(Path(folder) / name for name in sorted(files) if is_image_name(Path(name)))
        hidden.extend(Path(folder) / name for name in sorted(files) if _is_hidden_image_name(name))
    if hidden:
        logger.warning(
            "%s: %d hidden file(s) with an image suffix left out (the name starts with '.'; give a file "
            "by name to use it):%s",
            root,
            len(hidden),
            terminal_lines(hidden),
        )
    return ImageScan(images, hidden)

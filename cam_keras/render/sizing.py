"""How big a picture of a map is drawn: the one size policy of overlays and saved pictures.

A size request is one of

- ``None`` (default): the original aspect ratio, the longest side capped at ``max_side``
  (never enlarged);
- ``"original"``: the image's full resolution;
- ``"input"``: the model input size;
- an ``int``: the original aspect ratio with this longest side (enlarged if need be);
- ``(height, width)``: exactly this size (the command line reads it width first, ``WxH``).

No side may exceed :data:`MAX_SIDE` (:func:`check_size`, :func:`check_max_side`: checked when
the options are read) and no picture :data:`MAX_PIXELS` (:func:`bounded_output_size`: checked per
image, before it is decoded or drawn), so no request can make a picture exhaust memory.
"""

from __future__ import annotations

import numbers
import os

from cam_keras.errors import ImageError, UsageError, option
from cam_keras.render.writers import IMAGE_FORMATS

Size = tuple[int, int]  # (height, width)
SizeRequest = None | str | int | Size
DEFAULT_MAX_SIDE = 1024
SIZE_KEYWORDS = ("original", "input")
#: The longest side any size request may ask for: the smallest of the overlay formats' limits
#: (WebP's 16383 px). A row of several maps can still be wider than a format allows: the
#: writer refuses it, naming the fix.
MAX_SIDE = min(picture_format.max_side for picture_format in IMAGE_FORMATS.values())
#: The most pixels one picture of a map may have, however it was asked for: Pillow's
#: decompression-bomb limit, the largest image cam-keras decodes (about 270 MB as RGB).
MAX_PIXELS = 89_478_485


def parse_size(text: str) -> SizeRequest:
    """Read a size request written as text: ``original``, ``input``, ``WxH`` (width first) or ``N``.

    Returns:
        the keyword, the longest side ``N``, or ``(height, width)``.

    Raises:
        UsageError: naming ``size``: not one of these, or a side outside 1 to :data:`MAX_SIDE`.

    Example:
        >>> parse_size("640x480"), parse_size("512"), parse_size("input")
        ((480, 640), 512, 'input')
    """
    text = text.strip().lower()
    if text in SIZE_KEYWORDS:
        return text
    parts = text.split("x")
    if len(parts) in (1, 2) and all(part.isdigit() and int(part) > 0 for part in parts):
        return check_size(int(parts[0]) if len(parts) == 1 else (int(parts[1]), int(parts[0])))
    raise UsageError(
        f"{option('size')} {text!r}: expected original, input, WxH (width first, e.g. 640x480) "
        "or a longest side (e.g. 1024)"
    )


def check_size(request: SizeRequest, option_name: str = "size") -> SizeRequest:
    """``request`` if it is a size request (see the module docstring) whose sides are 1 to
    :data:`MAX_SIDE` pixels.

    Raises:
        UsageError: naming option ``option_name`` and the valid range.
    """
    if request is None or (isinstance(request, str) and request in SIZE_KEYWORDS):
        return request
    sides = request if isinstance(request, tuple) and len(request) == 2 else (request,)
    if not all(_is_side(side) for side in sides):
        shown = f"{request[1]}x{request[0]}" if len(sides) == 2 else repr(request)
        raise UsageError(
            f"{option(option_name)} {shown}: expected original, input, WxH (width first) or a longest side, "
            f"each side from 1 to {MAX_SIDE} px (WebP's limit)"
        )
    return request


def check_max_side(value: int, option_name: str = "max_side") -> int:
    """``value`` if it is a longest side of 1 to :data:`MAX_SIDE` pixels.

    Raises:
        UsageError: naming option ``option_name`` and the valid range.
    """
    if not _is_side(value):
        raise UsageError(
            f"{option(option_name)} {value!r}: expected a longest side from 1 to {MAX_SIDE} px "
            "(WebP's limit), e.g. 1024"
        )
    return value


def output_size(request: SizeRequest, original: Size, input_size: Size, max_side: int = DEFAULT_MAX_SIDE) -> Size:
    """The ``(height, width)`` a picture of an image of size ``original`` is drawn at.

    Example:
        >>> output_size(None, (3024, 4032), (224, 224))
        (768, 1024)
        >>> output_size(512, (3024, 4032), (224, 224)), output_size((480, 640), (3024, 4032), (224, 224))
        ((384, 512), (480, 640))
    """
    if request is None:
        return _longest_side(original, min(max_side, max(original)))
    if request == "original":
        return tuple(original)
    if request == "input":
        return tuple(input_size)
    if isinstance(request, int):
        return _longest_side(original, request)
    return tuple(request)


def bounded_output_size(
    request: SizeRequest,
    original: Size,
    input_size: Size,
    max_side: int,
    name: str | os.PathLike,
    option_name: str = "size",
) -> Size:
    """:func:`output_size`, if a picture that large has at most :data:`MAX_PIXELS` pixels.

    Raises:
        ImageError: naming ``name`` (the image), the size, the limit and option ``option_name``.
    """
    height, width = size = output_size(request, original, input_size, max_side)
    if height * width > MAX_PIXELS:
        raise ImageError(
            str(name),
            f"its picture would be {width}x{height} px ({height * width / 1e6:,.0f} megapixels), above the "
            f"limit of {MAX_PIXELS:,} px; ask for a smaller {option(option_name)} (a longest side of about "
            f"{_side_within_limit(size):,} px fits)",
        )
    return size


def describe_size(request: SizeRequest, max_side: int = DEFAULT_MAX_SIDE) -> str:
    """How a size request reads in a run summary.

    Example:
        >>> describe_size((480, 640))
        '640x480 (width x height)'
    """
    if request is None:
        return f"original aspect, longest side at most {max_side} px"
    if request == "original":
        return "original size"
    if request == "input":
        return "model input size"
    if isinstance(request, int):
        return f"original aspect, longest side {request} px"
    return f"{request[1]}x{request[0]} (width x height)"


def _longest_side(original: Size, side: int) -> Size:
    scale = side / max(original)
    return max(1, round(original[0] * scale)), max(1, round(original[1] * scale))


def _is_side(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and 1 <= value <= MAX_SIDE


def _side_within_limit(size: Size) -> int:
    """The longest side of a picture of ``size``'s aspect with at most :data:`MAX_PIXELS` pixels."""
    return int(max(size) * (MAX_PIXELS / (size[0] * size[1])) ** 0.5)

"""How big a picture of a map is drawn: the one size policy of overlays and saved pictures.

A size request is one of

- ``None`` (default): the original aspect ratio, the longest side capped at ``max_side``
  (never enlarged);
- ``"original"``: the image's full resolution;
- ``"input"``: the model input size;
- an ``int``: the original aspect ratio with this longest side (enlarged if need be);
- ``(height, width)``: exactly this size (the command line reads it width first, ``WxH``).
"""

from __future__ import annotations

from cam_keras.errors import UsageError

Size = tuple[int, int]  # (height, width)
SizeRequest = None | str | int | Size
DEFAULT_MAX_SIDE = 1024
SIZE_KEYWORDS = ("original", "input")
SIZE_HELP = (
    "overlay size: original, input (the model's), WxH (WIDTH first, like PIL and ImageMagick; "
    "before 0.2 this flag read HxW), or N (longest side N, aspect kept). "
    "Default: aspect kept, longest side at most --max-side"
)


def parse_size(text: str) -> SizeRequest:
    """Read a ``--size`` value: ``original``, ``input``, ``WxH`` (width first) or ``N``.

    Returns:
        the keyword, the longest side ``N``, or ``(height, width)``.

    Example:
        >>> parse_size("640x480"), parse_size("512"), parse_size("input")
        ((480, 640), 512, 'input')
    """
    text = text.strip().lower()
    if text in SIZE_KEYWORDS:
        return text
    parts = text.split("x")
    if len(parts) in (1, 2) and all(part.isdigit() and int(part) > 0 for part in parts):
        return int(parts[0]) if len(parts) == 1 else (int(parts[1]), int(parts[0]))
    raise UsageError(
        f"--size {text!r}: expected original, input, WxH (width first, e.g. 640x480) or a longest side (e.g. 1024)"
    )


def check_max_side(value: int) -> int:
    """``--max-side`` must be a positive number of pixels."""
    if value < 1:
        raise UsageError(f"--max-side {value}: expected a positive number of pixels, e.g. 1024")
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


def describe_size(request: SizeRequest, max_side: int = DEFAULT_MAX_SIDE) -> str:
    """How a size request reads in a run summary.

    Example:
        >>> describe_size((480, 640))
        '640x480 (width x height)'
    """
    if request is None:
        return f"original aspect, longest side at most {max_side} px (--max-side)"
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

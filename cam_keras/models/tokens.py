"""Token sequences of vision transformers as feature maps on their patch grid.

A transformer's tokens ``(batch, n, d)`` are ``h * w`` patch tokens, row by row, after up to
:data:`MAX_EXTRA_TOKENS` leading class, distillation or register tokens. :func:`token_grid`
finds ``h x w``: the grid of the input's patches (``H / h == W / w``, a whole stride) after
the fewest leading tokens, else a square. What it assumed is printed by ``inspect``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import tensorflow as tf

from cam_keras.errors import ModelError, option

#: leading non-patch tokens considered (a class token, a distillation token, register tokens).
MAX_EXTRA_TOKENS = 8


@dataclass(frozen=True)
class TokenGrid:
    """``skip`` leading tokens dropped, then ``height x width`` patch tokens row by row."""

    skip: int
    height: int
    width: int

    def to_map(self, tokens: tf.Tensor) -> tf.Tensor:
        """Tokens ``(batch, skip + height * width, d)`` as a map ``(batch, height, width, d)``."""
        return tf.reshape(tokens[:, self.skip :], [-1, self.height, self.width, tokens.shape[-1]])

    def __str__(self) -> str:
        dropped = f", the first {self.skip} dropped (class/register tokens)" if self.skip else ""
        return f"{self.skip + self.height * self.width} tokens as a {self.height}x{self.width} patch grid{dropped}"


def _patch_grid(count: int, input_size: Sequence[int | None]) -> tuple[int, int] | None:
    """``rows x columns == count`` patches of one whole stride covering the input."""
    height, width = input_size
    for rows in range(1, count + 1):
        columns = count // rows
        if rows * columns == count and height % rows == 0 and width % columns == 0:
            if height // rows == width // columns:
                return rows, columns
    return None


def _square(count: int, input_size: Sequence[int | None]) -> tuple[int, int] | None:
    side = math.isqrt(count)
    return (side, side) if side * side == count else None


def token_grid(length: int | None, input_size: Sequence[int | None]) -> TokenGrid | None:
    """The patch grid of ``length`` tokens for an input of ``(height, width)`` (``None`` if
    unknown), or ``None`` when no grid fits: the input's patch grid after the fewest leading
    tokens, else (only then) a square; ``None`` too for an input that is not an image (not two
    spatial sides).

    Example:
        >>> str(token_grid(197, (224, 224)))
        '197 tokens as a 14x14 patch grid, the first 1 dropped (class/register tokens)'
    """
    if not length or len(input_size) != 2:
        return None
    shapes = (_patch_grid, _square) if all(input_size) else (_square,)
    for shape in shapes:
        for skip in range(min(MAX_EXTRA_TOKENS, length - 1) + 1):
            found = shape(length - skip, input_size)
            if found is not None:
                return TokenGrid(skip, *found)
    return None


def as_feature_map(tensor: tf.Tensor, input_size: Sequence[int], where: str) -> tf.Tensor:
    """``tensor`` as ``(batch, h, w, d)``: a 4-D map unchanged, tokens on their :func:`token_grid`.

    Raises:
        ModelError: tokens that fit no patch grid, naming ``where`` they come from.
    """
    if len(tensor.shape) == 4:
        return tensor
    grid = token_grid(tensor.shape[1], input_size) if len(tensor.shape) == 3 else None
    if grid is None:
        raise ModelError(
            f"{where} outputs shape {tuple(tensor.shape)}, neither a 4-D feature map nor tokens on a patch "
            f"grid of the {'x'.join(map(str, input_size))} input; pick another {option('target_layer')}"
        )
    return grid.to_map(tensor)

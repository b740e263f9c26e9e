"""Map augmentation: maps of an image at several scales and of its mirror, combined into one.

This is the test-time recipe of weakly-supervised segmentation work (e.g. Ahn & Kwak, "Learning
Pixel-level Semantic Affinity with Image-level Supervision", CVPR 2018: scales 0.5, 1, 1.5, 2,
each with its mirror): every view's map is resized to one grid, mirrored maps are mirrored back,
and the maps are averaged. :class:`~cam_keras.cam.base.BaseCAM` applies it for every method.

This module imports no TensorFlow, so the command line and the heatmap options can name it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cam_keras.errors import UsageError

#: how the views' maps are combined. The mean keeps every view's evidence and its scale, so a
#: region seen at one scale only is weaker than one seen at all; the max, the other common
#: choice, lets a single view's spurious peak through.
COMBINE = "mean"
#: what the views cost, for help texts (measured with scripts/bench_augmentation.py on the demo's
#: small CNN at 64 px, 2 CPU cores: flip 1.9x, scales 0.5,1,1.5,2 6.0x, both 15x plain CAM).
COST = (
    "each scale and each mirror costs one more forward pass (and backward pass, for gradient methods) "
    "at that view's size, so a scale s costs about s*s passes at scale 1: with the demo's model a mirror "
    "costs 1.9x plain CAM, scales 0.5,1,1.5,2 6x, both 15x"
)


@dataclass(frozen=True)
class MapAugmentation:
    """Which views of each image are mapped.

    Attributes:
        scales: factors the image is resized by before it is mapped (each at least 0.1);
            ``(1.0,)`` maps the image as it is. Scales other than 1 need a model whose layers
            take other input sizes (convolutions and global pooling; not ``Flatten`` or a
            transformer's position embeddings).
        flip: also map the horizontal mirror of each scaled image.

    Maps are averaged (:data:`COMBINE`) on the finest grid among the views (bilinear resizing),
    so ``raw_maps`` of a 2x scale come at twice the feature resolution. They are averaged as the
    method computes them: a CAM value does not depend on the grid's size, but the gradient
    methods' maps of a network with global average pooling scale with ``1 / (h * w)`` of each
    view's grid, so there the smaller scales weigh more in the mean. Classes are chosen, and
    logits and probabilities reported, from the image at scale 1, unmirrored: predictions do not
    change. Cost: one forward pass per scale and mirror (:attr:`passes`), each at its view's
    size, so about ``sum(s * s for s in scales)`` times a plain pass, doubled by ``flip``
    (:data:`COST`).

    Example:
        >>> MapAugmentation(scales=(1.0, 2.0), flip=True).passes
        4
    """

    scales: tuple[float, ...] = (1.0,)
    flip: bool = False

    def __post_init__(self) -> None:
        scales = tuple(float(scale) for scale in self.scales) if isinstance(self.scales, Sequence) else ()
        if not scales or not all(math.isfinite(scale) and scale >= 0.1 for scale in scales):
            raise UsageError(
                f"augmentation scales must be factors of at least 0.1, e.g. (1.0, 1.5, 2.0); got {self.scales!r}"
            )
        if len(set(scales)) != len(scales):
            raise UsageError(f"augmentation scales are given twice: {self.scales!r}")
        object.__setattr__(self, "scales", scales)
        if not isinstance(self.flip, bool):
            raise UsageError(f"augmentation flip must be True or False, got {self.flip!r}")

    @property
    def is_identity(self) -> bool:
        """Only the image itself is mapped."""
        return self.scales == (1.0,) and not self.flip

    @property
    def passes(self) -> int:
        """Forward passes per batch: one per view, plus the image itself when 1 is not a scale
        (its predictions are reported)."""
        return len(self.scales) * (2 if self.flip else 1) + (1.0 not in self.scales)

    def as_dict(self) -> dict:
        """The settings as JSON values, for reports and a resumed job's identity."""
        return {"scales": list(self.scales), "flip": self.flip, "combine": COMBINE}

    def describe(self) -> str:
        """One line for people, e.g. ``scales 1, 2 with mirrors, mean of 4 maps``.

        Example:
            >>> MapAugmentation(flip=True).describe()
            'the image and its mirror, mean of 2 maps'
        """
        if self.is_identity:
            return "none (the image at its own size)"
        views = len(self.scales) * (2 if self.flip else 1)
        if self.scales == (1.0,):
            return f"the image and its mirror, {COMBINE} of {views} maps"
        scales = ", ".join(f"{scale:g}" for scale in self.scales)
        return f"scales {scales}{' with mirrors' if self.flip else ''}, {COMBINE} of {views} maps"


NO_AUGMENTATION = MapAugmentation()


def parse_scales(text: str) -> tuple[float, ...]:
    """Scales from a comma-separated list such as ``"0.5,1,1.5,2"``.

    Raises:
        UsageError: an entry that is not a number.

    Example:
        >>> parse_scales("1, 1.5,2")
        (1.0, 1.5, 2.0)
    """
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"scales must be comma-separated numbers such as 1,1.5,2; got {text!r}") from None

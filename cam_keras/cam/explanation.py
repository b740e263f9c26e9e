"""The result of explaining a batch: maps, classes and scores that render themselves."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cam_keras.cam.maps import scale_maps
from cam_keras.data.images import resize_image
from cam_keras.render import caption, grid, overlay, side_by_side, write_arrays, write_png


Size = tuple[int, int]


@dataclass
class Explanation:
    """Class maps for a batch of images.

    Attributes:
        images: original RGB images, uint8 ``(h_i, w_i, 3)`` each.
        raw_maps: unnormalized maps at feature resolution, float32 ``(batch, n, h, w)``.
        maps: maps scaled to [0, 1] at model input (or feature) resolution ``(batch, n, H, W)``.
        class_indices: explained class of each map, int ``(batch, n)``.
        logits: pre-activation scores, float32 ``(batch, classes)``.
        probabilities: class probabilities by the model's output contract (softmax, or
            sigmoid for multi-label and binary outputs), float32 ``(batch, classes)``.
        class_names: label of each class index.
        method: name of the method that made the maps (``"cam"``, ``"gradcam"``, ...).
    """

    images: list[np.ndarray]
    raw_maps: np.ndarray
    maps: np.ndarray
    class_indices: np.ndarray
    logits: np.ndarray
    probabilities: np.ndarray
    class_names: tuple[str, ...]
    method: str
    _resized: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.images)

    def labels(self, index: int) -> list[str]:
        """Names of the classes explained for image ``index``."""
        return [self.class_names[c] for c in self.class_indices[index]]

    def top_predictions(self, index: int, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most probable ``(class name, probability)`` pairs of image ``index``."""
        probabilities = self.probabilities[index]
        order = np.argsort(-probabilities)[:k]
        return [(self.class_names[c], float(probabilities[c])) for c in order]

    def image_at(self, index: int, size: Size | None = None) -> np.ndarray:
        """Image ``index``, resized to ``size = (height, width)`` unless ``None`` (original)."""
        return self.images[index] if size is None else resize_image(self.images[index], size)

    def maps_at(self, index: int, size: Size | None = None) -> np.ndarray:
        """Maps of image ``index`` in [0, 1], ``(n, height, width)``, bilinearly resized from
        the raw maps to ``size`` (default: the original image size)."""
        size = tuple(self.images[index].shape[:2] if size is None else size)
        if size == self.maps.shape[2:]:
            return self.maps[index]
        if (index, size) not in self._resized:
            self._resized[index, size] = scale_maps(self.raw_maps[index], size)
        return self._resized[index, size]

    def overlay(
        self, index: int, target: int = 0, colormap: str = "jet", alpha: float = 0.5, size: Size | None = None
    ) -> np.ndarray:
        """Heatmap ``target`` of image ``index`` over the image, uint8 ``(h, w, 3)``."""
        return overlay(self.image_at(index, size), self.maps_at(index, size)[target], colormap, alpha)

    def panel(
        self, index: int, target: int = 0, colormap: str = "jet", alpha: float = 0.5, size: Size | None = None
    ) -> np.ndarray:
        """``original | heatmap | overlay`` of one image and target, uint8."""
        return side_by_side(self.image_at(index, size), self.maps_at(index, size)[target], colormap, alpha)

    def captioned_overlay(
        self, index: int, target: int = 0, colormap: str = "jet", alpha: float = 0.5, size: Size | None = None
    ) -> np.ndarray:
        """Map ``target`` of image ``index`` as an overlay with its class and probability above."""
        return caption(self.overlay(index, target, colormap, alpha, size), self.label_text(index, target))

    def captioned_overlays(
        self, index: int, colormap: str = "jet", alpha: float = 0.5, size: Size | None = None
    ) -> np.ndarray:
        """Every map of image ``index`` as a captioned overlay, side by side, uint8."""
        targets = range(self.class_indices.shape[1])
        return np.concatenate([self.captioned_overlay(index, t, colormap, alpha, size) for t in targets], axis=1)

    def label_text(self, index: int, target: int = 0) -> str:
        """``"name (p=0.93)"`` for one map."""
        class_index = int(self.class_indices[index, target])
        return f"{self.class_names[class_index]} (p={self.probabilities[index, class_index]:.2f})"

    def grid(self, colormap: str = "jet", alpha: float = 0.5, columns: int = 4, tile_size: int = 160) -> np.ndarray:
        """Every map of every image as captioned overlays in one uint8 picture."""
        tiles = [
            self.captioned_overlay(i, t, colormap, alpha)
            for i in range(len(self))
            for t in range(self.class_indices.shape[1])
        ]
        return grid(tiles, columns=columns, tile_size=tile_size)

    def show(self, colormap: str = "jet", alpha: float = 0.5, columns: int = 4):
        """Display :meth:`grid` with matplotlib; returns the figure."""
        import matplotlib.pyplot as plt

        picture = self.grid(colormap, alpha, columns)
        figure = plt.figure(figsize=(picture.shape[1] / 80, picture.shape[0] / 80))
        axes = figure.add_axes([0, 0, 1, 1])
        axes.imshow(picture)
        axes.axis("off")
        return figure

    def save(self, directory: str | os.PathLike, stem: str = "image", colormap: str = "jet", alpha: float = 0.5) -> list[Path]:
        """Write ``{stem}_{i}.png`` captioned overlays and ``{stem}_{i}.npz`` arrays."""
        directory = Path(directory)
        written = []
        for i in range(len(self)):
            written.append(write_png(directory / f"{stem}_{i}.png", self.captioned_overlays(i, colormap, alpha)))
            written.append(write_arrays(directory / f"{stem}_{i}.npz", self.arrays(i)))
        return written

    def arrays(self, index: int) -> dict[str, np.ndarray]:
        """What programs read about image ``index``: raw maps at feature resolution
        ``(n, h, w)`` float32, class indices and names, logits, probabilities, and the
        original ``image_size`` (height, width). Scaled maps at any size are one call away:
        ``cam_keras.cam.maps.scale_maps(raw_maps, size)`` (they are not stored: full-size
        float maps of photos take megabytes each)."""
        return {
            "raw_maps": self.raw_maps[index],
            "image_size": np.array(self.images[index].shape[:2]),
            "class_indices": self.class_indices[index],
            "class_names": np.array(self.labels(index)),
            "logits": self.logits[index],
            "probabilities": self.probabilities[index],
        }

    def _repr_png_(self) -> bytes:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(self.grid()).save(buffer, format="PNG")
        return buffer.getvalue()

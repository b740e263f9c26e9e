"""The result of explaining a batch: the container of maps, classes and scores.

It holds arrays. Drawing, saving and display are plain functions in
:mod:`cam_keras.render.explanations` (``overlay_picture(explanation, i)``,
``save_explanation(explanation, folder)``...); the methods of the same names here call them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cam_keras.cam.maps import scale_maps
from cam_keras.cam.targets import CUSTOM_TARGET
from cam_keras.data.resize import Window, fit_image
from cam_keras.render import explanations as drawing
from cam_keras.render.explanations import GRID_TILE
from cam_keras.render.pictures import Placement, Style, scale_maps_to
from cam_keras.render.sizing import DEFAULT_MAX_SIDE, SizeRequest

Size = tuple[int, int]


@dataclass
class Explanation:
    """Class maps for a batch of images.

    Attributes:
        images: RGB images, uint8 ``(h_i, w_i, 3)`` each: the originals, or the pictures a
            pipeline decoded at output size (then ``image_sizes`` holds the originals' sizes).
        raw_maps: unnormalized maps at feature resolution, float32 ``(batch, n, h, w)``.
        maps: maps scaled to [0, 1] at model input (or feature) resolution ``(batch, n, H, W)``.
        class_indices: explained class of each map, int ``(batch, n)``.
        logits: pre-activation scores, float32 ``(batch, classes)``.
        probabilities: class probabilities by the model's output contract (softmax, or
            sigmoid for multi-label and binary outputs), float32 ``(batch, classes)``.
        class_names: label of each class index.
        method: name of the method that made the maps (``"cam"``, ``"gradcam"``, ...).
        image_sizes: ``(height, width)`` of each original file when ``images`` are smaller;
            ``None`` when ``images`` are the originals.
        windows: where each image's model input lies on it (the resize policy's
            :class:`~cam_keras.data.resize.Window`): maps are placed there on the image;
            ``None`` when every model input is the whole image (squash).
    """

    images: list[np.ndarray]
    raw_maps: np.ndarray
    maps: np.ndarray
    class_indices: np.ndarray
    logits: np.ndarray
    probabilities: np.ndarray
    class_names: tuple[str, ...]
    method: str
    image_sizes: list[Size] | None = None
    windows: list[Window] | None = None
    _resized: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.images)

    def labels(self, index: int) -> list[str]:
        """Names of the classes explained for image ``index`` (``"target j"`` for a function target)."""
        indices = self.class_indices[index]
        return [f"target {j}" if c == CUSTOM_TARGET else self.class_names[c] for j, c in enumerate(indices)]

    def top_predictions(self, index: int, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most probable ``(class name, probability)`` pairs of image ``index``."""
        probabilities = self.probabilities[index]
        order = np.argsort(-probabilities)[:k]
        return [(self.class_names[c], float(probabilities[c])) for c in order]

    def original_size(self, index: int) -> Size:
        """``(height, width)`` of image ``index`` as a file (or as given)."""
        return tuple(self.image_sizes[index]) if self.image_sizes else self.images[index].shape[:2]

    def window(self, index: int) -> Window:
        """Where image ``index``'s model input lies on it (see :func:`cam_keras.data.resize.fit_window`)."""
        return self.windows[index] if self.windows else Window()

    def region(self, index: int, size: Size | None = None) -> tuple[int, int, int, int]:
        """``(top, bottom, left, right)`` of image ``index`` (at ``size``) that its maps cover."""
        return self.window(index).region(tuple(self.images[index].shape[:2] if size is None else size))

    def placement(self, index: int, size: Size | None = None) -> Placement | None:
        """Where image ``index``'s raw maps go on it at ``size`` (see
        :meth:`cam_keras.data.resize.Window.placement`); ``None``: all over it."""
        size = tuple(self.images[index].shape[:2] if size is None else size)
        return self.window(index).placement(size, self.raw_maps.shape[2:])

    def image_at(self, index: int, size: Size | None = None) -> np.ndarray:
        """Image ``index``, resized to ``size = (height, width)`` unless ``None`` (as stored)."""
        return self.images[index] if size is None else fit_image(self.images[index], size)

    def maps_at(self, index: int, size: Size | None = None) -> np.ndarray:
        """Maps of image ``index`` in [0, 1], ``(n, height, width)``, bilinearly resized from
        the raw maps to ``size`` (default: the size of the stored image) and placed where
        the model input lies on the image (:meth:`region`; 0 elsewhere: a crop's cut-away
        margins, see :func:`cam_keras.render.pictures.scale_maps_to`)."""
        size = tuple(self.images[index].shape[:2] if size is None else size)
        window = self.window(index)
        if window == Window() and size == self.maps.shape[2:]:
            return self.maps[index]
        if (index, size) not in self._resized:
            raw = self.raw_maps[index]
            placement = window.placement(size, raw.shape[1:])
            placed = scale_maps(raw, size) if placement is None else scale_maps_to(raw, size, placement=placement)
            self._resized[index, size] = placed
        return self._resized[index, size]

    def overlay(
        self, index: int, map_index: int = 0, colormap: str = "jet", alpha: float = 0.5, size: Size | None = None
    ) -> np.ndarray:
        """Map ``map_index`` of image ``index`` over the image, uint8 ``(h, w, 3)``
        (:func:`cam_keras.render.explanations.overlay_picture`)."""
        return drawing.overlay_picture(self, index, map_index, colormap, alpha, size)

    def panel(
        self, index: int, map_index: int = 0, colormap: str = "jet", alpha: float = 0.5, size: Size | None = None
    ) -> np.ndarray:
        """``original | heatmap | overlay`` of map ``map_index`` of image ``index``, uint8
        (:func:`cam_keras.render.explanations.panel_picture`)."""
        return drawing.panel_picture(self, index, map_index, colormap, alpha, size)

    def label_text(self, index: int, map_index: int = 0) -> str:
        """What a map's caption says: ``"cat  p=0.93  cam"`` (``"target 0  gradcam"`` for a
        function target)."""
        class_index = int(self.class_indices[index, map_index])
        if class_index == CUSTOM_TARGET:
            return f"{self.labels(index)[map_index]}  {self.method}"
        return f"{self.class_names[class_index]}  p={self.probabilities[index, class_index]:.2f}  {self.method}"

    def captioned_overlays(self, index: int, style: Style | None = None, size: Size | None = None) -> np.ndarray:
        """Every map of image ``index`` as a captioned overlay, side by side, uint8
        (:func:`cam_keras.render.explanations.captioned_overlays`)."""
        return drawing.captioned_overlays(self, index, style, size)

    def grid(
        self,
        style: Style | None = None,
        *,
        columns: int = 1,
        tile_size: int = GRID_TILE,
        notes: Sequence[str] = (),
    ) -> np.ndarray:
        """One row per image with its maps, ``columns`` images side by side, ``notes[i]``
        added to image ``i``'s captions (:func:`cam_keras.render.explanations.explanation_grid`)."""
        return drawing.explanation_grid(self, style, columns=columns, tile_size=tile_size, notes=notes)

    def show(self, style: Style | None = None, *, columns: int = 1, tile_size: int = GRID_TILE) -> Path | None:
        """Display :meth:`grid` once: inline in Jupyter, in a window from a script; without a
        display, save it as a PNG and print (and return) its path
        (:func:`cam_keras.render.explanations.show_explanation`)."""
        return drawing.show_explanation(self, style, columns=columns, tile_size=tile_size)

    def save(
        self,
        directory: str | os.PathLike,
        stem: str = "image",
        style: Style | None = None,
        *,
        image_format: str = "png",
        size: SizeRequest = None,
        max_side: int = DEFAULT_MAX_SIDE,
    ) -> list[Path]:
        """Write ``{stem}_{i}.{image_format}`` captioned overlays and ``{stem}_{i}.npz`` into
        the output folder ``directory`` (:func:`cam_keras.render.explanations.save_explanation`,
        which lists the errors)."""
        return drawing.save_explanation(
            self, directory, stem, style, image_format=image_format, size=size, max_side=max_side
        )

    def arrays(self, index: int) -> dict[str, np.ndarray]:
        """What programs read about image ``index``: raw maps at feature resolution
        ``(n, h, w)`` float32, class indices and names, logits, probabilities, the original
        ``image_size`` (height, width) and the ``window`` ``(top, left, height, width)`` the
        raw maps cover, in fractions of the image (``0, 0, 1, 1`` unless the model fits
        pictures by crop or pad). Scaled maps at any size are one call away:
        ``scale_maps_to(raw_maps, size, placement=Window(*window).placement(size, raw_maps.shape[1:]))``
        (:mod:`cam_keras.render.pictures`)
        (they are not stored: full-size float maps of photos take megabytes each)."""
        window = self.window(index)
        return {
            "raw_maps": self.raw_maps[index],
            "image_size": np.array(self.original_size(index)),
            "window": np.array([window.top, window.left, window.height, window.width], np.float32),
            "class_indices": self.class_indices[index],
            "class_names": np.array(self.labels(index)),
            "logits": self.logits[index],
            "probabilities": self.probabilities[index],
        }

    def _repr_png_(self) -> bytes:
        return drawing.grid_png(self)

"""The result of explaining a batch: the container of maps, classes and scores.

Pictures come from :mod:`cam_keras.render.pictures` (the renderer), files from
:mod:`cam_keras.render.writers` (pictures) and :mod:`cam_keras.records` (arrays), display from
:mod:`cam_keras.render.display`; the methods here only hand them this explanation's arrays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cam_keras.cam.maps import scale_maps
from cam_keras.cam.targets import CUSTOM_TARGET
from cam_keras.data.resize import Window, resize_image
from cam_keras.outdir import OutputFolder
from cam_keras.records import write_arrays
from cam_keras.render import overlay, side_by_side, write_picture
from cam_keras.render.display import show_picture
from cam_keras.render.pictures import Placement, Style, hstack, image_row, scale_maps_to, vstack
from cam_keras.render.png import encode_png
from cam_keras.render.sizing import (
    DEFAULT_MAX_SIDE,
    SizeRequest,
    bounded_output_size,
    check_max_side,
    check_size,
    output_size,
)

Size = tuple[int, int]
GRID_TILE = 384  # longest side of each map in grid() and the notebook display: captions readable


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
        return self.images[index] if size is None else resize_image(self.images[index], size)

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
        """Map ``map_index`` of image ``index`` over the image, uint8 ``(h, w, 3)``."""
        heat = self.maps_at(index, size)[map_index]
        return overlay(self.image_at(index, size), heat, colormap, alpha, self.region(index, size))

    def panel(
        self, index: int, map_index: int = 0, colormap: str = "jet", alpha: float = 0.5, size: Size | None = None
    ) -> np.ndarray:
        """``original | heatmap | overlay`` of map ``map_index`` of image ``index``, uint8."""
        heat = self.maps_at(index, size)[map_index]
        return side_by_side(self.image_at(index, size), heat, colormap, alpha, self.region(index, size))

    def label_text(self, index: int, map_index: int = 0) -> str:
        """What a map's caption says: ``"cat  p=0.93  cam"`` (``"target 0  gradcam"`` for a
        function target)."""
        class_index = int(self.class_indices[index, map_index])
        if class_index == CUSTOM_TARGET:
            return f"{self.labels(index)[map_index]}  {self.method}"
        return f"{self.class_names[class_index]}  p={self.probabilities[index, class_index]:.2f}  {self.method}"

    def captioned_overlays(self, index: int, style: Style | None = None, size: Size | None = None) -> np.ndarray:
        """Every map of image ``index`` as a captioned overlay, side by side, uint8."""
        texts = [self.label_text(index, m) for m in range(self.class_indices.shape[1])]
        picture = self.image_at(index, size)
        return image_row(picture, self.raw_maps[index], texts, style or Style(), self.placement(index, size))

    def grid(self, style: Style | None = None, *, columns: int = 1, tile_size: int = GRID_TILE) -> np.ndarray:
        """One row per image with its maps (``columns`` images side by side), each map drawn
        with its longest side ``tile_size`` so captions stay readable; uint8."""
        rows = [
            self.captioned_overlays(i, style, output_size(tile_size, self.images[i].shape[:2], (0, 0)))
            for i in range(len(self))
        ]
        gap = max(4, tile_size // 32)
        return vstack([hstack(rows[i : i + columns], gap) for i in range(0, len(rows), columns)], gap)

    def show(self, style: Style | None = None, *, columns: int = 1, tile_size: int = GRID_TILE) -> Path | None:
        """Display :meth:`grid` once: inline in Jupyter, in a window from a script; without a
        display, save it as a PNG and print (and return) its path."""
        return show_picture(self.grid(style, columns=columns, tile_size=tile_size))

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
        """Write ``{stem}_{i}.{image_format}`` captioned overlays (sized by ``size`` and
        ``max_side`` as in :func:`cam_keras.render.sizing.output_size`) and ``{stem}_{i}.npz``.

        ``directory`` is an output folder like a command's ``--out``
        (:class:`~cam_keras.outdir.OutputFolder`): locked while saving, and only files an
        earlier save or job wrote there are replaced.

        Raises:
            UsageError: ``size`` or ``max_side`` asks for sides above
                :data:`~cam_keras.render.sizing.MAX_SIDE`.
            ImageError: a picture would exceed :data:`~cam_keras.render.sizing.MAX_PIXELS`
                pixels, named; nothing is written.
            OutputFolderError: a file of one of these names is there and cam-keras did not
                write it (your input image, say), named; nothing is written.
        """
        check_size(size, "size")
        check_max_side(max_side, "max_side")
        names = [(f"{stem}_{i}.{image_format}", f"{stem}_{i}.npz") for i in range(len(self))]
        sizes = [
            bounded_output_size(size, self.images[i].shape[:2], self.maps.shape[2:], max_side, name, "size")
            for i, (name, _) in enumerate(names)
        ]
        written = []
        with OutputFolder(directory, overwrite=True, flag="folder") as out:
            out.check_free(name for pair in names for name in pair)
            for i, ((picture_name, arrays_name), picture_size) in enumerate(zip(names, sizes)):
                picture = self.captioned_overlays(i, style, picture_size)
                written.append(write_picture(out.claim(picture_name), picture))
                written.append(write_arrays(out.claim(arrays_name), self.arrays(i)))
        return written

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
        return encode_png(self.grid())

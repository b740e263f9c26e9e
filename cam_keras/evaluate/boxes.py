"""Boxes from maps (the CAM paper's protocol) and box overlap.

Boxes are ``(xmin, ymin, xmax, ymax)`` in pixel-edge coordinates: a box covering columns
3..9 has ``xmin=3, xmax=10``, so its width is ``xmax - xmin``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

Box = tuple[int, int, int, int]
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
_WITHIN_EACH_MAP = np.stack([np.zeros((3, 3), bool), EIGHT_CONNECTED, np.zeros((3, 3), bool)])


def component_boxes(heatmap: np.ndarray, threshold: float = 0.2) -> list[tuple[int, Box]]:
    """``(pixel count, box)`` of each connected region where ``heatmap >= threshold * max``,
    largest first. A map with no positive maximum yields the whole image.

    Example:
        >>> heatmap = np.zeros((8, 8)); heatmap[0:2, 0:2] = 1.0; heatmap[4:8, 4:8] = 0.5
        >>> component_boxes(heatmap, 0.2)
        [(16, (4, 4, 8, 8)), (4, (0, 0, 2, 2))]
    """
    return component_boxes_at(heatmap, [threshold])[0]


def component_boxes_at(heatmap: np.ndarray, thresholds: Sequence[float]) -> list[list[tuple[int, Box]]]:
    """:func:`component_boxes` at each of ``thresholds``, in one labelling of the stack of
    thresholded maps (8-connected within a map, never across maps): a curve over 100
    thresholds costs one ``ndimage.label`` call, not 100.

    Example:
        >>> heatmap = np.zeros((8, 8)); heatmap[0:2, 0:2] = 1.0; heatmap[4:8, 4:8] = 0.5
        >>> component_boxes_at(heatmap, [0.2, 0.8])
        [[(16, (4, 4, 8, 8)), (4, (0, 0, 2, 2))], [(4, (0, 0, 2, 2))]]
    """
    peak = float(heatmap.max()) if heatmap.size else 0.0
    height, width = heatmap.shape
    if peak <= 0.0:
        return [[(height * width, (0, 0, width, height))] for _ in thresholds]
    cuts = np.asarray(thresholds, dtype=np.float64)[:, None, None] * peak
    labels, count = ndimage.label(heatmap[None] >= cuts, structure=_WITHIN_EACH_MAP)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    found: list[list[tuple[int, Box]]] = [[] for _ in thresholds]
    for index, region in enumerate(ndimage.find_objects(labels)):  # raster order within each map
        layer, rows, columns = region
        found[layer.start].append((int(sizes[index]), (columns.start, rows.start, columns.stop, rows.stop)))
    return [sorted(regions, key=lambda item: -item[0]) for regions in found]


def box_from_map(heatmap: np.ndarray, threshold: float = 0.2) -> Box:
    """The paper's box: bounding box of the largest connected region of the map above
    ``threshold`` times its maximum (Zhou et al., 2016, Sec. 3).

    Example:
        >>> heatmap = np.zeros((8, 8)); heatmap[2:5, 3:7] = 1.0
        >>> box_from_map(heatmap)
        (3, 2, 7, 5)
    """
    return component_boxes(heatmap, threshold)[0][1]


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes (0 when either is empty).

    Example:
        >>> iou((0, 0, 10, 10), (5, 0, 15, 10))
        0.3333333333333333
    """
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, width) * max(0.0, height)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def best_iou(box: Sequence[float], truths: Sequence[Sequence[float]]) -> float:
    """Highest IoU of ``box`` with any ground-truth box (any one match counts).

    Example:
        >>> best_iou((0, 0, 10, 10), [(50, 50, 60, 60), (0, 0, 10, 10)])
        1.0
    """
    return max((iou(box, truth) for truth in truths), default=0.0)


def scale_box(box: Sequence[float], from_size: tuple[int, int], to_size: tuple[int, int]) -> tuple[float, ...]:
    """Rescale a box between image sizes given as ``(height, width)``.

    Example:
        >>> scale_box((10, 20, 30, 40), (100, 50), (200, 100))
        (20.0, 40.0, 60.0, 80.0)
    """
    sy, sx = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)

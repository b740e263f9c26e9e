"""Boxes from thresholded maps: the one-call labelling of a threshold stack against a plain
per-threshold scipy labelling written out here."""

import numpy as np
import pytest
from scipy import ndimage

from cam_keras.evaluate.boxes import component_boxes, component_boxes_at
from cam_keras.evaluate.metrics import THRESHOLDS


def regions_one_threshold_at_a_time(heatmap, threshold):
    """The reference: label the map cut at one threshold, 8-connected, largest region first."""
    labels, count = ndimage.label(heatmap >= threshold * heatmap.max(), structure=np.ones((3, 3)))
    found = []
    for index in range(1, count + 1):
        rows, columns = np.nonzero(labels == index)
        box = (int(columns.min()), int(rows.min()), int(columns.max()) + 1, int(rows.max()) + 1)
        found.append((len(rows), box))
    return sorted(found, key=lambda item: -item[0])


@pytest.mark.parametrize("seed", range(4))
def test_every_threshold_of_the_stack_has_the_regions_of_its_own_cut(seed):
    rng = np.random.default_rng(seed)
    heatmap = ndimage.gaussian_filter(rng.uniform(0, 1, (24, 20)), 1.5)  # several blobs, ties in size
    stacked = component_boxes_at(heatmap, THRESHOLDS)
    assert stacked == [regions_one_threshold_at_a_time(heatmap, t) for t in THRESHOLDS]
    assert [component_boxes(heatmap, t) for t in THRESHOLDS[::10]] == stacked[::10]


def test_a_map_without_a_positive_peak_is_the_whole_image_at_every_threshold():
    assert component_boxes_at(np.zeros((5, 7)), [0.2, 0.5]) == [[(35, (0, 0, 7, 5))]] * 2

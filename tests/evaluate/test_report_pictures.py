"""The evaluation's pictures: class names whole in confusion.png."""

from __future__ import annotations

import numpy as np

from cam_keras.evaluate.report import confusion_picture


def test_confusion_names_are_not_cut_at_a_few_letters():
    """Issue 25: "triangle" showed as "triang"; names differing after 12 letters looked the same."""
    counts = np.array([[5, 1], [2, 4]])
    first = confusion_picture(counts, ("rectangle_long_a", "triangle"))
    second = confusion_picture(counts, ("rectangle_long_b", "triangle"))
    assert first.shape == second.shape and not np.array_equal(first, second)
    columns = confusion_picture(counts, ("circle", "triangle")), confusion_picture(counts, ("circle", "triangles"))
    assert columns[0].shape != columns[1].shape or not np.array_equal(*columns)

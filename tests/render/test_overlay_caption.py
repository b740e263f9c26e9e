"""Captions of small pictures wrap to the picture instead of widening it."""

from __future__ import annotations

import numpy as np

from cam_keras.render.overlay import caption


def test_a_caption_wider_than_a_small_picture_wraps_to_its_width():
    text = "triangle  p=0.93  cam"
    small = caption(np.zeros((64, 64, 3), np.uint8), text)
    assert small.shape[1] == 64  # it was 130 px wide, half of it blank
    wide = caption(np.zeros((64, 400, 3), np.uint8), text)
    assert small.shape[0] - 64 > 2 * (wide.shape[0] - 64)  # three lines instead of one


def test_only_a_word_wider_than_the_picture_widens_it():
    picture = caption(np.zeros((28, 28, 3), np.uint8), "triangle  p=0.93")
    assert 28 < picture.shape[1] < 60
    assert (picture[-28:, :28] == 0).all() and (picture[-28:, 28:] == 255).all()

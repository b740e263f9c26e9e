"""Gallery thumbnails: bounded, never enlarged, hot where the map is, named beside the outputs."""

from __future__ import annotations

import numpy as np
from PIL import Image

from cam_keras.render.pictures import Style
from cam_keras.render.thumbnails import THUMBNAIL_SIDE, thumbnail, thumbnail_name, thumbnail_stem, write_thumbnail


def test_a_thumbnail_is_bounded_and_hot_where_the_map_is():
    picture = np.full((200, 300, 3), 128, np.uint8)
    raw = np.zeros((1, 4, 4), np.float32)
    raw[0, :, 0] = 1.0  # evidence in the left quarter only
    small = thumbnail(picture, raw, Style(alpha=0.6))
    assert small.shape == (107, THUMBNAIL_SIDE, 3)
    left, right = small[:, :20].astype(int), small[:, -20:].astype(int)
    assert left[..., 0].mean() > right[..., 0].mean() + 50  # jet: high is red
    assert right[..., 2].mean() > left[..., 2].mean() + 50  # low is blue


def test_a_small_picture_is_never_enlarged_and_only_its_region_gets_heat(tmp_path):
    picture = np.full((12, 16, 3), 200, np.uint8)
    raw = np.ones((1, 2, 2), np.float32)
    raw[0, 0, 0] = 2.0
    placement = ((0, 12, 4, 12), (0.0, 0.0, 2.0, 2.0))  # the maps cover columns 4 to 12 (a crop's centre)
    small = thumbnail(picture, raw, Style(), placement)
    assert small.shape == (12, 16, 3)
    assert (small[:, :4] == 200).all() and (small[:, 12:] == 200).all() and (small[:, 4:12] != 200).any()
    write_thumbnail(tmp_path / "t.jpg", small)
    with Image.open(tmp_path / "t.jpg") as written:
        assert written.format == "JPEG" and written.size == (16, 12)


def test_thumbnail_names_lie_in_a_hidden_folder_and_give_back_their_stem():
    assert thumbnail_name("cats/tom.v2") == ".thumbnails/cats/tom.v2.jpg"
    assert thumbnail_stem(thumbnail_name("cats/tom.v2")) == "cats/tom.v2"

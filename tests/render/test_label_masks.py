"""Pseudo-masks from maps (render/masks.py): the label rule against hand-made label images,
and the palette PNG they are saved as."""

import numpy as np
import pytest
from PIL import Image

from cam_keras.errors import UsageError
from cam_keras.render.masks import UNSURE, MaskRule, label_mask, legend, palette, write_label_png


def test_label_rule_against_a_hand_made_label_image():
    # two maps (palette indices 2 and 5: classes 1 and 4), foreground 0.5, background 0.2
    first = np.array([[0.9, 0.6, 0.3, 0.1], [0.0, 0.5, 0.19, 0.7]])
    second = np.array([[0.1, 0.8, 0.25, 0.05], [0.55, 0.2, 0.1, 0.7]])
    labels = label_mask(np.stack([first, second]), [2, 5], MaskRule(foreground=0.5, background=0.2))
    expected = np.array([[2, 5, UNSURE, 0], [5, 2, 0, 2]], np.uint8)  # a tie goes to the first map
    np.testing.assert_array_equal(labels, expected)
    assert labels.dtype == np.uint8


def test_a_map_left_out_and_no_band():
    maps = np.array([[[0.9, 0.2]], [[0.95, 0.6]]])
    np.testing.assert_array_equal(label_mask(maps, [3, 0], MaskRule(0.4, 0.4)), [[3, 0]])  # the 0.95 map is left out
    np.testing.assert_array_equal(label_mask(maps, [0, 0], MaskRule()), [[0, 0]])


def test_rule_checks_its_thresholds():
    with pytest.raises(UsageError, match="masks.background"):
        MaskRule(foreground=0.2, background=0.5).validate()
    with pytest.raises(UsageError, match="masks.foreground"):
        MaskRule(foreground=1.5).validate()
    assert MaskRule(0.3, 0.3, 0.5).validate() == MaskRule(0.3, 0.3, 0.5)


def test_palette_png_round_trip(tmp_path):
    labels = np.random.default_rng(0).integers(0, 256, (7, 11)).astype(np.uint8)
    path = write_label_png(tmp_path / "mask.png", labels)
    with Image.open(path) as image:
        assert image.mode == "P"
        np.testing.assert_array_equal(np.asarray(image), labels)
        colours = np.array(image.getpalette()).reshape(-1, 3)
    assert colours[0].tolist() == [0, 0, 0] and colours[UNSURE].tolist() == [255, 255, 255]
    assert colours[1].tolist() == [128, 0, 0] and colours[2].tolist() == [0, 128, 0]  # PASCAL VOC's
    assert len({tuple(c) for c in np.array(palette()).reshape(-1, 3)[:21]}) == 21  # distinct colours
    assert oct(path.stat().st_mode & 0o777) != "0o600"  # normal permissions, not a temp file's


def test_legend_names_every_index():
    assert legend(["cat", "dog"]) == {"0": "background", "1": "cat", "2": "dog", "255": "unsure"}
    with pytest.raises(UsageError, match="at most 254"):
        legend([str(k) for k in range(255)])

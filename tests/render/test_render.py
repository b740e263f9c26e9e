import numpy as np
import pytest
import scipy.io

from cam_keras.atomic import atomic_path
from cam_keras.records import write_arrays
from cam_keras.render import colorize, colormap_table, draw_boxes, grid, overlay, side_by_side, write_png


def test_jet_lookup_table_runs_from_dark_blue_to_dark_red():
    table = colormap_table("jet")
    assert table.shape == (256, 3)
    assert tuple(table[0]) == (0, 0, 128)
    assert tuple(table[-1]) == (128, 0, 0)


def test_unknown_colormap_is_named():
    with pytest.raises(ValueError, match="nonesuch"):
        colorize(np.zeros((2, 2)), "nonesuch")


def test_overlay_alpha_blends_between_image_and_heatmap():
    image = np.full((3, 3, 3), 200, np.uint8)
    heat = np.ones((3, 3))
    assert (overlay(image, heat, alpha=0.0) == 200).all()
    np.testing.assert_array_equal(overlay(image, heat, alpha=1.0), colorize(heat))
    half = overlay(image, heat, alpha=0.5).astype(int)
    np.testing.assert_allclose(half, (200 + colorize(heat).astype(int)) / 2, atol=1)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 0.77, 1.0])
def test_overlay_matches_a_float_blend_with_matplotlib_colours(alpha):
    import matplotlib

    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (31, 47, 3), dtype=np.uint8)
    heat = rng.random((31, 47))
    heat[0, 0] = np.nan  # drawn as the lowest colour
    eight_bit = np.round(np.nan_to_num(heat) * 255) / 255  # 256 colours, the nearest level drawn
    colours = matplotlib.colormaps["viridis"](eight_bit)[..., :3] * 255.0
    expected = (1 - alpha) * image + alpha * colours
    blended = overlay(image, heat, "viridis", alpha).astype(float)
    assert np.abs(blended - expected).max() <= 1.0  # integer colours and an integer blend


def test_overlay_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match="differ in size"):
        overlay(np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2)))


def test_side_by_side_is_three_panels_wide():
    assert side_by_side(np.zeros((5, 6, 3), np.uint8), np.zeros((5, 6))).shape == (5, 18, 3)


def test_draw_boxes_colors_the_border_only():
    image = draw_boxes(np.zeros((20, 20, 3), np.uint8), [(5, 5, 15, 15)], color=(0, 255, 0), width=1)
    assert tuple(image[5, 10]) == (0, 255, 0)
    assert tuple(image[14, 10]) == (0, 255, 0)
    assert tuple(image[10, 10]) == (0, 0, 0)


def test_grid_places_tiles_in_rows():
    tiles = [np.zeros((10, 10, 3), np.uint8)] * 5
    picture = grid(tiles, columns=2, tile_size=10, gap=2)
    assert picture.shape == (3 * 12 + 2, 2 * 12 + 2, 3)


def test_arrays_round_trip_as_npz_and_mat(tmp_path):
    arrays = {"maps": np.arange(6, dtype=np.float32).reshape(1, 2, 3), "names": np.array(["a"])}
    with np.load(write_arrays(tmp_path / "x.npz", arrays)) as loaded:
        np.testing.assert_array_equal(loaded["maps"], arrays["maps"])
    mat = scipy.io.loadmat(write_arrays(tmp_path / "x.mat", arrays))
    np.testing.assert_array_equal(mat["maps"], arrays["maps"])


def test_failed_atomic_write_keeps_the_old_file(tmp_path):
    target = write_png(tmp_path / "keep.png", np.zeros((2, 2, 3), np.uint8))
    before = target.read_bytes()
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temp:
            temp.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]


def test_an_explanation_is_drawn_and_saved_by_plain_functions_of_its_arrays(tiny_model, images, tmp_path):
    """The result holds arrays; drawing is a function of them (its methods only call it)."""
    import dataclasses

    from cam_keras import CAM
    from cam_keras.render.explanations import overlay_picture, panel_picture, save_explanation

    explanation = CAM(tiny_model)(images[:2], top_k=2)
    plain = dataclasses.replace(explanation)  # the same arrays, a fresh container
    heat = explanation.maps[1, 1]
    by_hand = overlay(explanation.images[1], heat, "jet", 0.5)
    np.testing.assert_array_equal(overlay_picture(plain, 1, 1), by_hand)
    assert panel_picture(plain, 0).shape == (32, 96, 3)
    written = save_explanation(plain, tmp_path / "a", stem="x")
    assert [p.name for p in written] == ["x_0.png", "x_0.npz", "x_1.png", "x_1.npz"]
    methods = explanation.save(tmp_path / "b", stem="x")
    assert [p.read_bytes() for p in written] == [p.read_bytes() for p in methods]

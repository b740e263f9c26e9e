"""Array formats are one registry (cam_keras.records.ARRAY_FORMATS): a format added there is
accepted by the options, offered by ``--format`` and written by a real heatmap job."""

import numpy as np
import pytest

import cam_keras
from cam_keras.cli import build_parser
from cam_keras.errors import UsageError
from cam_keras.jobs.request import HeatmapOptions
from cam_keras.records import ARRAY_FORMATS, ArrayFormat, write_arrays


def _write_npy(handle, arrays):
    """A format of the test's own: the raw maps alone, as one ``.npy`` array."""
    np.save(handle, arrays["raw_maps"])


@pytest.fixture
def npy_format(monkeypatch):
    monkeypatch.setitem(ARRAY_FORMATS, "npy", ArrayFormat("npy", _write_npy))


@pytest.fixture
def two_images(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pixels = np.random.default_rng(3).integers(0, 255, (2, 24, 20, 3), dtype=np.uint8)
    for name, picture in zip(("a", "b"), pixels):
        cam_keras.render.write_png(folder / f"{name}.png", picture)
    return folder


def test_a_registered_format_is_checked_offered_and_written_by_a_job(npy_format, tiny_model, two_images, tmp_path):
    explainer = cam_keras.CAM(tiny_model)
    for name in ("npz", "npy"):
        options = HeatmapOptions(array_format=name, workers=0).validate()
        cam_keras.write_heatmaps(explainer, [two_images], tmp_path / name, options, progress=False)
    for stem in ("a", "b"):
        with np.load(tmp_path / "npz" / f"{stem}.npz") as reference:
            np.testing.assert_array_equal(np.load(tmp_path / "npy" / f"{stem}.npy"), reference["raw_maps"])
    args = build_parser().parse_args(["heatmap", "--model", "m.keras", "--out", "o", "--format", "npy"])
    assert args.format == "npy"


def test_an_unknown_format_is_refused_naming_the_registered_ones(npy_format, tmp_path):
    with pytest.raises(UsageError, match=r"array_format must be npz, mat, npy or none, got 'txt'"):
        HeatmapOptions(array_format="txt").validate()
    with pytest.raises(ValueError, match=r"must end in \.npz or \.mat or \.npy"):
        write_arrays(tmp_path / "maps.txt", {"x": np.zeros(2)})
    assert not (tmp_path / "maps.txt").exists()

"""Fixtures of the gallery tests: a headless Chromium (skipped, saying why, where the system
has none) and a real heatmap job over class folders, so the true class of every image is known."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from gallery_helpers import briefly_trained, shape_folders

import cam_keras

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench_gallery.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_gallery", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def bench_gallery():
    """scripts/bench_gallery.py as a module: the browser and the synthetic galleries."""
    return _bench()


@pytest.fixture(scope="session")
def browser(bench_gallery):
    if not os.path.exists(bench_gallery.CHROMIUM) or not os.path.exists(bench_gallery.CHROMEDRIVER):
        pytest.skip(
            f"the gallery browser tests need {bench_gallery.CHROMIUM} and {bench_gallery.CHROMEDRIVER} "
            "(Debian/Ubuntu: apt-get install chromium chromium-driver)"
        )
    pytest.importorskip("selenium", reason="the gallery browser tests need selenium (pip install -e .[test])")
    with bench_gallery.chromium() as driver:
        yield driver


@pytest.fixture(scope="session")
def heatmap_job(tmp_path_factory):
    """A finished heatmap job (top-2 maps, render worker processes) over 300 images in class
    folders; its output folder holds the gallery."""
    root = tmp_path_factory.mktemp("gallery-job")
    data = shape_folders(root / "data")
    options = cam_keras.HeatmapOptions(top_k=2, workers=1, array_format=None)
    cam_keras.write_heatmaps(cam_keras.CAM(briefly_trained(data)), [data], root / "maps", options, progress=False)
    return root / "maps"

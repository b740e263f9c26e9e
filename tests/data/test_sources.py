"""Kinds of input are one registry (cam_keras.data.sources.SOURCE_KINDS): a kind added there is
scanned by ImageSource, keeps the output folder out of what it names, gets its flag on
`cam-keras heatmap` and feeds a real job."""

from pathlib import Path

import numpy as np
import pytest

import cam_keras
from cam_keras.cli import build_parser
from cam_keras.cli.flags import FLAGS, error_text
from cam_keras.cli.heatmap import _request
from cam_keras.data.sources import SOURCE_KINDS, ImageSource, SourceKind
from cam_keras.errors import CamKerasError, UsageError, option
from cam_keras.jobs.pipeline import run_request


def _find_glob(pattern: str) -> tuple[list, list]:
    """A kind of the test's own: the files a glob pattern matches, named from their folder (a
    plain ``(entries, hidden)`` pair, as a kind in a module of its own returns)."""
    paths = sorted(Path(pattern).parent.glob(Path(pattern).name))
    return [(path, path.parent) for path in paths], []


@pytest.fixture
def glob_kind(monkeypatch):
    kind = SourceKind(
        "glob",
        _find_glob,
        lambda pattern: [Path(pattern).parent],
        {"metavar": "PATTERN", "help": "the images a glob pattern matches"},
        f"{option('glob')} PATTERN",
    )
    monkeypatch.setitem(SOURCE_KINDS, "glob", kind)
    monkeypatch.setitem(FLAGS, "glob", "--glob")  # the kind's line in the one flag table


@pytest.fixture
def pictures(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pixels = np.random.default_rng(5).integers(0, 255, (3, 20, 24, 3), dtype=np.uint8)
    for name, picture in zip(("b", "a", "c"), pixels):
        cam_keras.render.write_png(folder / f"{name}.png", picture)
    (folder / "notes.txt").write_text("not matched")
    return folder


def _heatmap_args(*argv: str):
    return build_parser().parse_args(["heatmap", "--model", "m.keras", "--workers", "0", *argv])


def test_a_registered_kind_is_scanned_with_the_others(glob_kind, pictures, tmp_path):
    listed = tmp_path / "list.txt"
    listed.write_text(f"{pictures / 'c.png'}\n")
    source = ImageSource(from_list=listed, glob=str(pictures / "[ab].png"))
    expected = [("a.png", "a"), ("b.png", "b"), ("c.png", "in/c")]  # the list's entry is named from the list's folder
    assert source.scan().items == [(pictures / name, Path(stem)) for name, stem in expected]
    assert source.locations == [listed, pictures]
    with pytest.raises(TypeError, match="unknown image source.s. nope; known: inputs, from_list, glob"):
        ImageSource(nope="x")


def test_a_registered_kind_gets_its_flag_and_feeds_a_real_job(glob_kind, pictures, tmp_path, tiny_model):
    with pytest.raises(UsageError) as refused:
        _request(_heatmap_args("--out", str(tmp_path / "out")))
    assert error_text(refused.value) == "give image files or folders, or --from-list FILE, or --glob PATTERN"
    assert str(refused.value) == "give image files or folders, or from_list FILE, or glob PATTERN"
    pattern = str(pictures / "*.png")
    # the kind's locations keep the outputs out of its folder
    with pytest.raises(CamKerasError, match="is inside the input"):
        run_request(cam_keras.CAM(tiny_model), _request(_heatmap_args("--out", str(pictures / "o"), "--glob", pattern)))
    request = _request(_heatmap_args("--out", str(tmp_path / "out"), "--glob", pattern, "--format", "none"))
    report = run_request(cam_keras.CAM(tiny_model), request)
    assert report.succeeded == 3
    assert sorted(path.name for path in (tmp_path / "out").glob("*.png")) == ["a.png", "b.png", "c.png"]

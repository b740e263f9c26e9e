"""The gallery page's files: shipped as package data, nothing fetched from the network, and a
data file that stays valid JavaScript whatever the names in it."""

from __future__ import annotations

import fnmatch
import json
import sys
from importlib import resources
from pathlib import Path

import pytest

from cam_keras.gallery.page import page_text, script_literal, url

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "cam_keras" / "gallery" / "static"


def test_every_page_asset_is_package_data_and_read_through_importlib_resources():
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        tomllib = pytest.importorskip("tomli")
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = patterns["cam_keras.gallery"]
    assets = sorted(path.name for path in STATIC.iterdir())
    assert assets == ["gallery.css", "gallery.html", "gallery.js"]
    for name in assets:
        assert any(fnmatch.fnmatch(f"static/{name}", pattern) for pattern in shipped), name
        assert (resources.files("cam_keras.gallery") / "static" / name).read_text(encoding="utf-8")


def test_the_page_inlines_its_script_and_style_and_names_no_network_address():
    page = page_text()
    assert "/*SCRIPT*/" not in page and "/*STYLE*/" not in page
    assert (STATIC / "gallery.js").read_text() in page and (STATIC / "gallery.css").read_text() in page
    addresses = {word for word in page.replace('"', " ").split() if "://" in word}
    assert addresses == {"http://www.w3.org/2000/svg"}  # an XML namespace name, never fetched
    assert '<script src="gallery-data.js">' in page and page.count("<script") == 2


@pytest.mark.parametrize(
    "name",
    [
        "</script><script>window.__pwned=1</script>",
        "<img src=x onerror=window.__pwned=1>.png",
        "line\u2028and\u2029paragraph separators",
        "quotes \" ' ` and \\ backslash",
        "line\nbreak\r\n",
        "undecodable \udcff byte",
        "<!-- comment",
    ],
)
def test_a_script_literal_keeps_any_name_inside_its_string(name):
    literal = script_literal({"name": name, "names": [name]})
    assert literal.isascii() and "<" not in literal and "\n" not in literal and "\r" not in literal
    assert json.loads(literal) == {"name": name, "names": [name]}


def test_file_urls_quote_what_a_browser_would_read_as_syntax():
    assert url("cats/a#1?x=%2 y.jpg") == "cats/a%231%3Fx%3D%252%20y.jpg"
    assert url(".thumbnails/\udcff.jpg") == ".thumbnails/%FF.jpg"  # a byte that is not UTF-8, as on disk


def test_an_explanation_gets_a_gallery_of_its_overlays_and_thumbnails(tiny_model, images, tmp_path):
    import cam_keras

    explanation = cam_keras.explain(tiny_model, images, top_k=2)
    page = cam_keras.write_gallery(explanation, tmp_path / "explained")
    source = (tmp_path / "explained" / "gallery-data.js").read_text(encoding="ascii")
    data = json.loads(source[len("window.CAM_KERAS_GALLERY = ") : -2])
    assert page == tmp_path / "explained" / "gallery.html"
    assert [item[0] for item in data["items"]] == [f"image_{i}" for i in range(len(images))]
    for index, item in enumerate(data["items"]):
        assert (tmp_path / "explained" / item[2]).is_file() and (tmp_path / "explained" / item[3]).is_file()
        top = explanation.top_predictions(index)
        assert [data["classes"][c] for c in item[6]] == [name for name, _ in top]
        assert item[7] == pytest.approx([probability for _, probability in top], abs=1e-6)

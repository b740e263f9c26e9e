"""The gallery in a real browser (headless Chromium through Selenium): what it shows, after
filtering, sorting and opening an image, agrees with the job's predictions.csv; its state
survives a reload; hostile names stay text; 10,000 images load and filter quickly."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path, PurePath

import numpy as np
import pytest
from gallery_helpers import JOB_CLASSES, PER_CLASS, spread_model

import cam_keras

ROOT = Path(__file__).resolve().parents[2]
CLICK_TILE = "document.querySelector(`.tile[data-position='${arguments[0]}']`).click()"


def wait_ready(driver) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(lambda d: d.execute_script("return !!(window.camGallery && camGallery.ready)"))


def load(driver, url: str) -> None:
    driver.get(url)
    wait_ready(driver)


def text(driver, element_id: str) -> str:
    return driver.execute_script("return document.getElementById(arguments[0]).textContent", element_id)


def tiles(driver) -> list[tuple[int, str]]:
    """``(position, name)`` of the tiles drawn, in order."""
    found = driver.execute_script(
        "return Array.from(document.querySelectorAll('.tile'), t => [+t.dataset.position, "
        "t.querySelector('.name').textContent])"
    )
    return sorted((position, name) for position, name in found)


def scroll_to(driver, end: bool) -> None:
    """Scroll the grid to its top or its end and let it draw at once."""
    driver.execute_script(
        "const grid = document.getElementById('grid'); grid.scrollTop = arguments[0] ? grid.scrollHeight : 0;"
        "grid.dispatchEvent(new Event('scroll'))",
        end,
    )


def choose(driver, element_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", element_id)).select_by_value(value)


def press(driver, key: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(driver).send_keys(getattr(Keys, key)).perform()


def console_errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def table_rows(folder: Path) -> list[dict]:
    with open(folder / "predictions.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def stem(row: dict) -> str:
    return PurePath(row["output"]).with_suffix("").as_posix()


@pytest.mark.slow  # trains a tiny model for its 300 images (about 20 s) and runs their heatmap job
def test_job_gallery_filters_sorts_opens_and_keeps_its_state_in_the_url(browser, heatmap_job):
    rows = table_rows(heatmap_job)
    assert len(rows) == len(JOB_CLASSES) * PER_CLASS
    browser.get_log("browser")  # start from an empty console
    load(browser, (heatmap_job / "gallery.html").as_uri())
    assert text(browser, "count").startswith(f"{len(rows)} of {len(rows)} images shown")

    choose(browser, "pred", "square")
    choose(browser, "sort", "confidence")
    expected = sorted((row for row in rows if row["top1"] == "square"), key=lambda row: -float(row["top1_prob"]))
    right = sum(PurePath(row["path"]).parent.name == "square" for row in expected)
    assert 0 < len(expected) < len(rows)
    assert text(browser, "count") == (
        f"{len(expected)} of {len(rows)} images shown · {right} right · {len(expected) - right} wrong"
    )
    drawn = tiles(browser)
    assert 0 < len(drawn) < len(expected)  # only what is on screen (and a row either side) is drawn
    assert drawn == [(i, stem(row)) for i, row in enumerate(expected[: len(drawn)])]
    thumbnails = browser.execute_script(
        "return Array.from(document.querySelectorAll('.tile img'), i => i.naturalWidth)"
    )
    assert thumbnails and min(thumbnails) > 0  # every drawn thumbnail was found and decoded

    scroll_to(browser, end=True)
    assert tiles(browser)[-1] == (len(expected) - 1, stem(expected[-1]))

    scroll_to(browser, end=False)
    browser.execute_script(CLICK_TILE, 1)
    _check_detail(browser, expected, 1)
    view = browser.current_url
    assert "pred=square" in view and "open=" in view

    browser.refresh()  # the same URL shows the same view
    wait_ready(browser)
    assert browser.current_url == view
    assert browser.execute_script("return document.getElementById('pred').value") == "square"
    assert text(browser, "count").startswith(f"{len(expected)} of {len(rows)} images shown")
    _check_detail(browser, expected, 1)

    press(browser, "ARROW_RIGHT")
    _check_detail(browser, expected, 2)
    press(browser, "ESCAPE")
    assert browser.execute_script("return document.getElementById('detail').hidden")
    assert "open=" not in browser.current_url and "pred=square" in browser.current_url
    _save_figure(browser, heatmap_job)
    assert console_errors(browser) == []


def _check_detail(browser, expected: list[dict], position: int) -> None:
    """The open image is the ``position``-th of ``expected``, with its table row's probabilities."""
    row = expected[position]
    assert not browser.execute_script("return document.getElementById('detail').hidden")
    assert text(browser, "detail-name") == stem(row)
    assert text(browser, "detail-path") == row["path"]
    assert text(browser, "position") == f"{position + 1} of {len(expected)}"
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('#probabilities tbody tr'), r => "
        "Array.from(r.cells, c => c.textContent))"
    )
    ranks = [rank for rank in range(1, 6) if row.get(f"top{rank}")]
    assert shown == [[str(r), row[f"top{r}"], f"{float(row[f'top{r}_prob']):.4f}"] for r in ranks]
    from selenium.webdriver.support.ui import WebDriverWait

    loaded = "return ['original-box', 'overlay-box'].map(id => document.querySelector(`#${id} img`)?.naturalWidth || 0)"
    WebDriverWait(browser, 20).until(lambda d: min(d.execute_script(loaded)) > 0)  # the original, by its relative path


def _save_figure(browser, job: Path) -> None:
    """README's docs/gallery.png, from this real job, when CAM_KERAS_UPDATE_FIGURES is set."""
    scroll_to(browser, end=False)
    shot = job.parent / "gallery.png"
    browser.save_screenshot(str(shot))
    if os.environ.get("CAM_KERAS_UPDATE_FIGURES"):
        shutil.copyfile(shot, ROOT / "docs" / "gallery.png")


HOSTILE_FILE = "<img src=x onerror=window.__pwned=1>"
HOSTILE_CLASS = "</script><script>window.__pwned=2</script>"
ODD_FILE = "quote\"s 'and\u2028line\u2029sep"


def test_hostile_file_and_class_names_are_shown_as_text_and_never_run(browser, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    from PIL import Image

    for name in (HOSTILE_FILE, ODD_FILE, "line\nbreak", "plain"):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(photos / f"{name}.png")
    model = spread_model(class_names=(HOSTILE_CLASS, 'it\'s "quoted"', "plain\u2028class"))
    model.get_layer("cam_logits").bias.assign([100.0, 0.0, 0.0])  # every image is predicted the hostile class
    options = cam_keras.HeatmapOptions(top_k=1, workers=0, array_format=None)
    cam_keras.write_heatmaps(cam_keras.CAM(model), [photos], tmp_path / "maps", options, progress=False)
    browser.get_log("browser")
    load(browser, (tmp_path / "maps" / "gallery.html").as_uri())

    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"], script:not([src])').length") == 1
    assert {name for _, name in tiles(browser)} == {HOSTILE_FILE, ODD_FILE, "line\nbreak", "plain"}
    predicted = browser.execute_script(
        "return Array.from(document.querySelectorAll('.tile .prediction'), e => e.textContent)"
    )
    assert [line for line in predicted if line.startswith("1. ")] == [f"1. {HOSTILE_CLASS} 100.0%"] * 4
    choices = browser.execute_script("return Array.from(document.getElementById('pred').options, o => o.text)")
    assert choices == ["any", f"{HOSTILE_CLASS} (4)"]
    browser.execute_script(CLICK_TILE, 0)
    assert browser.execute_script("return window.__pwned === undefined")
    assert console_errors(browser) == []


def test_ten_thousand_images_load_and_filter_in_the_browser(browser, bench_gallery, tmp_path):
    page = bench_gallery.synthetic_gallery(tmp_path / "gallery", 10_000)
    source = (page.parent / "gallery-data.js").read_text(encoding="ascii")
    prefix = "window.CAM_KERAS_GALLERY = "
    assert source.startswith(prefix) and source.endswith(";\n")
    data = json.loads(source[len(prefix) : -2])  # the data file is JSON assigned to one global
    browser.get_log("browser")
    load(browser, page.as_uri())
    assert browser.execute_script("return camGallery.readyMs") < 10_000
    assert text(browser, "count").startswith("10000 of 10000 images shown")
    assert len(tiles(browser)) < 200  # virtualized: the grid holds what is on screen only

    wanted = data["classes"][3]
    count = sum(1 for item in data["items"] if item[6][0] == 3)
    milliseconds = browser.execute_script(bench_gallery._TIME_INPUT, "pred", wanted)
    assert text(browser, "count").startswith(f"{count} of 10000 images shown")
    assert milliseconds < 2_000
    assert console_errors(browser) == []


def test_evaluation_gallery_shows_the_iou_and_boxes_of_per_image_csv(browser, colors_dir, tmp_path):
    from cam_keras.evaluate import evaluate_localization, write_evaluation

    model = spread_model(class_names=("blue", "red"), input_size=16)
    evaluation = evaluate_localization(cam_keras.CAM(model), colors_dir, progress=False, samples=2, extremes=0)
    write_evaluation(evaluation, tmp_path / "eval")
    with open(tmp_path / "eval" / "per_image.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with open(colors_dir / "boxes.csv", newline="", encoding="utf-8") as handle:
        truths = {
            row["path"]: [float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax")] for row in csv.DictReader(handle)
        }
    browser.get_log("browser")
    load(browser, (tmp_path / "eval" / "gallery.html").as_uri() + "#sort=iou&order=asc&result=wrong")

    expected = sorted(
        (row for row in rows if row["correct_top1"] == "False"), key=lambda row: float(row["predicted_iou"])
    )
    assert text(browser, "count") == f"{len(expected)} of {len(rows)} images shown · 0 right · {len(expected)} wrong"
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('.tile'), tile => [+tile.dataset.position, "
        "tile.querySelector('.iou').textContent, "
        "Array.from(tile.querySelectorAll('rect'), r => [r.getAttribute('class'), "
        "['x', 'y', 'width', 'height'].map(a => +r.getAttribute(a))])])"
    )
    assert len(shown) >= 5
    for position, iou, rects in sorted(shown):
        row = expected[position]
        assert iou == f"IoU {float(row['predicted_iou']):.2f}"
        predicted = [float(v) for v in row["predicted_class_map_box"].strip("()[]").split(",")]
        truth = truths[PurePath(row["path"]).relative_to(colors_dir).as_posix()]
        assert rects == [
            ["true", [truth[0], truth[1], truth[2] - truth[0], truth[3] - truth[1]]],
            ["predicted", [predicted[0], predicted[1], predicted[2] - predicted[0], predicted[3] - predicted[1]]],
        ]
    assert console_errors(browser) == []

"""Gallery page speed in headless Chromium: load, filter and sort at 1,000 / 10,000 / 100,000
images (a synthetic gallery-data.js written by cam-keras' own writer; a few shared thumbnails).

    python scripts/bench_gallery.py [--sizes 1000 10000 100000] [--repeats 3]

Needs /usr/bin/chromium and /usr/bin/chromedriver (Debian: apt-get install chromium
chromium-driver) and selenium (`pip install -e .[test]`); never downloads a browser.
The tests (tests/gallery/) start the browser through :func:`chromium` too.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cam_keras.gallery.page import GalleryItem, write_gallery_files  # noqa: E402
from cam_keras.outdir import OutputFolder  # noqa: E402
from cam_keras.render.thumbnails import THUMBNAIL_SIDE, write_thumbnail  # noqa: E402

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)
CLASSES = tuple(f"class {i}" for i in range(20))
SHARED_THUMBNAILS = 8


@contextlib.contextmanager
def chromium() -> Iterator:
    """A headless Chromium driven by Selenium, with its browser console log kept
    (``driver.get_log("browser")``); the system's Chromium and driver, never a download."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    with tempfile.TemporaryDirectory(prefix="cam-keras-chromium-") as profile:
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def synthetic_gallery(folder: Path, images: int, seed: int = 0) -> Path:
    """A gallery of ``images`` made-up predictions over :data:`CLASSES` (true class known)
    sharing :data:`SHARED_THUMBNAILS` thumbnails; returns the page."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with OutputFolder(folder, overwrite=True) as out:
        for i in range(SHARED_THUMBNAILS):
            picture = rng.integers(0, 255, (THUMBNAIL_SIDE * 3 // 4, THUMBNAIL_SIDE, 3), dtype=np.uint8)
            write_thumbnail(out.claim(f"thumbs/{i}.jpg"), picture)
        logits = rng.normal(0, 2, (images, len(CLASSES)))
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        order = np.argsort(-probabilities, axis=1)[:, :5]
        truths = rng.integers(0, len(CLASSES), images)

        def items() -> Iterator[GalleryItem]:
            for i in range(images):
                name = f"{CLASSES[truths[i]]}/image_{i:06d}"
                yield GalleryItem(
                    name=name,
                    path=f"dataset/{name}.jpg",
                    thumbnail=f"thumbs/{i % SHARED_THUMBNAILS}.jpg",
                    overlay=f"thumbs/{i % SHARED_THUMBNAILS}.jpg",
                    classes=order[i],
                    probabilities=probabilities[i, order[i]],
                    true_class=int(truths[i]),
                )

        return write_gallery_files(out, f"synthetic gallery of {images} images", CLASSES, items())


def wait_ready(driver, timeout: float = 120.0) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return !!(window.camGallery && camGallery.ready)"))


# One change of a control, timed in the page from the input event to the grid drawn (layout
# forced), as a user's keystroke or choice runs it.
_TIME_INPUT = """
const [id, value] = arguments;
const control = document.getElementById(id);
const start = performance.now();
control.value = value;
control.dispatchEvent(new Event('input'));
document.getElementById('grid').getBoundingClientRect();
document.querySelectorAll('.tile').length;
return performance.now() - start;
"""
_TIME_SCROLL = """
const grid = document.getElementById('grid');
const start = performance.now();
grid.scrollTop = grid.scrollHeight / 2;
grid.dispatchEvent(new Event('scroll'));
document.querySelectorAll('.tile').length;
return performance.now() - start;
"""


def measure(driver, page: Path, repeats: int) -> dict[str, float]:
    """Median milliseconds of loading the page and of each interaction."""
    keys = ("load", "text filter", "class filter", "sort by name", "scroll")
    timings: dict[str, list[float]] = {key: [] for key in keys}
    for _ in range(repeats):
        driver.get(page.as_uri())
        wait_ready(driver)
        timings["load"].append(driver.execute_script("return camGallery.readyMs"))
        timings["text filter"].append(driver.execute_script(_TIME_INPUT, "q", "image_00"))
        timings["class filter"].append(driver.execute_script(_TIME_INPUT, "pred", CLASSES[3]))
        driver.execute_script(_TIME_INPUT, "pred", "")
        driver.execute_script(_TIME_INPUT, "q", "")
        timings["sort by name"].append(driver.execute_script(_TIME_INPUT, "sort", "name"))
        timings["scroll"].append(driver.execute_script(_TIME_SCROLL))
    return {key: statistics.median(values) for key, values in timings.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="cam-keras-gallery-bench-") as scratch, chromium() as driver:
        for size in args.sizes:
            page = synthetic_gallery(Path(scratch) / str(size), size)
            data_mb = (page.parent / "gallery-data.js").stat().st_size / 1e6
            rows.append((size, data_mb, measure(driver, page, args.repeats)))
    keys = list(rows[0][2])
    print("| images | gallery-data.js | " + " | ".join(f"{key} (ms)" for key in keys) + " |")
    print("|---:|---:|" + "---:|" * len(keys))
    for size, data_mb, timing in rows:
        print(f"| {size:,} | {data_mb:.1f} MB | " + " | ".join(f"{timing[key]:.0f}" for key in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Camera-size photos, side by side in one run (issue 18).

Generates (once, then reuses) a folder of 4032x3024 JPEGs with realistic noise in two class
folders, then prints:

1. decode to 224 px, one thread: the DCT-scaled decoder against a full decode + resize;
2. the training pipeline (``make_dataset``) against ``keras.utils.image_dataset_from_directory``
   at 224 px, same files and batch size;
3. ``cam-keras heatmap`` at default settings (ResNet50, random weights, 224 px) against bare
   inference (decode at model size + forward pass), and, from the same command run as a
   subprocess, its peak RSS and median overlay size;
4. render scaling: overlays per second rendered and encoded by 1 and 2 worker processes.

Each row gives images/s (the best of ``--repeats`` interleaved rounds), its ratio to the row
it is compared with, and processor milliseconds per image (user + system, render workers
included), which machine load changes less than wall time.

    python scripts/bench_photos.py --images 40
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf
from _bench import machine, print_table, write_json
from PIL import Image

import cam_keras
from cam_keras.data.class_folders import scan_class_folders
from cam_keras.data.images import decode_image, load_image
from cam_keras.data.pipeline import make_dataset
from cam_keras.data.resize import fit_image
from cam_keras.jobs import HeatmapOptions, write_heatmaps
from cam_keras.jobs.pool import render_pool
from cam_keras.render.pictures import Style
from cam_keras.render.render_job import RenderJob, run_job

PHOTO = (3024, 4032)  # (height, width) of a 12-megapixel phone photo
SIZE = (224, 224)


def make_photo(rng: np.random.Generator, label: int) -> Image.Image:
    """A 4032x3024 picture with smooth colour fields, an object (disc for class 0, bar for
    class 1), fine texture and sensor noise, so JPEG sizes are those of real photos (~3 MB)."""
    height, width = PHOTO
    fields = rng.uniform(30, 220, (6, 8, 3)).astype(np.float32)
    picture = np.asarray(
        Image.fromarray(fields.astype(np.uint8)).resize((width, height), Image.Resampling.BICUBIC), np.float32
    )
    y, x = np.ogrid[:height, :width]
    cy, cx = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width
    if label == 0:
        inside = (y - cy) ** 2 + (x - cx) ** 2 < (0.18 * height) ** 2
    else:
        inside = (abs(y - cy) < 0.08 * height) & (abs(x - cx) < 0.3 * width)
    picture[inside] = rng.uniform(0, 255, 3)
    texture = np.asarray(
        Image.fromarray(rng.normal(0, 12, (height // 4, width // 4)).astype(np.float32), "F").resize((width, height))
    )
    picture += texture[..., None]
    picture += rng.normal(0, 3, (height, width, 1)).astype(np.float32)
    return Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8))


def ensure_photos(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        label = index % 2
        path = folder / f"class_{label}" / f"photo_{index:03d}.jpg"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            make_photo(rng, label).save(path, quality=90)
        paths.append(path)
    return paths


def processor_seconds() -> float:
    """User + system time of this process and of its children that have ended (the heatmap
    job's render workers end with the job)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(count: int, function) -> tuple[float, float]:
    """``(images per second, processor milliseconds per image)`` of one call."""
    start, processor = time.perf_counter(), processor_seconds()
    function()
    return count / (time.perf_counter() - start), (processor_seconds() - processor) * 1000 / count


def best_of(repeats: int, candidates: dict) -> dict[str, tuple[float, float]]:
    """Each candidate's fastest round of ``repeats`` interleaved rounds (the machine is shared):
    ``(images per second, processor ms per image)``."""
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, (count, function) in candidates.items():
            results[name].append(measure(count, function))
    return {name: max(values) for name, values in results.items()}


def rows_against(baseline: str, rates: dict[str, tuple[float, float]], labels: dict[str, str]) -> list[dict]:
    """Table rows, one per label, with the ratio of images/s to ``baseline``'s and the
    processor time per image (the ratio a machine with no other load would show)."""
    return [
        {
            "what": label,
            "images_per_s": rates[name][0],
            "ratio": rates[name][0] / rates[baseline][0],
            "cpu_ms_per_image": rates[name][1],
        }
        for name, label in labels.items()
    ]


def bench_decode(paths: list[Path], repeats: int) -> list[dict]:
    def new():
        return [fit_image(decode_image(p, SIZE).pixels, SIZE) for p in paths]

    def old():
        return [fit_image(load_image(p), SIZE) for p in paths]

    rates = best_of(repeats, {"new": (len(paths), new), "old": (len(paths), old)})
    labels = {
        "old": "decode to 224, 1 thread: full decode + resize (0.1)",
        "new": "decode to 224, 1 thread: DCT-scaled decoder",
    }
    return rows_against("old", rates, labels)


def bench_pipeline(folder: Path, count: int, batch: int, repeats: int) -> list[dict]:
    files = scan_class_folders(folder)
    ours = make_dataset(files, SIZE, batch, training=False)
    keras_ds = keras.utils.image_dataset_from_directory(
        folder, image_size=SIZE, batch_size=batch, shuffle=False, verbose=False
    )

    def drain(ds):
        return lambda: [None for _ in ds]

    rates = best_of(repeats, {"ours": (count, drain(ours)), "keras": (count, drain(keras_ds))})
    labels = {"keras": "keras.utils.image_dataset_from_directory, 224", "ours": "make_dataset (training pipeline), 224"}
    return rows_against("keras", rates, labels)


def bench_heatmap(folder: Path, paths: list[Path], batch: int, repeats: int, tmp: Path) -> tuple[list[dict], dict]:
    model = cam_keras.build_model("resnet50", num_classes=2, input_size=SIZE[0], weights=None)
    model_file = cam_keras.save_model(model, tmp / "resnet50.keras")
    explainer = cam_keras.CAM(model)
    forward = tf.function(lambda x: model(x, training=False))

    def decode(p):
        return fit_image(decode_image(p, SIZE).pixels, SIZE)

    def bare() -> None:
        with futures.ThreadPoolExecutor(2) as pool:
            for start in range(0, len(paths), batch):
                forward(np.stack(list(pool.map(decode, paths[start : start + batch]))).astype(np.float32)).numpy()

    runs = iter(range(1000))

    def job(image_format: str = "png") -> None:
        options = HeatmapOptions(batch_size=batch, image_format=image_format)
        write_heatmaps(explainer, [folder], tmp / f"job{next(runs)}", options, progress=False)

    write_heatmaps(explainer, paths[:2], tmp / "warmup", HeatmapOptions(batch_size=batch), progress=False)
    bare()
    rates = best_of(
        repeats, {"bare": (len(paths), bare), "job": (len(paths), job), "jpg": (len(paths), lambda: job("jpg"))}
    )
    labels = {
        "bare": "bare inference (decode at 224 + forward), ResNet50",
        "job": "cam-keras heatmap defaults (PNG, longest side 1024)",
        "jpg": "cam-keras heatmap --image-format jpg",
    }
    rows = rows_against("bare", rates, labels)
    out = tmp / "cli"
    script = (
        "import resource, sys; from cam_keras.cli import main; code = main(sys.argv[1:]); "
        "print('peak_rss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)"
    )
    arguments = [
        "heatmap",
        "--model",
        str(model_file),
        str(folder),
        "--out",
        str(out),
        "--batch-size",
        str(batch),
        "--quiet",
    ]
    printed = subprocess.run(
        [sys.executable, "-c", script, *arguments], check=True, capture_output=True, text=True
    ).stdout.split()
    overlays = sorted(out.rglob("*.png"))
    memory = {
        "cli_peak_rss_mb": int(printed[printed.index("peak_rss_kb") + 1]) / 1024,
        "median_overlay_mb": statistics.median(p.stat().st_size for p in overlays) / 2**20,
        "overlays": len(overlays),
        "overlay_size": Image.open(overlays[0]).size,
    }
    return rows, memory


def bench_render(paths: list[Path], repeats: int) -> list[dict]:
    model = cam_keras.build_model("small_cnn", num_classes=2, input_size=64, weights=None)
    explanation = cam_keras.CAM(model)([fit_image(decode_image(p, (768, 1024)).pixels, (768, 1024)) for p in paths[:8]])
    jobs = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(len(paths)):
            i = index % len(explanation)
            text = (explanation.label_text(i),)
            jobs.append(
                RenderJob(Path(tmp) / f"{index}.png", explanation.images[i], explanation.raw_maps[i], text, Style())
            )
        pools = {workers: render_pool(workers) for workers in (1, 2)}
        rates = best_of(
            repeats, {w: (len(jobs), lambda p=pool: list(p.map(run_job, jobs))) for w, pool in pools.items()}
        )
        for pool in pools.values():
            pool.shutdown()
    rows = rows_against(1, rates, {w: f"render + PNG encode 1024x768, {w} worker(s)" for w in (1, 2)})
    for row in rows:
        row["cpu_ms_per_image"] = None  # the workers are still running: their time is not counted yet
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "cam_keras_bench_photos")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()

    paths = ensure_photos(args.folder, args.images)
    print(
        f"{len(paths)} photos {PHOTO[1]}x{PHOTO[0]} in {args.folder}, "
        f"median {statistics.median(p.stat().st_size for p in paths) / 2**20:.1f} MB; {machine()}"
    )
    rows = bench_decode(paths, args.repeats)
    rows += bench_pipeline(args.folder, len(paths), args.batch_size, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        heatmap_rows, memory = bench_heatmap(args.folder, paths, args.batch_size, args.repeats, Path(tmp))
    rows += heatmap_rows
    rows += bench_render(paths, args.repeats)
    print_table(rows, ["what", "images_per_s", "ratio", "cpu_ms_per_image"])
    print(
        ", ".join(
            f"{key} {value:.2f}" if isinstance(value, float) else f"{key} {value}" for key, value in memory.items()
        )
    )
    write_json(
        args.json,
        {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}, "results": rows, "memory": memory},
    )


if __name__ == "__main__":
    main()

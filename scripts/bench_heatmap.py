"""`cam-keras heatmap` end to end against model inference alone, and memory while streaming.

Writes N synthetic JPEGs, then measures (1) inference alone on the same decoded, resized
images held in memory, and (2) the full streaming job (decode, CAM, PNG overlays + npz),
sampling resident memory during the job: flat streaming means the peak over the first 10%
of the job is close to the peak over all of it.

    python scripts/bench_heatmap.py --images 500
    python scripts/bench_heatmap.py --images 5000 --backbone small_cnn --size 64
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from PIL import Image

import cam_keras
from _bench import machine, print_table, write_json
from cam_keras.data.images import load_image, resize_image
from cam_keras.heatmaps import HeatmapOptions, write_heatmaps


class RssSampler(threading.Thread):
    """Samples this process's resident memory every 20 ms (from /proc) while it runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.stopped = threading.Event()

    @staticmethod
    def current_mb() -> float:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * resource.getpagesize() / 2**20

    def run(self) -> None:
        while not self.stopped.wait(0.02):
            self.samples.append(self.current_mb())


def write_images(folder: Path, count: int, size: int) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{index:05d}.jpg", quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="small_cnn")
    parser.add_argument("--size", type=int, default=64, help="model input size")
    parser.add_argument("--image-size", type=int, default=96, help="side of the generated JPEGs")
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json")
    args = parser.parse_args()

    model = cam_keras.build_model(args.backbone, num_classes=10, input_size=args.size)
    explainer = cam_keras.CAM(model)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        write_images(folder, args.images, args.image_size)
        decoded = np.stack([resize_image(load_image(p), (args.size, args.size)) for p in sorted(folder.iterdir())]).astype(np.float32)
        forward = tf.function(lambda x: model(x, training=False))
        forward(decoded[: args.batch_size])
        start = time.perf_counter()
        for offset in range(0, len(decoded), args.batch_size):
            forward(decoded[offset : offset + args.batch_size]).numpy()
        inference = time.perf_counter() - start
        del decoded
        rss_before = RssSampler.current_mb()
        sampler = RssSampler()
        sampler.start()
        start = time.perf_counter()
        write_heatmaps(explainer, [folder], Path(tmp) / "out", HeatmapOptions(batch_size=args.batch_size), progress=False)
        job = time.perf_counter() - start
        sampler.stopped.set()
        sampler.join()
        rows = [
            {"stage": "inference alone (decoded in memory)", "images_per_s": args.images / inference, "ratio": 1.0},
            {"stage": "heatmap job end to end", "images_per_s": args.images / job, "ratio": inference / job},
        ]
    print(f"{args.images} images {args.image_size}px -> {args.backbone} at {args.size}px, batch {args.batch_size}, {machine()}")
    print_table(rows, ["stage", "images_per_s", "ratio"])
    tenth = max(1, len(sampler.samples) // 10)
    memory = {
        "rss_before_job_mb": rss_before,
        "peak_rss_first_10pct_mb": max(sampler.samples[:tenth], default=rss_before),
        "peak_rss_job_mb": max(sampler.samples, default=rss_before),
    }
    print(", ".join(f"{key} {value:.0f}" for key, value in memory.items()))
    write_json(args.json, {"machine": machine(), "args": vars(args), "results": rows, "memory": memory})


if __name__ == "__main__":
    main()

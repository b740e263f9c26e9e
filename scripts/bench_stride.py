"""What a finer output stride costs: forward time and feature-map memory, side by side.

Builds each backbone at its own stride and at finer ones (``build_model(output_stride=...)``)
and times a CAM call (forward pass + maps) on the same batch, interleaved, warm-up excluded.

    python scripts/bench_stride.py                               # small_cnn at 64 px, resnet50 at 224 px
    python scripts/bench_stride.py --cases small_cnn:64:4,2 --batch 32
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from _bench import machine, print_table, time_interleaved, write_json

import cam_keras

DEFAULT_CASES = ("small_cnn:64:4,2", "resnet50:224:32,16,8")


def _case(text: str) -> tuple[str, int, list[int]]:
    backbone, size, strides = text.split(":")
    return backbone, int(size), [int(stride) for stride in strides.split(",")]


def bench_case(backbone: str, size: int, strides: list[int], batch: int, repeats: int) -> list[dict]:
    """One row per stride: seconds per batch, feature-map megabytes, ratios to the first stride."""
    pixels = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype("float32")
    explainers, shapes = {}, {}
    for stride in strides:
        model = cam_keras.build_model(backbone, num_classes=10, input_size=size, output_stride=stride)
        shapes[stride] = cam_keras.find_cam_head(model).feature_model.output_shape[1:]
        explainer = cam_keras.CAM(model)
        explainers[stride] = lambda explainer=explainer: explainer(pixels, classes=0)
    seconds = time_interleaved({stride: run for stride, run in explainers.items()}, repeats)
    base = strides[0]
    rows = []
    for stride in strides:
        height, width, channels = shapes[stride]
        megabytes = batch * height * width * channels * 4 / 1e6
        rows.append(
            dict(
                backbone=backbone,
                size=size,
                stride=stride,
                map=f"{height}x{width}",
                s_per_batch=seconds[stride],
                time_ratio=seconds[stride] / seconds[base],
                feature_MB=megabytes,
                memory_ratio=megabytes / (batch * np.prod(shapes[base]) * 4 / 1e6),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES), help="backbone:size:stride,stride,...")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()
    rows = [row for case in args.cases for row in bench_case(*_case(case), args.batch, args.repeats)]
    columns = ["backbone", "size", "stride", "map", "s_per_batch", "time_ratio", "feature_MB", "memory_ratio"]
    print_table(rows, columns)
    write_json(args.json, {"machine": machine(), "batch": args.batch, "rows": rows})


if __name__ == "__main__":
    main()

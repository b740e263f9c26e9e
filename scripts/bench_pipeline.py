"""Input pipeline throughput against training-step throughput for one config.

If the pipeline alone delivers several times the images/s of a training step, data loading
is not the bottleneck.

    python scripts/bench_pipeline.py --config configs/small_cpu.toml --images 400
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf
from _bench import machine, print_table, write_json

import cam_keras
from cam_keras.data.class_folders import scan_class_folders
from cam_keras.data.pipeline import make_dataset
from cam_keras.data.synthetic import SyntheticSpec, write_split
from cam_keras.train import load_config


def images_per_second(dataset: tf.data.Dataset, step=None, batches: int = 20) -> float:
    iterator = iter(dataset.repeat())
    for _ in range(3):  # warm-up: tracing, first decodes
        batch = next(iterator)
        if step:
            step(batch)
    seen, start = 0, time.perf_counter()
    for _ in range(batches):
        batch = next(iterator)
        if step:
            step(batch)
        seen += int(batch[0].shape[0])
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(Path(__file__).resolve().parent.parent / "configs" / "small_cpu.toml"))
    parser.add_argument("--images", type=int, default=400, help="images per class to generate (4 classes)")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--json")
    args = parser.parse_args()
    config = load_config(args.config)
    size = (config.input_size, config.input_size)
    with tempfile.TemporaryDirectory() as tmp:
        spec = SyntheticSpec(image_size=config.input_size)
        write_split(Path(tmp) / "data", Path(tmp) / "masks", args.images, spec, seed=0)
        files = scan_class_folders(Path(tmp) / "data")
        dataset = make_dataset(
            files, size, config.batch_size, training=True, policy=config.resize, augmentation=config.augment
        )
        model = cam_keras.build_model(
            config.backbone, class_names=files.class_names, input_size=config.input_size, base_channels=config.width
        )
        model.compile(
            keras.optimizers.Adam(config.finetune_lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
        train_step = lambda batch: model.train_on_batch(batch[0], batch[1], sample_weight=batch[2])  # noqa: E731
        pipeline = images_per_second(dataset, batches=args.batches)
        training = images_per_second(dataset, train_step, batches=args.batches)
    rows = [
        {"stage": "input pipeline alone", "images_per_s": pipeline, "ratio": pipeline / training},
        {"stage": "training step (with pipeline)", "images_per_s": training, "ratio": 1.0},
    ]
    print(f"{args.config}: {config.backbone} at {config.input_size}px, batch {config.batch_size}, {machine()}")
    print_table(rows, ["stage", "images_per_s", "ratio"])
    write_json(args.json, {"machine": machine(), "config": args.config, "results": rows})


if __name__ == "__main__":
    main()

"""``cam-keras demo``: the whole pipeline on generated data, offline, in minutes on a CPU."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from cam_keras.cam.augmentation import COST
from cam_keras.choices import FILLS
from cam_keras.cli.common import SCALES, non_negative_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="generate shapes, train a small CNN, draw CAM boxes and score them",
        description=(
            "Generates a synthetic localization dataset, fine-tunes the small CNN on it, "
            "calibrates the box threshold on a held-out calibration split, and scores the held-out test split."
        ),
    )
    parser.add_argument(
        "--out", type=Path, default=Path("cam_keras_demo"), help="output folder (default ./cam_keras_demo)"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="re-run over an earlier demo: replaces only the files a demo wrote there, never your own",
    )
    parser.add_argument("--quick", action="store_true", help="tiny run for smoke tests (seconds, meaningless scores)")
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="data and training seed, 0 or more (same seed, same scores on one machine)",
    )
    parser.add_argument(
        "--fill",
        choices=FILLS,
        help="shapes filled with their class's texture or flat, where only outlines tell the classes apart "
        "(default texture)",
    )
    parser.add_argument(
        "--scales",
        **SCALES,
        help="map each image also at these scales, e.g. 0.5,1,1.5,2, each with its mirror (default 1: the "
        f"image and its mirror); {COST}",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cam_keras.cam.augmentation import MapAugmentation
    from cam_keras.demo import FULL, QUICK, describe, run_demo

    plan = QUICK if args.quick else FULL
    plan = replace(plan, fill=args.fill or plan.fill)
    maps = MapAugmentation(scales=args.scales, flip=True)
    report = run_demo(args.out, plan, seed=args.seed, overwrite=args.overwrite, augmentation=maps)
    print(describe(report, args.out))
    print(
        f"try:      cam-keras heatmap --model {args.out / 'run' / 'model.keras'} {args.out / 'data' / 'test'} "
        f"--out {args.out / 'heatmaps'}"
    )
    return 0

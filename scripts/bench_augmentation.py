"""What map augmentation costs: seconds per image of plain maps, flip, and scales with flip,
side by side in one run (warm-up excluded, median of interleaved repeats), with each one's
ratio to plain maps of the same method.

    python scripts/bench_augmentation.py                         # the demo's small CNN at 64 px
    python scripts/bench_augmentation.py --backbone resnet50 --size 224 --batch-size 8 --repeats 3
    python scripts/bench_augmentation.py --methods cam gradcam --scales 0.5,1,1.5,2
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from _bench import machine, print_table, time_interleaved, write_json

import cam_keras
from cam_keras.cam.augmentation import MapAugmentation, parse_scales


def settings(scales: tuple[float, ...]) -> dict[str, MapAugmentation]:
    """The augmentations compared, by the name printed."""
    shown = ",".join(f"{scale:g}" for scale in scales)
    return {
        "plain": MapAugmentation(),
        "flip": MapAugmentation(flip=True),
        f"scales {shown}": MapAugmentation(scales=scales),
        f"scales {shown} + flip": MapAugmentation(scales=scales, flip=True),
    }


def timed_rows(model, batch: np.ndarray, methods: list[str], scales: tuple[float, ...], repeats: int) -> list[dict]:
    """One row per method and augmentation: seconds per image and the ratio to plain."""
    rows = []
    for method in methods:
        explainers = {
            name: cam_keras.make_explainer(model, method, augmentation=augmentation)
            for name, augmentation in settings(scales).items()
        }
        runs = {
            name: (lambda explainer=explainer: explainer.explain_batch(batch)) for name, explainer in explainers.items()
        }
        seconds = time_interleaved(runs, repeats)
        for (name, augmentation), value in zip(settings(scales).items(), seconds.values()):
            rows.append(
                {
                    "method": method,
                    "maps": name,
                    "passes": augmentation.passes,
                    "s/image": value / len(batch),
                    "x plain": value / seconds["plain"],
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="small_cnn")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=["cam", "gradcam"])
    parser.add_argument("--scales", type=parse_scales, default=(0.5, 1.0, 1.5, 2.0))
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()
    model = cam_keras.build_model(args.backbone, num_classes=args.classes, input_size=args.size)
    batch = np.random.default_rng(0).uniform(0, 255, (args.batch_size, args.size, args.size, 3)).astype(np.float32)
    rows = timed_rows(model, batch, args.methods, args.scales, args.repeats)
    print(f"{args.backbone} at {args.size} px, batch {args.batch_size}, median of {args.repeats} interleaved repeats")
    print_table(rows, ["method", "maps", "passes", "s/image", "x plain"])
    write_json(args.json, {"machine": machine(), "settings": vars(args), "rows": rows})


if __name__ == "__main__":
    main()

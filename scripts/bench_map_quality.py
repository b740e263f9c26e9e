"""Map quality of each map option, side by side on one trained model: README's map-quality table.

For every variant (plain CAM, mirror, scales + mirror, CAM's clamped weights, percentile
normalization, all together) the box threshold is calibrated on a held-out split with boxes
(never on the test images), then the test split is scored: MaxBoxAccV2, PxAP, mIoU of the
true-class pseudo-masks cut at that calibrated threshold, top-1 localization at it, top-1
classification, and the seconds calibration and scoring took.

    python scripts/bench_map_quality.py --model run/model.keras --test data/test \\
        --calibrate data/calibration --masks data/masks/test --name digits
    python scripts/bench_map_quality.py ... --variants plain flip     # a subset
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _bench import machine, print_table, write_json

import cam_keras
from cam_keras.cam.augmentation import MapAugmentation
from cam_keras.cam.postprocessing import MapPostprocessing
from cam_keras.evaluate import calibrate_threshold, evaluate_localization

FLIP = MapAugmentation(flip=True)
SCALES_FLIP = MapAugmentation(scales=(0.5, 1.0, 1.5, 2.0), flip=True)
CLAMP = MapPostprocessing(clamp_negative_weights=True)
#: name -> (augmentation, post-processing)
VARIANTS = {
    "plain": (None, None),
    "flip": (FLIP, None),
    "scales+flip": (SCALES_FLIP, None),
    "flip+clamp": (FLIP, CLAMP),
    "flip+p99": (FLIP, MapPostprocessing(percentile=99)),
    "scales+flip+clamp": (SCALES_FLIP, CLAMP),
    "all": (SCALES_FLIP, MapPostprocessing(clamp_negative_weights=True, percentile=99)),
}


def score(model, test: Path, calibration: Path, masks: Path | None, variant: str) -> dict:
    """One variant: calibrated threshold, then the test split's scores and the time of both."""
    augmentation, postprocessing = VARIANTS[variant]
    explainer = cam_keras.CAM(model)
    options = {"augmentation": augmentation, "postprocessing": postprocessing}
    started = time.perf_counter()
    threshold = calibrate_threshold(explainer, calibration, **options)
    summary = evaluate_localization(
        explainer,
        test,
        masks_dir=masks,
        threshold=threshold,
        mask_threshold=threshold,
        progress=False,
        samples=0,
        extremes=0,
        **options,
    ).summary
    return {
        "variant": variant,
        "maxboxacc_v2": summary["maxboxacc_v2"],
        "pxap": summary.get("pxap"),
        "miou": summary.get("miou"),
        "threshold": threshold,
        "top1_loc": summary["top1_loc"],
        "top1_cls": summary["top1_cls"],
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True, help="DIR/<class>/<image> with DIR/boxes.csv")
    parser.add_argument("--calibrate", type=Path, required=True, help="held-out split with boxes.csv")
    parser.add_argument("--masks", type=Path, help="object masks of the test split (PxAP, mIoU)")
    parser.add_argument("--name", default="", help="label of the rows")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()
    model = cam_keras.load_model(args.model)
    rows = []
    for variant in args.variants:
        rows.append({"data": args.name, **score(model, args.test, args.calibrate, args.masks, variant)})
        print_table(rows[-1:], list(rows[-1]))
    print()
    print_table(rows, list(rows[0]))
    write_json(args.json, {"machine": machine(), "model": str(args.model), "rows": rows})


if __name__ == "__main__":
    main()

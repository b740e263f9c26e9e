"""The demo pipeline at a chosen size: accuracy, localization and wall time per stage.

python scripts/bench_demo.py                                 # the demo's full size
python scripts/bench_demo.py --train-per-class 100 --epochs 5 --seeds 0 1 2
python scripts/bench_demo.py --fill flat --seeds 0 1 2 3 4      # outline-only shapes
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _bench import machine, print_table, write_json

from cam_keras.data.synthetic import FILLS
from cam_keras.demo import FULL, DemoPlan, run_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=FULL.image_size)
    parser.add_argument("--train-per-class", type=int, default=FULL.train_per_class)
    parser.add_argument("--test-per-class", type=int, default=FULL.test_per_class)
    parser.add_argument("--calibration-per-class", type=int, default=FULL.calibration_per_class)
    parser.add_argument("--epochs", type=int, default=FULL.epochs)
    parser.add_argument("--width", type=int, default=FULL.width)
    parser.add_argument("--fill", choices=FILLS, default=FULL.fill)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--json")
    args = parser.parse_args()
    plan = DemoPlan(
        image_size=args.image_size,
        train_per_class=args.train_per_class,
        test_per_class=args.test_per_class,
        calibration_per_class=args.calibration_per_class,
        epochs=args.epochs,
        width=args.width,
        fill=args.fill,
    )
    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            report = run_demo(tmp, plan, seed=seed, verbose=0)
        paper = report["metrics_paper_threshold"]
        rows.append(
            {
                "seed": seed,
                "top1_cls": report["top1_cls"],
                "top1_loc": report["top1_loc"],
                "gt_known_loc": report["gt_known_loc"],
                "threshold": report["threshold"],
                "top1_loc_at_0.2": paper["top1_loc"],
                "plain_cam_top1_loc": report["metrics_plain_cam_calibrated"]["top1_loc"],
                "maxboxacc_v2": report["metrics_calibrated_threshold"]["maxboxacc_v2"],
                **{f"{stage}_s": seconds for stage, seconds in report["timings_s"].items()},
            }
        )
    print(f"demo plan {plan}, {machine()}")
    print_table(rows, list(rows[0]))
    for key in ("top1_loc", "top1_loc_at_0.2", "top1_cls"):
        values = [row[key] for row in rows]
        print(
            f"{key}: mean {statistics.mean(values):.4f}, min {min(values):.4f}, max {max(values):.4f} "
            f"over {len(values)} seed(s)"
        )
    write_json(args.json, {"machine": machine(), "plan": vars(args), "results": rows})


if __name__ == "__main__":
    main()

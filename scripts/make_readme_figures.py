"""Regenerate the README's demo picture and results table from one `cam-keras demo` run.

    python scripts/make_readme_figures.py            # runs the demo into ./cam_keras_demo_readme
    python scripts/make_readme_figures.py --from cam_keras_demo   # reuse an existing run

Copies the demo grid to docs/demo_grid.png and prints the Markdown table to paste.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent


def table(report: dict) -> str:
    calibrated, paper = report["metrics_calibrated_threshold"], report["metrics_paper_threshold"]
    at_both = [
        ("top-1 localization", "top1_loc"),
        ("GT-known localization", "gt_known_loc"),
        ("mean IoU, true class", "mean_iou_gt_known"),
    ]
    threshold_free = [
        ("top-1 classification", "top1_cls"),
        ("pointing game", "pointing_game"),
        ("PxAP", "pxap"),
        ("MaxBoxAccV2 (any threshold)", "maxboxacc_v2"),
    ]
    lines = [
        f"| held-out test split ({calibrated['images']} images); {report['maps']} "
        f"| threshold {report['threshold']:.2f} (calibrated) | threshold 0.20 (paper) |",
        "|---|---|---|",
        *(f"| {name} | {calibrated[key]:.3f} | {paper[key]:.3f} |" for name, key in at_both),
        *(f"| {name} | {calibrated[key]:.3f} | |" for name, key in threshold_free),
        f"| mIoU of pseudo-masks at {calibrated['mask_threshold']:.2f} | {calibrated['miou']:.3f} | |",
    ]
    plain = report["metrics_plain_cam_calibrated"]
    lines.append("")
    lines.append(
        f"Plain CAM without flip averaging, threshold {plain['threshold']:.2f} calibrated the same way: "
        f"top-1 localization {plain['top1_loc']:.3f}, GT-known {plain['gt_known_loc']:.3f}."
    )
    times = report["timings_s"]
    lines.append("")
    lines.append("Wall time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", type=Path, help="an existing demo output folder")
    args = parser.parse_args()
    source = args.source
    if source is None:
        from cam_keras.demo import run_demo

        source = ROOT / "cam_keras_demo_readme"
        shutil.rmtree(source, ignore_errors=True)
        run_demo(source, verbose=0)
    report = json.loads((source / "report.json").read_text())
    (ROOT / "docs").mkdir(exist_ok=True)
    shutil.copyfile(source / "demo_grid.png", ROOT / "docs" / "demo_grid.png")
    print(f"copied {source / 'demo_grid.png'} -> docs/demo_grid.png\n")
    print(table(report))


if __name__ == "__main__":
    main()

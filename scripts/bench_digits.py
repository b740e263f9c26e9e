"""Localization on real handwriting: scikit-learn's bundled 8x8 digits (1,797 images written by
43 people; no download), upscaled onto cluttered canvases with boxes and masks, then the CPU
recipe end to end through the real command line:

    cam-keras train    DATA/train --config configs/small_cpu.toml        (the recipe as shipped)
    cam-keras evaluate DATA/test --calibrate DATA/calibration --masks ...  (threshold chosen on
                       the calibration split, never on the test images)

    pip install -e .[bench]
    python scripts/bench_digits.py                      # README's figures: all 1,797 digits
    python scripts/bench_digits.py --limit 1000         # 1,000 of them, faster
    python scripts/bench_digits.py --limit 120 --finetune-epochs 1   # a smoke run (the slow test)

Each canvas holds one digit, scaled to 3/8-5/8 of the canvas, at a random place on a dark
noisy background with three faint fragments of other digits (as in cluttered MNIST); the box
and mask are the digit's ink. Splits: 60% train, 15% calibration, 25% test, drawn with --seed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "small_cpu.toml"
SPLITS = (("train", 0.60), ("calibration", 0.15), ("test", 0.25))
INK = 0.3  # mask: upscaled ink above 30% of full intensity
CLUTTER = 3


def _upscale(ink: np.ndarray, size: int) -> np.ndarray:
    """A ``(h, w)`` array in [0, 1] resized bilinearly so its longer side is ``size``."""
    height, width = ink.shape
    scale = size / max(height, width)
    shape = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(np.float32(ink), mode="F").resize(shape, Image.Resampling.BILINEAR)).clip(0, 1)


def cluttered_digit(digits: np.ndarray, index: int, canvas: int, rng: np.random.Generator):
    """One canvas: ``(image (canvas, canvas, 3) uint8, mask (canvas, canvas) bool, box)``."""
    picture = np.clip(rng.normal(0.08, 0.04, (canvas, canvas)), 0, 1)
    scale = rng.integers(canvas * 3 // 8, canvas * 5 // 8 + 1)
    for _ in range(CLUTTER):
        other = digits[rng.integers(len(digits))]
        y, x = rng.integers(0, 5, 2)
        fragment = _upscale(other[y : y + 4, x : x + 4], scale // 2) * rng.uniform(0.3, 0.5)
        top, left = rng.integers(0, canvas - fragment.shape[0] + 1), rng.integers(0, canvas - fragment.shape[1] + 1)
        region = picture[top : top + fragment.shape[0], left : left + fragment.shape[1]]
        np.maximum(region, fragment, out=region)
    digit = _upscale(digits[index], scale)
    top, left = rng.integers(0, canvas - digit.shape[0] + 1), rng.integers(0, canvas - digit.shape[1] + 1)
    region = picture[top : top + digit.shape[0], left : left + digit.shape[1]]
    np.maximum(region, digit, out=region)
    mask = np.zeros((canvas, canvas), bool)
    mask[top : top + digit.shape[0], left : left + digit.shape[1]] = digit > INK
    rows, cols = np.nonzero(mask)
    box = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
    image = np.repeat(np.uint8(picture * 255 + 0.5)[..., None], 3, axis=2)
    return image, mask, box


def write_digits(root: Path, canvas: int = 64, limit: int | None = None, seed: int = 0) -> dict[str, int]:
    """Write ``root/<split>/<digit>/<n>.png``, ``root/<split>/boxes.csv`` and
    ``root/masks/<split>/...`` for the train, calibration and test splits; return their sizes."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    digits, labels = bunch.images / 16.0, bunch.target
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits))[:limit]
    counts, start = {}, 0
    for split, fraction in SPLITS:
        stop = len(order) if split == SPLITS[-1][0] else start + round(fraction * len(order))
        rows = ["path,xmin,ymin,xmax,ymax"]
        for index in order[start:stop]:
            image, mask, box = cluttered_digit(digits, index, canvas, rng)
            relative = f"{labels[index]}/{index:04d}.png"
            for folder, picture in ((root / split, image), (root / "masks" / split, np.uint8(mask) * 255)):
                (folder / relative).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(picture).save(folder / relative)
            rows.append(f"{relative},{box[0]},{box[1]},{box[2]},{box[3]}")
        (root / split / "boxes.csv").write_text("\n".join(rows) + "\n")
        counts[split], start = stop - start, stop
    return counts


def cam_keras(*args: str) -> None:
    """Run ``cam-keras ARGS`` as a user would; stop with its message if it fails."""
    entry = "import sys; from cam_keras.cli import main; sys.exit(main())"
    done = subprocess.run([sys.executable, "-c", entry, *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"cam-keras {args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")


def evaluate(model: Path, data: Path, out: Path, *extra: str) -> dict:
    cam_keras(
        "evaluate",
        "--model",
        str(model),
        str(data / "test"),
        "--masks",
        str(data / "masks" / "test"),
        "--out",
        str(out),
        "--samples",
        "20",
        *extra,
    )
    return json.loads((out / "report.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="keep everything here (default: a temporary folder)")
    parser.add_argument(
        "--canvas", type=int, default=64, help="canvas side in pixels (default 64, the config's input size)"
    )
    parser.add_argument("--limit", type=int, help="use only this many digits (smoke runs)")
    parser.add_argument("--finetune-epochs", type=int, help="override the config's epochs (smoke runs only)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        clock = time.perf_counter()
        counts = write_digits(out / "data", args.canvas, args.limit, args.seed)
        train = [
            "train",
            str(out / "data" / "train"),
            "--out",
            str(out / "run"),
            "--config",
            str(CONFIG),
            "--seed",
            str(args.seed),
        ]
        if args.finetune_epochs is not None:
            train += ["--finetune-epochs", str(args.finetune_epochs)]
        started = time.perf_counter()
        cam_keras(*train)
        train_s = time.perf_counter() - started
        model = out / "run" / "model.keras"
        calibrated = evaluate(model, out / "data", out / "evaluation", "--calibrate", str(out / "data" / "calibration"))
        paper = evaluate(model, out / "data", out / "evaluation_paper", "--threshold", "0.2")
        metrics, at_paper = calibrated["metrics"], paper["metrics"]
        results = {
            "images": counts,
            "top1_cls": metrics["top1_cls"],
            "maxboxacc_v2": metrics["maxboxacc_v2"],
            "pxap": metrics.get("pxap"),
            "threshold": calibrated["threshold"],
            "top1_loc": metrics["top1_loc"],
            "gt_known_loc": metrics["gt_known_loc"],
            "top1_loc_at_0.2": at_paper["top1_loc"],
            "gt_known_loc_at_0.2": at_paper["gt_known_loc"],
            "train_s": round(train_s, 1),
            "total_s": round(time.perf_counter() - clock, 1),
        }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(
            json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()

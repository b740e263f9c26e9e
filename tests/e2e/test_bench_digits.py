"""The real-handwriting benchmark (scripts/bench_digits.py) end to end, at smoke size."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cam_keras.data.images import load_image

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_digits.py"


@pytest.mark.slow
def test_digits_benchmark_builds_boxed_handwriting_and_scores_it(tmp_path):
    pytest.importorskip("sklearn")
    out, results = tmp_path / "digits", tmp_path / "digits.json"
    command = [
        sys.executable,
        str(SCRIPT),
        "--out",
        str(out),
        "--limit",
        "120",
        "--finetune-epochs",
        "1",
        "--json",
        str(results),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(results.read_text())["results"]
    assert found["images"] == {"train": 72, "calibration": 18, "test": 30}
    assert found["threshold"]["source"].startswith("calibrated on")
    assert all(0.0 <= found[key] <= 1.0 for key in ("top1_cls", "maxboxacc_v2", "top1_loc", "gt_known_loc"))
    with open(out / "data" / "test" / "boxes.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 30
    for row in rows:  # each box is the bounding box of the digit's mask, and the ink is there
        mask = load_image(out / "data" / "masks" / "test" / row["path"])[..., 0] > 127
        ys, xs = np.nonzero(mask)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == tuple(
            int(row[k]) for k in ("xmin", "ymin", "xmax", "ymax")
        )
        image = load_image(out / "data" / "test" / row["path"])[..., 0]
        assert image[mask].mean() > image[~mask].mean() + 60
    assert (out / "evaluation" / "best_worst.png").is_file()

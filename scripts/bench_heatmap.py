"""`cam-keras heatmap` end to end against model inference alone, and memory while streaming.

Writes N synthetic JPEGs, then measures (1) inference alone on the same decoded, resized
images held in memory, and (2) the full streaming job (decode, CAM, PNG overlays + npz),
sampling resident memory during the job: flat streaming means the peak over the first 10%
of the job is close to the peak over all of it.

With ``--scale-out`` it runs the job the way a cluster would instead: ``cam-keras heatmap``
processes for shard 1/2 (killed with SIGKILL halfway), shard 1/2 again with ``--resume``,
then shard 2/2, then ``cam-keras merge``; for each process it prints images/s and resident
memory over the first and the last tenth of its images, read from outside the process
(rows appended to the shard's predictions table, ``/proc/PID/status``).

    python scripts/bench_heatmap.py --images 500
    python scripts/bench_heatmap.py --images 5000 --backbone small_cnn --size 64
    python scripts/bench_heatmap.py --scale-out --images 20000 --image-size 48 --size 48
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from _bench import machine, print_table, write_json
from PIL import Image

import cam_keras
from cam_keras.data.images import load_image
from cam_keras.data.resize import fit_image
from cam_keras.jobs import HeatmapOptions, write_heatmaps
from cam_keras.jobs.shards import TABLE, Shard, job_file


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
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
            folder / f"{index:05d}.jpg", quality=90
        )


CLI = [sys.executable, "-c", "import sys; from cam_keras.cli import main; sys.exit(main(sys.argv[1:]))"]


class ShardRun:
    """One ``cam-keras heatmap --shard`` process watched from outside: the time at which its
    predictions table reached each row count, and its resident memory at those times."""

    def __init__(self, args: list[str], table: Path, kill_at: float | None = None) -> None:
        self.table, self.kill_at = table, kill_at
        self.process = subprocess.Popen([*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.times: list[float] = []  # times[n]: when the table first held n + 1 rows written by this process
        self.rss: list[float] = []  # rss[n]: VmRSS (MB) at that moment
        self.offset = 0
        self.base_rows: int | None = None

    def _rows(self) -> int:
        try:
            with open(self.table, "rb") as handle:
                return max(0, handle.read().count(b"\n") - 1)
        except FileNotFoundError:
            return 0

    def _vm_rss(self) -> float:
        try:
            with open(f"/proc/{self.process.pid}/status") as handle:
                return next(int(line.split()[1]) / 1024 for line in handle if line.startswith("VmRSS"))
        except (OSError, StopIteration):
            return float("nan")

    def watch(self, planned: int) -> int:
        """Poll until the process ends (SIGKILL it at ``kill_at`` of ``planned``); return its exit code."""
        while self.process.poll() is None:
            rows = self._rows()
            if self.base_rows is None and self.table.exists():
                self.base_rows = rows  # rows kept from an earlier run (resume)
            done = rows - (self.base_rows or 0)
            now, rss = time.perf_counter(), self._vm_rss()
            while len(self.times) < done:
                self.times.append(now)
                self.rss.append(rss)
            if self.kill_at is not None and done >= self.kill_at * planned:
                self.process.send_signal(signal.SIGKILL)
            time.sleep(0.05)
        _, errors = self.process.communicate()
        if not self.times:
            raise RuntimeError(f"the job wrote no rows (exit {self.process.returncode}):\n{errors[-3000:]}")
        return self.process.returncode

    def tenths(self) -> dict:
        """Images/s and peak RSS over the first and the last tenth of the rows it wrote."""
        count = len(self.times)
        tenth = max(2, count // 10)
        first, last = slice(0, tenth), slice(count - tenth, count)

        def rate(part: slice) -> float:
            return (tenth - 1) / max(1e-9, self.times[part][-1] - self.times[part][0])

        return {
            "images": count,
            "first_10pct_img_per_s": rate(first),
            "last_10pct_img_per_s": rate(last),
            "first_10pct_rss_mb": max(self.rss[first]),
            "last_10pct_rss_mb": max(self.rss[last]),
        }


TENTHS = ["first_10pct_img_per_s", "last_10pct_img_per_s", "first_10pct_rss_mb", "last_10pct_rss_mb"]


def scale_out(args: argparse.Namespace) -> None:
    """Shard 1/2 killed halfway and resumed, then shard 2/2, then merge; figures per process."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        write_images(tmp / "images", args.images, args.image_size)
        print(f"generated {args.images} JPEGs of {args.image_size}px in {time.perf_counter() - start:.0f} s")
        model = cam_keras.build_model(args.backbone, num_classes=10, input_size=args.size)
        model_file = cam_keras.save_model(model, tmp / "model.keras")
        out = tmp / "out"
        common = ["heatmap", "--model", str(model_file), str(tmp / "images"), "--out", str(out), "--quiet"]
        common += ["--batch-size", str(args.batch_size)]
        plan = [  # label, shard, extra flags, fraction of the shard after which it is killed
            ("shard 1/2, killed at 50%", Shard(1, 2), [], 0.5),
            ("shard 1/2 --resume", Shard(1, 2), ["--resume"], None),
            ("shard 2/2", Shard(2, 2), [], None),
        ]
        rows = []
        start = time.perf_counter()
        for label, shard, extra, kill_at in plan:
            flags = [*common, "--shard", f"{shard.index}/{shard.count}", *extra]
            run = ShardRun(flags, out / job_file(TABLE, shard, ".csv"), kill_at)
            code = run.watch(len(shard.take(range(args.images))))
            rows.append({"run": label, "exit": code, **run.tenths()})
        merge = subprocess.run([*CLI, "merge", str(out)], capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        with open(out / "predictions.csv", newline="") as handle:
            merged = sum(1 for _ in csv.DictReader(handle))
    print(f"{args.images} images {args.image_size}px -> {args.backbone} at {args.size}px, batch {args.batch_size}")
    print(machine())
    print_table(rows, ["run", "exit", "images", *TENTHS])
    print(f"merge: exit {merge.returncode}, {merged} rows in predictions.csv (expected {args.images})")
    print(f"wall {wall:.0f} s for the three runs and the merge")
    results = {"runs": rows, "merged_rows": merged, "wall_s": wall}
    write_json(args.json, {"machine": machine(), "args": vars(args), **results})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="small_cnn")
    parser.add_argument("--size", type=int, default=64, help="model input size")
    parser.add_argument("--image-size", type=int, default=96, help="side of the generated JPEGs")
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--scale-out", action="store_true", help="sharded, killed and resumed job in subprocesses")
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.scale_out:
        scale_out(args)
        return

    model = cam_keras.build_model(args.backbone, num_classes=10, input_size=args.size)
    explainer = cam_keras.CAM(model)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        write_images(folder, args.images, args.image_size)
        decoded = np.stack([fit_image(load_image(p), (args.size, args.size)) for p in sorted(folder.iterdir())]).astype(
            np.float32
        )
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
        write_heatmaps(
            explainer, [folder], Path(tmp) / "out", HeatmapOptions(batch_size=args.batch_size), progress=False
        )
        job = time.perf_counter() - start
        sampler.stopped.set()
        sampler.join()
        rows = [
            {"stage": "inference alone (decoded in memory)", "images_per_s": args.images / inference, "ratio": 1.0},
            {"stage": "heatmap job end to end", "images_per_s": args.images / job, "ratio": inference / job},
        ]
    print(
        f"{args.images} images {args.image_size}px -> {args.backbone} at {args.size}px, "
        f"batch {args.batch_size}, {machine()}"
    )
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

"""Fault injection at every commit boundary of a run: a kill anywhere, then ``--resume``, ends
with the weights, history, snapshots and best model of an uninterrupted run (deterministic ops).

Kills are simulated in-process (a hook in :data:`cam_keras.train.faults.HOOKS` raises a
BaseException at the named point); one test kills a real subprocess with ``os._exit``.
"""

import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from fault_hooks import SimulatedKill, StopAt

import cam_keras
from cam_keras.train import TrainConfig, faults, fine_tune

pytestmark = pytest.mark.slow

CONFIG = TrainConfig(
    input_size=32,
    width=8,
    batch_size=8,
    snapshot_images=2,
    log_every=2,
    head_epochs=1,
    finetune_epochs=2,
    deterministic=True,
    augment="standard",
)

# One run killed again and again, each time at the next boundary of its first visit after the
# resume: every point of faults.POINTS, at the head phase's only epoch (a phase boundary), in
# mid fine-tune and at the end.
CHAIN = [
    "batch_end",
    "best_saved",
    "snapshot_written",
    "epoch_end",
    "checkpoint_written",  # head epoch 0
    "state_committed",  # head epoch 0 committed: the resume starts the fine-tune phase from it
    "history_written",  # fine-tune epoch 1
    "snapshot_written",
    "epoch_end",
    "checkpoint_written",
    "phase_end",  # fine-tune epoch 2
    "model_saved",
]


@pytest.fixture
def stop_at(monkeypatch):
    """Install one fault hook for the next ``fine_tune`` call: ``stop_at("epoch_end")``;
    ``stop_at(None)`` removes it."""

    def install(point, visit=1):
        monkeypatch.setattr(faults, "HOOKS", [StopAt(point, visit)] if point else [])

    return install


def run_files(run):
    """What must match: final weights, history.csv, snapshot pictures, best.keras's score."""
    model = cam_keras.load_model(run / "model.keras")
    snapshots = {p.name: p.read_bytes() for p in sorted((run / "snapshots").glob("*.png"))}
    with zipfile.ZipFile(run / "best.keras") as archive:
        best = archive.read("cam_keras_training.json")
    return model.get_weights(), (run / "history.csv").read_text(), snapshots, best


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, shapes_dir):
    run = tmp_path_factory.mktemp("reference") / "run"
    fine_tune(shapes_dir, run, CONFIG, verbose=0)
    return run_files(run)


def assert_same_run(run, reference):
    weights, history, snapshots, best = run_files(run)
    for got, want in zip(weights, reference[0]):
        np.testing.assert_array_equal(got, want)
    assert history == reference[1]
    assert snapshots.keys() == reference[2].keys()
    assert best == reference[3]
    assert not [p for p in run.rglob(".cam-keras-tmp-*")]
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["epoch_0003.weights.h5"]


def test_a_kill_at_every_boundary_resumes_to_the_uninterrupted_result(tmp_path, shapes_dir, uninterrupted, stop_at):
    assert set(CHAIN) == set(faults.POINTS)
    run = tmp_path / "run"
    for index, point in enumerate(CHAIN):
        stop_at(point)
        with pytest.raises(SimulatedKill, match=point):  # each kill comes after the previous one
            fine_tune(shapes_dir, run, CONFIG if index == 0 else None, resume=index > 0, verbose=0)
    stop_at(None)
    fine_tune(shapes_dir, run, resume=True, verbose=0)
    assert_same_run(run, uninterrupted)


KILLED = textwrap.dedent(
    """
    import sys
    from cam_keras.train import TrainConfig, faults, fine_tune
    from fault_hooks import StopAt
    if sys.argv[4:]:
        point, visit = sys.argv[4].split("@")
        faults.HOOKS.append(StopAt(point, int(visit), exit=True))
    config = TrainConfig(input_size=32, width=8, batch_size=8, snapshot_images=2, log_every=2, head_epochs=1,
                         finetune_epochs=2, deterministic=True, augment="standard")
    fine_tune(sys.argv[1], sys.argv[2], config, resume=sys.argv[3] == "resume", verbose=0)
    """
)


SUPPORT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "support")  # fault_hooks.py
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([SUPPORT, os.environ.get("PYTHONPATH", "")])}


def test_a_real_kill_during_a_commit_resumes_and_takes_over_the_lock(tmp_path, shapes_dir, uninterrupted):
    run = tmp_path / "run"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED, str(shapes_dir), str(run), "new", "checkpoint_written@2"], env=ENV, timeout=300
    )
    assert killed.returncode == 137
    assert (run / ".cam-keras.lock").exists()  # the dead process's lock is stale, not released
    resumed = subprocess.run(
        [sys.executable, "-c", KILLED, str(shapes_dir), str(run), "resume"],
        env=ENV,
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_run(run, uninterrupted)
    assert not (run / ".cam-keras.lock").exists()


def test_early_stopping_and_lr_reduction_resume_with_their_counters_and_cached_data(tmp_path, dataset_copy, stop_at):
    import dataclasses
    import json

    picture = sorted((dataset_copy / "circle").iterdir())[0].read_bytes()
    for path in dataset_copy.rglob("*.png"):  # nothing to learn: validation loss soon stops improving
        path.write_bytes(picture)
    shapes_dir = dataset_copy
    config = dataclasses.replace(
        CONFIG,
        head_epochs=0,
        finetune_epochs=6,
        early_stopping=1,
        reduce_lr=1,
        finetune_lr=0.01,
        snapshot_images=0,
        cache=True,
    )
    fine_tune(shapes_dir, tmp_path / "reference", config, verbose=0)
    run = tmp_path / "run"
    for index, point in enumerate(["state_committed", "state_committed", "checkpoint_written"]):
        stop_at(point)
        try:
            fine_tune(shapes_dir, run, config if index == 0 else None, resume=index > 0, verbose=0)
        except SimulatedKill:
            continue
    stop_at(None)
    fine_tune(shapes_dir, run, resume=True, verbose=0)
    reference = json.loads((tmp_path / "reference" / "state.json").read_text())
    resumed = json.loads((run / "state.json").read_text())
    assert reference["stopped"] == ["finetune"]  # the setting stops early, so the counters matter
    assert resumed["history"] == reference["history"] and resumed["stopped"] == reference["stopped"]
    for got, want in zip(
        cam_keras.load_model(run / "model.keras").get_weights(),
        cam_keras.load_model(tmp_path / "reference" / "model.keras").get_weights(),
    ):
        np.testing.assert_array_equal(got, want)

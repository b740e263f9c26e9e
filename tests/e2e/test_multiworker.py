"""Multi-worker training for real: two worker processes on 127.0.0.1, each with its CPU as its
one device, joined by TF_CONFIG into one MultiWorkerMirroredStrategy cluster."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import cam_keras
from cam_keras.errors import RunFolderError, UsageError
from cam_keras.train import strategy

# No augmentation and plain SGD keep the comparison with one process exact up to float rounding.
TINY = "\n".join(
    [
        "input_size = 32",
        "width = 8",
        "batch_size = 8",
        "log_every = 2",
        'augment = "none"',
        'optimizer = "sgd"',
        "finetune_lr = 0.01",
        "",
    ]
)
STEPS_PER_EPOCH = 5  # 38 training images (80% of 48) in global batches of 8

WORKER = textwrap.dedent(
    """
    import json, os, signal, sys, tempfile
    import keras, numpy as np
    from cam_keras.train import fine_tune, load_config

    data, run, config, out, kill_after_epoch = sys.argv[1:6]

    class Watch(keras.callbacks.Callback):
        '''Notes the cam-keras folders in this process's temporary directory; SIGKILLs itself
        once epoch ``kill_after_epoch`` (0-based; -1 never) is over, at the start of the next
        (the chief commits an epoch after every worker's epoch-end callbacks ran).'''
        folders = []

        def on_epoch_end(self, epoch, logs=None):
            root = tempfile.gettempdir()
            mine = [name for name in os.listdir(root) if name.startswith("cam-keras")]
            self.folders += [sorted(os.listdir(os.path.join(root, name))) for name in mine]

        def on_epoch_begin(self, epoch, logs=None):
            if int(kill_after_epoch) >= 0 and epoch == int(kill_after_epoch) + 1:
                os.kill(os.getpid(), signal.SIGKILL)

    result = fine_tune(data, run, load_config(config), callbacks=[Watch()], verbose=2)
    np.savez(out + ".npz", *result.model.get_weights())
    report = {"iterations": int(result.model.optimizer.iterations.numpy()), "loss": result.history["loss"],
              "run_dir": str(result.run_dir), "model": str(result.files["model"]), "temp_folders": Watch.folders}
    with open(out + ".json", "w") as handle:
        json.dump(report, handle)
    """
)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for one in sockets:
        one.bind(("127.0.0.1", 0))
    ports = [one.getsockname()[1] for one in sockets]
    for one in sockets:
        one.close()
    return ports


def start_cluster(tmp_path: Path, commands: list[list[str]], name: str) -> list[subprocess.Popen]:
    """One process per command, each with its own TF_CONFIG (worker i of len(commands)), its
    own empty TMPDIR and its CPU as its only device; output in tmp_path/name-i.log."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(len(commands))]}
    processes = []
    for index, command in enumerate(commands):
        temp = tmp_path / f"{name}-tmp{index}"
        temp.mkdir()
        env = dict(
            os.environ,
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            CUDA_VISIBLE_DEVICES="-1",
            TMPDIR=str(temp),
        )
        log = open(tmp_path / f"{name}-{index}.log", "w")
        processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True))
    return processes


def wait_all(processes: list[subprocess.Popen], timeout: float = 240) -> list[int]:
    deadline = time.monotonic() + timeout
    try:
        return [process.wait(timeout=max(1.0, deadline - time.monotonic())) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def log_tail(tmp_path: Path, name: str) -> str:
    return "\n".join(f"--- {path.name}\n{path.read_text()[-3000:]}" for path in sorted(tmp_path.glob(f"{name}-*.log")))


def history_epochs(run: Path) -> list[str]:
    with open(run / "history.csv", newline="") as handle:
        return [row["epoch"] for row in csv.DictReader(handle)]


def worker_command(data: Path, run: Path, config: Path, out: Path, kill_after_epoch: int = -1) -> list[str]:
    return [sys.executable, "-c", WORKER, str(data), str(run), str(config), str(out), str(kill_after_epoch)]


@pytest.fixture(scope="module")
def two_worker_run(tmp_path_factory, shapes_dir):
    """Two epochs of the small CNN trained by a two-worker cluster through ``fine_tune``."""
    tmp_path = tmp_path_factory.mktemp("cluster")
    config = tmp_path / "tiny.toml"
    config.write_text(TINY + "finetune_epochs = 2\nsnapshot_images = 2\n")
    run = tmp_path / "run"
    commands = [worker_command(shapes_dir, run, config, tmp_path / f"worker{i}") for i in range(2)]
    codes = wait_all(start_cluster(tmp_path, commands, "train"))
    assert codes == [0, 0], log_tail(tmp_path, "train")
    reports = [json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(2)]
    weights = [list(np.load(tmp_path / f"worker{i}.npz").values()) for i in range(2)]
    return tmp_path, run, reports, weights


@pytest.mark.slow  # a two-process TensorFlow cluster that trains (two_worker_run)
def test_two_workers_train_one_run_folder_written_by_the_chief(two_worker_run):
    tmp_path, run, reports, weights = two_worker_run
    assert sorted(p.name for p in run.iterdir()) == [
        "best.keras",
        "checkpoints",
        "config.toml",
        "dataset.json",
        "history.csv",
        "logs",
        "model.keras",
        "snapshots",
        "state.json",
    ]
    assert history_epochs(run) == ["1", "2"]  # one writer: a second one would append its own rows
    assert len(list((run / "logs" / "train").glob("events.out.tfevents.*"))) == 1
    # The chief wrote nothing else; the other worker wrote its run into a temporary folder, then removed it.
    assert reports[0]["temp_folders"] == []
    assert any({"config.toml", "history.csv", "checkpoints"} <= set(names) for names in reports[1]["temp_folders"])
    assert not list((tmp_path / "train-tmp1").glob("cam-keras*"))
    assert reports[0]["run_dir"] == reports[1]["run_dir"] == str(run)
    assert reports[1]["model"] == str(run / "model.keras")


@pytest.mark.slow  # a two-process TensorFlow cluster that trains (two_worker_run)
def test_saved_model_holds_the_chief_replica_and_trained_weights_are_synchronized(two_worker_run):
    _, run, reports, (chief, worker) = two_worker_run
    saved = cam_keras.load_model(run / "model.keras")
    assert len(saved.get_weights()) == len(chief)
    for on_disk, in_chief in zip(saved.get_weights(), chief):
        np.testing.assert_array_equal(on_disk, in_chief)
    for variable, in_chief, in_worker in zip(saved.weights, chief, worker):
        if variable.trainable:  # every step applies the same all-reduced gradients on every worker
            np.testing.assert_array_equal(in_chief, in_worker)
        else:  # Keras 3 keeps BatchNormalization statistics per replica, from that replica's images
            assert variable.path.endswith(("moving_mean", "moving_variance"))
    # batch_size is the global batch: 5 steps of 8 images per epoch, not 3 steps of 8 per worker.
    assert reports[0]["iterations"] == reports[1]["iterations"] == 2 * STEPS_PER_EPOCH
    assert reports[0]["loss"] == reports[1]["loss"]


MIRRORED = textwrap.dedent(
    """
    import sys, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from cam_keras.train import fine_tune, load_config
    result = fine_tune(sys.argv[1], sys.argv[2], load_config(sys.argv[3], {"strategy": "mirrored"}), verbose=0)
    np.savez(sys.argv[4], *result.model.get_weights())
    """
)


@pytest.mark.slow
def test_workers_share_each_global_batch_like_replicas_of_one_process(two_worker_run, shapes_dir):
    """The oracle: the same training with two replicas in one process (MirroredStrategy over
    two logical CPUs), where one input pipeline feeds both replicas. The cluster's weights
    match only if every global batch was split between the workers exactly as there: each
    worker read its own half of the same shuffled batch (no image twice, none left out)."""
    tmp_path, _, _, (chief, _) = two_worker_run
    out = tmp_path / "mirrored.npz"
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    completed = subprocess.run(
        [sys.executable, "-c", MIRRORED, *map(str, (shapes_dir, tmp_path / "mirrored", tmp_path / "tiny.toml", out))],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    oracle = list(np.load(out).values())
    for in_cluster, in_oracle in zip(chief, oracle):
        np.testing.assert_allclose(in_cluster, in_oracle, rtol=1e-4, atol=1e-5)


CLI = "import sys; from cam_keras.cli import main; sys.exit(main(sys.argv[1:]))"


def wait_for(condition, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_killed_worker_resumes_with_its_cluster_from_the_last_checkpoint(tmp_path, shapes_dir):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY + "finetune_epochs = 4\nsnapshot_images = 0\n")
    run = tmp_path / "run"
    commands = [worker_command(shapes_dir, run, config, tmp_path / f"worker{i}", 1 if i else -1) for i in range(2)]
    chief, worker = start_cluster(tmp_path, commands, "first")
    assert worker.wait(timeout=240) == -signal.SIGKILL, log_tail(tmp_path, "first")
    state = run / "state.json"
    wait_for(lambda: state.exists() and json.loads(state.read_text())["epochs"].get("finetune") == 2)
    assert history_epochs(run) == ["1", "2"]
    assert wait_all([chief]) == [1]  # TensorFlow notices the lost peer and aborts training
    assert "WorkerLostError: a worker of the training cluster stopped" in (tmp_path / "first-0.log").read_text()
    assert not (run / "model.keras").exists()

    resume = [sys.executable, "-c", CLI, "train", str(shapes_dir), "--out", str(run), "--resume"]
    codes = wait_all(start_cluster(tmp_path, [resume, resume], "resumed"))
    assert codes == [0, 0], log_tail(tmp_path, "resumed")
    chief_log = (tmp_path / "resumed-0.log").read_text()
    assert "Epoch 3/4" in chief_log and "Epoch 1/4" not in chief_log
    assert history_epochs(run) == ["1", "2", "3", "4"]
    # cam_keras.load_model loads for inference (compile=False); Keras' own load restores the optimizer
    trained = keras.saving.load_model(run / "model.keras")
    assert int(trained.optimizer.iterations.numpy()) == 4 * STEPS_PER_EPOCH


def tf_config(index: int, task_type: str = "worker", chief: bool = False) -> str:
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"], **({"chief": ["127.0.0.1:3"]} if chief else {})}
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


@pytest.mark.parametrize(
    "config, chief",
    [
        (tf_config(0), True),
        (tf_config(1), False),
        (tf_config(0, chief=True), False),
        (tf_config(0, "chief", chief=True), True),
    ],
)
def test_the_chief_is_the_chief_task_or_else_worker_0(monkeypatch, config, chief):
    monkeypatch.setenv("TF_CONFIG", config)
    assert strategy.cluster_task().is_chief is chief


@pytest.mark.parametrize("config", ["{not json", '{"cluster": {"worker": ["a:1"]}}', tf_config(5), tf_config(0, "ps")])
def test_a_broken_tf_config_is_named_with_an_example(monkeypatch, config):
    monkeypatch.setenv("TF_CONFIG", config)
    with pytest.raises(UsageError, match="TF_CONFIG.*expected e.g."):
        strategy.cluster_task()


@pytest.mark.parametrize("name", ["default", "mirrored"])
def test_a_single_process_strategy_under_a_cluster_tf_config_is_refused(monkeypatch, name):
    monkeypatch.setenv("TF_CONFIG", tf_config(0))
    with pytest.raises(UsageError, match=f"2 workers, but strategy '{name}'.*use strategy='auto'"):
        strategy.make_strategy(name)


def test_other_workers_write_a_temporary_copy_of_the_chiefs_resumable_state(monkeypatch, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.toml").write_text("seed = 1\n")
    (run / "checkpoints" / "epoch_0002.weights.h5").write_text("weights")
    (run / "model.keras").write_text("not copied")
    state = [run / "config.toml", run / "state.json", run / "checkpoints"]
    monkeypatch.setenv("TF_CONFIG", tf_config(0))
    with strategy.worker_run_dir(run, True, state) as folder:
        assert folder == run
    monkeypatch.setenv("TF_CONFIG", tf_config(1))
    with strategy.worker_run_dir(run, True, state) as folder:
        assert folder != run and not folder.is_relative_to(run)
        assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == [
            "checkpoints",
            "checkpoints/epoch_0002.weights.h5",
            "config.toml",
        ]
    assert not folder.exists()
    with strategy.worker_run_dir(run, False, state) as folder:
        assert not any(folder.iterdir())
    with pytest.raises(RunFolderError, match="worker 1 of 2 finds no run to resume.*filesystem that every worker sees"):
        with strategy.worker_run_dir(tmp_path / "elsewhere", True, [tmp_path / "elsewhere" / "config.toml"]):
            pass


def test_the_global_batch_must_give_every_replica_an_image():
    two = types.SimpleNamespace(num_replicas_in_sync=2)
    strategy.check_global_batch(two, 8)
    with pytest.raises(UsageError, match="batch_size 1 is the global batch.*2 replicas"):
        strategy.check_global_batch(two, 1)


def test_a_lost_worker_is_one_clear_error_naming_the_fix():
    model = cam_keras.build_model("small_cnn", class_names=["a", "b"], input_size=32, base_channels=8)
    message = "{{function_node Collective}} Collective ops is aborted: tasks are unhealthy:\n/job:worker/task:1\nmore"
    expected = r"stopped \(Collective ops is aborted: tasks are unhealthy: /job:worker/task:1\).*"
    expected += "restart every worker with resume=True"
    with pytest.raises(strategy.WorkerLostError, match=expected):
        with strategy.fitting(model, tf.distribute.get_strategy()):
            raise tf.errors.UnavailableError(None, None, message)


def test_pipelines_are_sharded_by_element():
    dataset = strategy.shard_by_data(tf.data.Dataset.range(4))
    assert dataset.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA


SLURM_TF_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "slurm_tf_config.sh"


@pytest.mark.parametrize("node, index", [("node-a", 0), ("node-c", 2)])
def test_the_slurm_recipe_sets_tf_config_for_its_node(tmp_path, monkeypatch, node, index):
    scontrol = tmp_path / "scontrol"  # stands in for Slurm's: expands the node list
    scontrol.write_text('#!/bin/sh\n[ "$*" = "show hostnames node-[a-c]" ] && printf "node-a\\nnode-b\\nnode-c\\n"\n')
    scontrol.chmod(0o755)
    env = dict(
        os.environ,
        PATH=f"{tmp_path}:{os.environ['PATH']}",
        SLURM_STEP_NODELIST="node-[a-c]",
        SLURMD_NODENAME=node,
        SLURM_STEP_NUM_TASKS="3",
        SLURM_STEP_NUM_NODES="3",
        CAM_KERAS_PORT="4567",
    )
    printed = subprocess.run(
        ["bash", str(SLURM_TF_CONFIG), "sh", "-c", 'echo "$TF_CONFIG"'],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(printed)["cluster"] == {"worker": ["node-a:4567", "node-b:4567", "node-c:4567"]}
    monkeypatch.setenv("TF_CONFIG", printed)
    task = strategy.cluster_task()
    assert (task.index, task.num_workers, task.is_chief) == (index, 3, index == 0)
    refused = subprocess.run(
        ["bash", str(SLURM_TF_CONFIG), "true"], env={**env, "SLURM_STEP_NUM_TASKS": "6"}, capture_output=True, text=True
    )
    assert refused.returncode == 2 and "one task per node" in refused.stderr

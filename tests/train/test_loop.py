"""Fine-tuning on a generated dataset with the real builder, pipeline and run folder."""

import csv
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import cam_keras
from cam_keras.cli import main
from cam_keras.errors import RunFolderError
from cam_keras.train import TrainConfig, fine_tune, load_config
from cam_keras.train.loop import set_trainable
from cam_keras.train.strategy import precision_policy

TINY = dict(input_size=32, width=8, batch_size=8, snapshot_images=4, log_every=2)


class Interrupt(Exception):
    """Stands in for a kill: raised by a callback after some steps."""


class InterruptAfter(keras.callbacks.Callback):
    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.steps:
            raise Interrupt(f"killed after {self.steps} steps")


def history_rows(run_dir):
    with open(run_dir / "history.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow  # 5 s of the quick run on 2 cores
def test_training_reduces_loss_and_writes_the_run_folder(tmp_path, colors_dir):
    run = tmp_path / "run"
    result = fine_tune(colors_dir, run, TrainConfig(finetune_epochs=4, finetune_lr=3e-3, **TINY), verbose=0)
    losses = result.history["loss"]
    assert len(losses) == 4 and losses[-1] < 0.8 * losses[0]
    model = cam_keras.load_model(run / "model.keras")
    assert cam_keras.model_info(model).class_names == ("blue", "red")
    assert (run / "best.keras").is_file()
    assert sorted(p.name for p in (run / "snapshots").iterdir()) == [f"epoch_00{i}.png" for i in range(1, 5)]
    assert any("events" in p.name for p in (run / "logs").rglob("*"))
    assert load_config(run / "config.toml").finetune_epochs == 4


@pytest.mark.slow  # 6 s of the quick run on 2 cores
def test_deterministic_runs_train_identical_weights_and_restore_the_setting(tmp_path, shapes_dir):
    from tensorflow.python.framework import config as tf_config

    config = TrainConfig(finetune_epochs=2, augment="standard", deterministic=True, **TINY)
    first, second = (fine_tune(shapes_dir, tmp_path / name, config, verbose=0).model for name in ("a", "b"))
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not tf_config.is_op_determinism_enabled()


def test_two_phases_freeze_then_unfreeze_with_batchnorm_in_inference(tmp_path, shapes_dir):
    model = cam_keras.build_model("small_cnn", class_names=["a", "b"], input_size=32, base_channels=8)
    set_trainable(model, train_backbone=False, unfreeze="all", freeze_batchnorm=True)
    assert [layer.name for layer in model.trainable_weights and model.layers if layer.trainable_weights] == [
        "cam_logits"
    ]
    set_trainable(model, train_backbone=True, unfreeze="all", freeze_batchnorm=True)
    batchnorms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert batchnorms and not any(layer.trainable for layer in batchnorms)
    assert model.get_layer("conv1").trainable
    set_trainable(model, train_backbone=True, unfreeze=2, freeze_batchnorm=True)
    assert not model.get_layer("conv1").trainable and model.get_layer("conv7").trainable
    moving_mean = batchnorms[0].moving_mean.numpy().copy()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)), np.array([0, 1] * 4), verbose=0)
    np.testing.assert_array_equal(batchnorms[0].moving_mean.numpy(), moving_mean)


@pytest.mark.slow  # 9 s of the quick run on 2 cores
def test_killed_run_resumes_to_the_same_total_steps(tmp_path, shapes_dir):
    run = tmp_path / "run"
    config = TrainConfig(head_epochs=1, finetune_epochs=2, **TINY)
    steps_per_epoch = 5  # 38 training images (80% of 48) in batches of 8
    with pytest.raises(Interrupt):
        fine_tune(shapes_dir, run, config, callbacks=[InterruptAfter(steps_per_epoch + 7)], verbose=0)
    assert json.loads((run / "state.json").read_text())["epochs"] == {"head": 1, "finetune": 1}
    assert not (run / "model.keras").exists()
    result = fine_tune(shapes_dir, run, resume=True, verbose=0)
    assert int(result.model.optimizer.iterations.numpy()) == 2 * steps_per_epoch
    assert [row["epoch"] for row in history_rows(run)] == ["1", "2", "3"]
    out = tmp_path / "maps"
    assert (
        main(["heatmap", "--model", str(run / "model.keras"), str(shapes_dir / "circle"), "--out", str(out), "--quiet"])
        == 0
    )
    assert len(list(out.glob("*.png"))) == 24


def test_new_run_refuses_a_trained_run_folder_and_a_folder_of_other_files(tmp_path, shapes_dir):
    run = tmp_path / "run"
    (run / "state.json").parent.mkdir()
    (run / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds no cam-keras run"):
        fine_tune(shapes_dir, run, TrainConfig(**TINY), verbose=0)
    assert [p.name for p in run.iterdir()] == ["notes.txt"]
    with pytest.raises(RunFolderError, match="nothing to resume"):
        fine_tune(shapes_dir, tmp_path / "empty", resume=True, verbose=0)


def test_mixed_precision_keeps_logits_and_maps_float32():
    with precision_policy(True):
        model = cam_keras.build_model("small_cnn", class_names=["a", "b"], input_size=32, base_channels=8)
    assert keras.config.dtype_policy().name == "float32"
    assert model.get_layer("conv1").compute_dtype == "float16"
    assert model.output.dtype == "float32"
    explanation = cam_keras.CAM(model)(np.zeros((1, 32, 32, 3), np.uint8))
    assert explanation.raw_maps.dtype == np.float32


def test_config_file_then_flags(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('backbone = "resnet50"\ninput_size = 224\nfinetune_lr = 0.01\n')
    config = load_config(path, {"input_size": 96, "finetune_lr": None})
    assert (config.backbone, config.input_size, config.finetune_lr) == ("resnet50", 96, 0.01)
    path.write_text("learning_rate = 1\n")
    with pytest.raises(ValueError, match="unknown setting.*learning_rate"):
        load_config(path)


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(os.path.dirname(__file__), "..", "..", "configs"))))
def test_shipped_configs_are_valid(name):
    config = load_config(os.path.join(os.path.dirname(__file__), "..", "..", "configs", name))
    assert config.backbone in cam_keras.available_backbones()


@pytest.mark.slow  # 4 s of the quick run on 2 cores
def test_train_cli_prints_where_things_went(tmp_path, shapes_dir, capsys):
    run = tmp_path / "run"
    args = [
        "train",
        str(shapes_dir),
        "--out",
        str(run),
        "--input-size",
        "32",
        "--finetune-epochs",
        "1",
        "--batch-size",
        "8",
        "--snapshot-images",
        "2",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "final validation accuracy" in out and str(run / "model.keras") in out


MIRRORED = textwrap.dedent(
    """
    import sys, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from cam_keras.train import TrainConfig, fine_tune, make_strategy
    assert make_strategy("mirrored").num_replicas_in_sync == 2
    result = fine_tune(sys.argv[1], sys.argv[2], TrainConfig(strategy="mirrored", finetune_epochs=2,
        input_size=32, width=8, batch_size=8, snapshot_images=2), verbose=0)
    print("REPLICAS_OK", len(result.history["loss"]), result.history["loss"][-1])
    """
)


@pytest.mark.slow  # trains in a fresh TensorFlow process
def test_mirrored_strategy_trains_on_two_logical_cpus(tmp_path, shapes_dir):
    completed = subprocess.run(
        [sys.executable, "-c", MIRRORED, str(shapes_dir), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    marker = [line for line in completed.stdout.splitlines() if line.startswith("REPLICAS_OK")]
    assert marker and marker[0].split()[1] == "2" and np.isfinite(float(marker[0].split()[2]))
    assert (tmp_path / "run" / "model.keras").is_file()


@pytest.mark.slow  # 13 s of the quick run on 2 cores: two training runs killed and resumed
@pytest.mark.parametrize("kill_after_steps", [3, 5 + 2])
def test_resume_from_kills_at_several_points(tmp_path, shapes_dir, kill_after_steps):
    run = tmp_path / "run"
    config = TrainConfig(finetune_epochs=2, **TINY)
    with pytest.raises(Interrupt):
        fine_tune(shapes_dir, run, config, callbacks=[InterruptAfter(kill_after_steps)], verbose=0)
    result = fine_tune(shapes_dir, run, resume=True, verbose=0)
    assert int(result.model.optimizer.iterations.numpy()) == 2 * 5
    assert [row["epoch"] for row in history_rows(run)] == ["1", "2"]


@pytest.mark.parametrize(
    "line, expected",
    [
        ('finetune_epochs = "3"', "finetune_epochs = '3': expected a whole number >= 0, without quotes"),
        ("finetune_epochs = 3.0", "finetune_epochs = 3.0: expected a whole number >= 0"),
        ("finetune_epochs = true", "finetune_epochs = True: expected a whole number >= 0"),
        ('finetune_lr = "0.1"', "finetune_lr = '0.1': expected a finite number > 0.0, without quotes"),
        ('drop_last_pool = "true"', "drop_last_pool = 'true': expected true or false, without quotes"),
        ('unfreeze = "5"', "unfreeze = '5': expected all or a positive whole number"),
    ],
)
def test_a_toml_value_of_another_type_is_refused_naming_file_and_key(tmp_path, line, expected):
    """Issue: TOML `finetune_epochs = "3"` was accepted as a number."""
    path = tmp_path / "c.toml"
    path.write_text(line + "\n")
    with pytest.raises(ValueError) as raised:
        load_config(path)
    assert str(raised.value) == f"{path}: {expected}"


def test_flags_still_take_numbers_as_text():
    config = load_config(None, {"finetune_epochs": "3", "drop_last_pool": "true", "unfreeze": "5"})
    assert (config.finetune_epochs, config.drop_last_pool, config.unfreeze) == (3, True, 5)


@pytest.mark.parametrize(
    "line, figure",
    [
        (
            "input_size = 100000",
            "input_size = 100000: one training step with input_size = 100000, batch_size = 32, "
            "width = 32 needs at least 115.2 TB",
        ),
        (
            "width = 100000000",
            "width = 100000000: one training step with input_size = 64, batch_size = 32, "
            "width = 100000000 needs at least 63.7 EB",
        ),
        (
            "batch_size = 100000000000",
            "batch_size = 100000000000: one training step with input_size = 64, "
            "batch_size = 100000000000, width = 32 needs at least 147.5 PB",
        ),
    ],
)
def test_a_config_larger_than_memory_is_refused_before_anything_is_built(tmp_path, shapes_dir, capsys, line, figure):
    """Issue: TOML `input_size = 100000` or `width = 100000000` grew past 3 GB and
    `batch_size = 100000000000` spun forever."""
    path = tmp_path / "c.toml"
    path.write_text(line + "\n")
    run = tmp_path / "run"
    assert main(["train", str(shapes_dir), "--config", str(path), "--out", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"cam-keras train: error: {path}: {figure}")
    assert "more than this machine's" in err[0] and not run.exists()


class StopAfterOneEpoch(keras.callbacks.Callback):
    """Ends training as EarlyStopping does: ``stop_training`` set at the end of an epoch."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


@pytest.mark.slow  # 3 s of the quick run on 2 cores
def test_a_phase_ended_early_is_reported_in_the_result_and_by_the_command(tmp_path, shapes_dir, capsys):
    """Issue 25: a phase that early stopping ended was not reported at all."""
    from cam_keras.cli.train import _print_phases

    config = TrainConfig(finetune_epochs=3, **{**TINY, "snapshot_images": 0, "input_size": 16, "width": 4})
    result = fine_tune(shapes_dir, tmp_path / "run", config, callbacks=[StopAfterOneEpoch()], verbose=0)
    assert (result.stopped_early, result.nothing_to_train) == ({"finetune": (1, 3)}, False)
    _print_phases(result, tmp_path / "run")
    assert capsys.readouterr().out == (
        "early stopping ended the finetune phase after 1 of 3 epochs (validation loss stopped improving); "
        "the weights of its best epoch were kept\n"
    )

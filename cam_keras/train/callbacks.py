"""Training callbacks: the best model saved atomically with class names, CAM snapshots of
fixed images rendered by the same CAM code used for inference, and the epoch commit that makes
a run resumable (see :mod:`cam_keras.train.rundir`)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cam_keras.atomic import atomic_path, write_bytes_atomic
from cam_keras.cam import CAM
from cam_keras.compat import PATIENCE_COUNTERS
from cam_keras.models.io import save_model
from cam_keras.models.learning import learning_check
from cam_keras.render import write_png
from cam_keras.train import faults
from cam_keras.train.rundir import RunDir, RunState


class SaveBestModel(keras.callbacks.Callback):
    """Save the model as ``.keras`` (with class names and its learning check, atomically)
    whenever validation accuracy beats ``best``.

    Args:
        path: target ``.keras`` file.
        best: the best validation accuracy already reached (when resuming), or ``None``.
        val_counts: validation images per class, for the learning check stored in the file.
    """

    monitor = "val_accuracy"

    def __init__(self, path: str | os.PathLike, best: float | None = None, val_counts: Sequence[int] = ()) -> None:
        super().__init__()
        self.path = Path(path)
        self.best = best
        self.val_counts = tuple(val_counts)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or (self.best is not None and value <= self.best):
            return
        self.best = float(value)
        save_model(self.model, self.path, training=learning_check(self.best, self.val_counts))
        faults.reached("best_saved")


class CamSnapshots(keras.callbacks.Callback):
    """Render the CAMs of fixed images during training, to PNG and TensorBoard.

    Args:
        images: ``(n, H, W, 3)`` images at the model input size, RGB in [0, 255].
        out_dir: folder for ``epoch_003.png`` / ``step_000100.png`` grids.
        every_epochs: snapshot after every this many epochs (0 disables).
        every_steps: snapshot every this many optimizer steps (``None`` disables).
        log_dir: TensorBoard folder for the same pictures (``None`` disables).
        true_classes: each image's true class name, said in its caption with whether the
            prediction is right (``()``: not said).
    """

    def __init__(
        self,
        images: np.ndarray,
        out_dir: str | os.PathLike,
        every_epochs: int = 1,
        every_steps: int | None = None,
        log_dir: str | os.PathLike | None = None,
        true_classes: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.images = np.asarray(images, dtype=np.float32)
        self.true_classes = tuple(true_classes)
        self.out_dir = Path(out_dir)
        self.every_epochs = every_epochs
        self.every_steps = every_steps
        self.writer = tf.summary.create_file_writer(str(log_dir)) if log_dir else None
        self._explainer: CAM | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._explainer = CAM(self.model)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.every_epochs and (epoch + 1) % self.every_epochs == 0:
            self.snapshot(f"epoch_{epoch + 1:03d}", epoch + 1)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        step = int(self.model.optimizer.iterations.numpy())
        if self.every_steps and step % self.every_steps == 0:
            self.snapshot(f"step_{step:06d}", step)

    def snapshot(self, name: str, step: int) -> Path:
        """Write one grid of overlays (top-1 class, captioned with the true class) and return its path."""
        explanation = self._explainer(self.images, top_k=1)
        predicted = [explanation.class_names[i] for i in explanation.class_indices[:, 0]]
        notes = [
            "right" if guess == truth else f"wrong: true {truth}" for guess, truth in zip(predicted, self.true_classes)
        ]
        picture = explanation.grid(columns=min(8, len(self.images)), tile_size=128, notes=notes)
        path = write_png(self.out_dir / f"{name}.png", picture)
        faults.reached("snapshot_written")
        if self.writer is not None:
            with self.writer.as_default():
                tf.summary.image("cam_snapshots", picture[None], step=step)
            self.writer.flush()
        return path


class EpochCommit(keras.callbacks.Callback):
    """Commit each finished epoch to the run's state: weights and optimizer first, then one
    atomic ``state.json`` naming them with the epoch's history row and the best score.

    Put it after every other callback: an epoch counts as done only once its snapshot and
    ``best.keras`` are written, so a kill before the commit retrains that epoch (rewriting
    them) and a kill after it loses nothing.

    Args:
        run: the run folder.
        state: the committed state, updated in place.
        phase: the phase being trained.
        first_epoch, last_epoch: the phase's global epoch range (``last_epoch`` excluded).
        best: the callback holding the best validation accuracy.
        val_counts: validation images per class (for the learning check).
        every_steps: also commit a mid-epoch checkpoint every this many steps (``None``: only
            at epoch ends).
        patience: early-stopping and learning-rate-reduction callbacks whose counters (and
            best weights) are committed with each epoch and restored on resume.
    """

    def __init__(
        self,
        run: RunDir,
        state: RunState,
        phase: str,
        first_epoch: int,
        last_epoch: int,
        best: SaveBestModel,
        val_counts: Sequence[int],
        every_steps: int | None = None,
        patience: Sequence[keras.callbacks.Callback] = (),
    ) -> None:
        super().__init__()
        self.run, self.state, self.phase = run, state, phase
        self.first_epoch, self.last_epoch = first_epoch, last_epoch
        self.best, self.val_counts, self.every_steps = best, tuple(val_counts), every_steps
        self.epoch = first_epoch
        self.patience = [callback for callback in patience if isinstance(callback, tuple(PATIENCE_COUNTERS))]

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Give the patience callbacks (just reset by their own ``on_train_begin``) the
        counters committed for this phase."""
        record = self.state.patience.get(self.phase, {})
        for callback in self.patience:
            for name, value in record.get(type(callback).__name__, {}).items():
                setattr(callback, name, value)
            if isinstance(callback, keras.callbacks.EarlyStopping) and record.get("best_weights"):
                with np.load(self.run.root / record["best_weights"]) as arrays:
                    callback.best_weights = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        faults.reached("batch_end")
        if self.every_steps and (batch + 1) % self.every_steps == 0:
            self.commit(self.run.checkpoint_path(self.epoch, batch + 1), mid_epoch=True)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        faults.reached("epoch_end")
        logs = logs or {}
        check = learning_check(logs.get("val_accuracy"), self.val_counts)
        row = {
            "epoch": epoch,
            "phase": self.phase,
            **{key: float(value) for key, value in logs.items()},
            "learning_rate": float(np.asarray(self.model.optimizer.learning_rate)),
        }
        if check:
            row.update(chance_accuracy=check["chance_accuracy"], above_chance=int(check["above_chance"]))
        self.state.history.append(row)
        self.state.epochs[self.phase] = epoch + 1 - self.first_epoch
        self.state.best_val_accuracy = self.best.best
        if check and (epoch + 1 == self.last_epoch or self.model.stop_training):
            self.state.learning[self.phase] = check
        self._record_patience(epoch)
        self.commit(self.run.checkpoint_path(epoch + 1))

    def _record_patience(self, epoch: int) -> None:
        """Put the patience counters in the state. The phase's last epoch, or an early stop,
        commits the best weights restored (as ``EarlyStopping.on_train_end`` will restore them)
        and ends the phase in this same commit."""
        record = {
            type(cb).__name__: {name: _plain(getattr(cb, name)) for name in PATIENCE_COUNTERS[type(cb)]}
            for cb in self.patience
        }
        record["best_weights"] = self.state.patience.get(self.phase, {}).get("best_weights")
        ending = self.model.stop_training or epoch + 1 == self.last_epoch
        for callback in self.patience:
            if isinstance(callback, keras.callbacks.EarlyStopping) and callback.best_weights is not None:
                if ending:
                    self.model.set_weights(callback.best_weights)
                    record["best_weights"] = None
                elif callback.best_epoch == epoch:
                    path = self.run.best_weights_path(self.phase, epoch + 1)
                    buffer = io.BytesIO()
                    np.savez(buffer, *callback.best_weights)
                    write_bytes_atomic(path, buffer.getvalue())
                    record["best_weights"] = path.relative_to(self.run.root).as_posix()
        self.state.patience[self.phase] = record
        if self.model.stop_training and self.phase not in self.state.stopped:
            self.state.stopped.append(self.phase)

    def commit(self, path: Path, mid_epoch: bool = False) -> None:
        """Write the weights (with optimizer state) to ``path``, then commit the state naming it."""
        write_checkpoint(self.model, path)
        faults.reached("checkpoint_written")
        self.state.checkpoint = path.relative_to(self.run.root).as_posix()
        self.state.checkpoint_phase = self.phase
        self.state.mid_epoch = mid_epoch
        self.run.commit(self.state)


def _plain(value):
    """A counter as JSON can hold it (numpy scalars to Python numbers)."""
    return value.item() if isinstance(value, np.generic) else value


def write_checkpoint(model: keras.Model, path: Path) -> None:
    """``model.save_weights`` (optimizer state included) to ``path`` atomically."""
    with atomic_path(path) as temp:
        model.save_weights(temp)

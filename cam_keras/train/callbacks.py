"""Training callbacks: the best model saved atomically with class names, and CAM snapshots
of fixed images rendered by the same CAM code used for inference."""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cam_keras.cam import CAM
from cam_keras.models.io import save_model
from cam_keras.render import write_png


class SaveBestModel(keras.callbacks.Callback):
    """Save the model as ``.keras`` (with class names, atomically) whenever ``monitor`` improves.

    Args:
        path: target ``.keras`` file.
        monitor: a logged metric, e.g. ``"val_accuracy"``; ``"val_loss"``-like names are minimized.
        best: the best value already reached (when resuming), or ``None``.
    """

    def __init__(self, path: str | os.PathLike, monitor: str = "val_accuracy", best: float | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.monitor = monitor
        self.minimize = "loss" in monitor
        self.best = best

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        if self.best is None or (value < self.best if self.minimize else value > self.best):
            self.best = float(value)
            save_model(self.model, self.path)


class CamSnapshots(keras.callbacks.Callback):
    """Render the CAMs of fixed images during training, to PNG and TensorBoard.

    Args:
        images: ``(n, H, W, 3)`` images at the model input size, RGB in [0, 255].
        out_dir: folder for ``epoch_003.png`` / ``step_000100.png`` grids.
        every_epochs: snapshot after every this many epochs (0 disables).
        every_steps: snapshot every this many optimizer steps (``None`` disables).
        log_dir: TensorBoard folder for the same pictures (``None`` disables).
    """

    def __init__(
        self,
        images: np.ndarray,
        out_dir: str | os.PathLike,
        every_epochs: int = 1,
        every_steps: int | None = None,
        log_dir: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        self.images = np.asarray(images, dtype=np.float32)
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
        """Write one grid of overlays (top-1 class, captioned) and return its path."""
        picture = self._explainer(self.images, top_k=1).grid(columns=min(8, len(self.images)), tile_size=128)
        path = write_png(self.out_dir / f"{name}.png", picture)
        if self.writer is not None:
            with self.writer.as_default():
                tf.summary.image("cam_snapshots", picture[None], step=step)
            self.writer.flush()
        return path

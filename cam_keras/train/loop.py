"""Two-phase fine-tuning of a GAP+Dense classifier on a class-per-folder dataset.

A run folder holds everything, so a killed run resumes where it stopped::

    RUN/config.toml       the settings the run started with (resume reuses them)
    RUN/model.keras       final model with class names (what `cam-keras heatmap` loads)
    RUN/best.keras        best model by validation accuracy
    RUN/history.csv       one row per epoch, both phases
    RUN/logs/             TensorBoard scalars and CAM snapshot images
    RUN/snapshots/        CAM snapshot grids (PNG)
    RUN/backup/<phase>/   Keras BackupAndRestore state (weights, optimizer, epoch)
    RUN/state.json        finished phases
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from cam_keras.atomic import atomic_path, write_text_atomic
from cam_keras.data.folder import (
    LabeledFiles,
    class_weights,
    fit_image,
    make_dataset,
    scan_class_folders,
    stratified_split,
)
from cam_keras.data.images import load_image
from cam_keras.models.builder import HEAD_LAYER_NAMES, build_model
from cam_keras.models.io import save_model
from cam_keras.train.callbacks import CamSnapshots, SaveBestModel
from cam_keras.train.config import TrainConfig, load_config
from cam_keras.train.strategy import (
    check_global_batch,
    fitting,
    make_strategy,
    op_determinism,
    precision_policy,
    shard_by_data,
    worker_run_dir,
)

logger = logging.getLogger(__name__)


@dataclass
class Phase:
    name: str
    epochs: int
    learning_rate: float
    train_backbone: bool


@dataclass
class TrainResult:
    """What :func:`fine_tune` produced."""

    model: keras.Model
    history: dict[str, list[float]]
    run_dir: Path
    class_names: tuple[str, ...]
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def val_accuracy(self) -> float | None:
        values = self.history.get("val_accuracy")
        return values[-1] if values else None


def phases(config: TrainConfig) -> list[Phase]:
    """The head phase (backbone frozen) and the fine-tune phase, skipping empty ones.

    Example:
        >>> [p.name for p in phases(TrainConfig(head_epochs=2, finetune_epochs=8))]
        ['head', 'finetune']
    """
    planned = [
        Phase("head", config.head_epochs, config.head_lr, train_backbone=False),
        Phase("finetune", config.finetune_epochs, config.finetune_lr, train_backbone=True),
    ]
    return [phase for phase in planned if phase.epochs > 0]


def set_trainable(model: keras.Model, train_backbone: bool, unfreeze: str | int, freeze_batchnorm: bool) -> None:
    """Freeze or unfreeze backbone layers; head layers always train.

    With ``freeze_batchnorm`` BatchNormalization layers stay non-trainable, which in Keras 3
    also keeps them in inference mode (moving statistics used and not updated).

    Example:
        >>> set_trainable(model, train_backbone=True, unfreeze=20, freeze_batchnorm=True)
    """
    backbone = [layer for layer in model.layers if layer.name not in HEAD_LAYER_NAMES and layer.weights]
    open_layers = backbone if unfreeze == "all" else backbone[-int(unfreeze):]
    for layer in backbone:
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = train_backbone and layer in open_layers and not (is_bn and freeze_batchnorm)


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate)
    return keras.optimizers.Adam(learning_rate)


def snapshot_images(files: LabeledFiles, count: int, size: tuple[int, int], policy: str) -> np.ndarray:
    """``count`` images taken round-robin over classes (first files first), decoded at model
    size, so snapshots show every class.

    Example:
        >>> snapshot_images(files, 8, (64, 64), "squash").shape
        (8, 64, 64, 3)
    """
    by_class = [[i for i, label in enumerate(files.labels) if label == c] for c in range(len(files.class_names))]
    chosen: list[int] = []
    for rank in range(max(map(len, by_class), default=0)):
        chosen += [members[rank] for members in by_class if rank < len(members)]
    return np.stack([fit_image(load_image(files.paths[i]), size, policy) for i in chosen[:count]]).astype(np.float32)


class RunDir:
    """Paths inside a run folder and its small state file."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.config = self.root / "config.toml"
        self.model = self.root / "model.keras"
        self.best = self.root / "best.keras"
        self.history = self.root / "history.csv"
        self.logs = self.root / "logs"
        self.snapshots = self.root / "snapshots"
        self.state_file = self.root / "state.json"

    def backup(self, phase: str) -> Path:
        return self.root / "backup" / phase

    def phase_weights(self, phase: str) -> Path:
        return self.root / "backup" / f"{phase}_done.weights.h5"

    def resume_state(self) -> list[Path]:
        """What a resumed run reads: config, finished phases, history and checkpoints."""
        return [self.config, self.state_file, self.history, self.root / "backup"]

    def state(self) -> dict:
        return json.loads(self.state_file.read_text()) if self.state_file.exists() else {"done": []}

    def mark_done(self, phase: str, best: float | None) -> None:
        state = self.state()
        state["done"].append(phase)
        state["best_val_accuracy"] = best
        write_text_atomic(self.state_file, json.dumps(state))


def _history_from_csv(path: Path) -> dict[str, list[float]]:
    """Per-epoch metrics from ``history.csv``. An epoch retrained after a resume from an
    older checkpoint appears there twice; its last run (the one the weights come from) counts."""
    if not path.exists():
        return {}
    with open(path, newline="") as handle:
        last_run = {int(row["epoch"]): row for row in csv.DictReader(handle)}
    rows = [last_run[epoch] for epoch in sorted(last_run)]
    return {name: [float(row[name]) for row in rows] for name in (rows[0] if rows else {})}


def _open_run(run: RunDir, config: TrainConfig | None, resume: bool) -> TrainConfig:
    if resume:
        if not run.config.exists():
            raise FileNotFoundError(f"{run.root}: nothing to resume (no config.toml); start a new run without --resume")
        return load_config(run.config)
    if run.root.exists() and any(run.root.iterdir()):
        raise FileExistsError(f"{run.root} already holds a run; pass --resume to continue it or choose another --out")
    config = (config or TrainConfig()).validate()
    run.root.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run.config, config.to_toml())
    return config


def fine_tune(
    data_dir: str | os.PathLike,
    run_dir: str | os.PathLike,
    config: TrainConfig | None = None,
    *,
    resume: bool = False,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | None = None,
) -> TrainResult:
    """Train a CAM classifier on ``DATA_DIR/<class>/<image>`` and write the run folder.

    Args:
        data_dir: class-per-folder training data.
        run_dir: output folder (see module docstring); must be empty unless ``resume``.
        config: settings; with ``resume`` the run's saved ``config.toml`` is used instead.
        resume: continue an interrupted run from its last checkpoint.
        callbacks: extra Keras callbacks for every phase.
        verbose: Keras ``fit`` verbosity; default: a progress bar on a terminal, one line
            per epoch otherwise (logs, notebooks writing to files).

    Example:
        >>> result = fine_tune("photos/", "runs/first", TrainConfig(backbone="small_cnn"))
        >>> cam_keras.explain(result.model, "photo.jpg").show()
    """
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    chief_run = RunDir(run_dir)
    with worker_run_dir(chief_run.root, resume, chief_run.resume_state()) as own_folder:
        run = RunDir(own_folder)  # the chief's run folder, or a temporary one on other workers
        config = _open_run(run, config, resume)
        with op_determinism(config.deterministic):
            result = _train(data_dir, run, config, callbacks, verbose)
    if run.root != chief_run.root:  # name the chief's files, not the removed temporary ones
        result.run_dir = chief_run.root
        result.files = {name: chief_run.root / path.relative_to(run.root) for name, path in result.files.items()}
    return result


def _train(
    data_dir: str | os.PathLike, run: RunDir, config: TrainConfig, callbacks: Sequence[keras.callbacks.Callback], verbose: int
) -> TrainResult:
    strategy = make_strategy(config.strategy)  # first: multi-worker collectives must be set up before other TF work
    check_global_batch(strategy, config.batch_size)
    keras.utils.set_random_seed(config.seed)
    files = scan_class_folders(data_dir, skip_empty=config.skip_empty_classes)
    if config.val_dir:
        train_files, val_files = files, scan_class_folders(config.val_dir, class_names=files.class_names)
    else:
        train_files, val_files = stratified_split(files, config.val_fraction, config.seed)
    size = (config.input_size, config.input_size)
    num_classes = len(files.class_names)

    def one_hot(images, labels, weights):
        return images, tf.one_hot(labels, num_classes), weights

    weights_by_class = class_weights(train_files) if config.class_weights else None
    train_data = shard_by_data(make_dataset(
        train_files, size, config.batch_size, training=True, policy=config.resize, augmentation=config.augment,
        cache=config.cache, seed=config.seed, weights_by_class=weights_by_class,
    ).map(one_hot))
    val_data = make_dataset(val_files, size, config.batch_size, training=False, policy=config.resize, cache=config.cache)
    val_data = shard_by_data(val_data.map(one_hot))
    with precision_policy(config.mixed_precision), strategy.scope():
        model = build_model(
            config.backbone,
            class_names=files.class_names,
            input_size=config.input_size,
            weights=config.weights,
            drop_last_pool=config.drop_last_pool,
            head_conv=config.head_conv,
            dropout=config.dropout,
            width=config.width,
        )
    state = run.state()
    best = SaveBestModel(run.best, best=state.get("best_val_accuracy"))
    shared_callbacks = [
        keras.callbacks.CSVLogger(str(run.history), append=True),
        keras.callbacks.TensorBoard(str(run.logs), update_freq=config.log_every),
        best,
    ]
    if config.snapshot_images and (config.snapshot_every_epochs or config.snapshot_every_steps):
        shared_callbacks.append(
            CamSnapshots(
                snapshot_images(val_files, config.snapshot_images, size, config.resize),
                run.snapshots,
                every_epochs=config.snapshot_every_epochs,
                every_steps=config.snapshot_every_steps,
                log_dir=run.logs / "snapshots",
            )
        )
    if config.early_stopping:
        shared_callbacks.append(keras.callbacks.EarlyStopping(patience=config.early_stopping, restore_best_weights=True))
    if config.reduce_lr:
        shared_callbacks.append(keras.callbacks.ReduceLROnPlateau(patience=config.reduce_lr, factor=0.3))

    epoch = 0
    for phase in phases(config):
        if phase.name in state["done"]:
            model.load_weights(run.phase_weights(phase.name))
            epoch += phase.epochs
            continue
        set_trainable(model, phase.train_backbone, config.unfreeze, freeze_batchnorm=config.weights is not None)
        with strategy.scope():
            model.compile(
                optimizer=make_optimizer(config.optimizer, phase.learning_rate),
                loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=config.label_smoothing),
                metrics=["accuracy"],
                jit_compile=config.jit_compile,
            )
        backup = keras.callbacks.BackupAndRestore(str(run.backup(phase.name)), save_freq=config.checkpoint_every, double_checkpoint=True)
        with fitting(model, strategy):
            model.fit(
                train_data,
                validation_data=val_data,
                initial_epoch=epoch,
                epochs=epoch + phase.epochs,
                callbacks=[backup, *shared_callbacks, *callbacks],
                shuffle=False,  # the pipeline shuffles every epoch itself
                verbose=verbose,
            )
        with atomic_path(run.phase_weights(phase.name)) as temp:
            model.save_weights(temp)
        run.mark_done(phase.name, best.best)
        epoch += phase.epochs
    save_model(model, run.model)
    return TrainResult(
        model=model,
        history=_history_from_csv(run.history),
        run_dir=run.root,
        class_names=files.class_names,
        files={"model": run.model, "best": run.best, "history": run.history, "logs": run.logs, "snapshots": run.snapshots},
    )

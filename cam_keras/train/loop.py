"""Two-phase fine-tuning of a GAP+Dense classifier on a class-per-folder dataset.

A run folder holds everything, so a killed run resumes where it stopped::

    RUN/config.toml       the settings of the run (resume reuses them)
    RUN/dataset.json      the dataset's identity: classes, counts, file-list fingerprint
    RUN/state.json        the commit point: epochs per phase, checkpoint, history, best score
    RUN/checkpoints/      the committed weights and optimizer state
    RUN/model.keras       final model with class names (what `cam-keras heatmap` loads)
    RUN/best.keras        best model by validation accuracy
    RUN/history.csv       one row per epoch, both phases (rewritten from state.json)
    RUN/logs/             TensorBoard scalars and CAM snapshot images
    RUN/snapshots/        CAM snapshot grids (PNG)

The folder is locked while a run trains; see :mod:`cam_keras.train.rundir` for why a kill at
any instant resumes to the result of an uninterrupted run.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cam_keras.compat import ITERATORS_PER_EPOCH
from cam_keras.data.batches import decode_all
from cam_keras.data.class_folders import LabeledFiles, scan_class_folders
from cam_keras.data.images import decode_fitted
from cam_keras.data.overlap import warn_if_shared
from cam_keras.data.pipeline import make_dataset
from cam_keras.data.split import class_weights, stratified_split
from cam_keras.errors import RunFolderError, option
from cam_keras.lockfile import FolderLock
from cam_keras.models.builder import HEAD_LAYER_NAMES, build_model
from cam_keras.models.info import attach_info, model_info
from cam_keras.models.io import save_model
from cam_keras.models.learning import learning_check, learning_note
from cam_keras.outdir import check_outside_inputs, create_folder, remove_stale_temps
from cam_keras.train import faults
from cam_keras.train.callbacks import CamSnapshots, EpochCommit, SaveBestModel
from cam_keras.train.config import TrainConfig
from cam_keras.train.optimizers import make_optimizer
from cam_keras.train.rundir import DatasetIdentity, RunDir, RunState, open_run, run_inputs
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
    first_epoch: int = 0

    @property
    def last_epoch(self) -> int:
        return self.first_epoch + self.epochs


@dataclass
class TrainResult:
    """What :func:`fine_tune` produced.

    Attributes:
        stopped_early: the phases early stopping ended, with the epochs they trained and
            the epochs they were given: ``{"finetune": (7, 20)}``.
        nothing_to_train: a resumed run had already trained every epoch of its phases (its
            final model is only written again).
    """

    model: keras.Model
    history: dict[str, list[float]]
    run_dir: Path
    class_names: tuple[str, ...]
    files: dict[str, Path] = field(default_factory=dict)
    learning: dict | None = None
    stopped_early: dict[str, tuple[int, int]] = field(default_factory=dict)
    nothing_to_train: bool = False

    @property
    def val_accuracy(self) -> float | None:
        values = self.history.get("val_accuracy")
        return values[-1] if values else None


@dataclass
class TrainingData:
    """The scanned files, their pipelines and identity."""

    train_files: LabeledFiles
    val_files: LabeledFiles
    train: tf.data.Dataset
    val: tf.data.Dataset | None
    identity: DatasetIdentity

    @property
    def val_counts(self) -> tuple[int, ...]:
        return tuple(int(c) for c in self.val_files.class_counts())


def phases(config: TrainConfig) -> list[Phase]:
    """The head phase (backbone frozen) and the fine-tune phase, skipping empty ones, with
    their global epoch ranges.

    Example:
        >>> [(p.name, p.first_epoch) for p in phases(TrainConfig(head_epochs=2, finetune_epochs=8))]
        [('head', 0), ('finetune', 2)]
    """
    planned = [
        Phase("head", config.head_epochs, config.head_lr, train_backbone=False),
        Phase(
            "finetune", config.finetune_epochs, config.finetune_lr, train_backbone=True, first_epoch=config.head_epochs
        ),
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
    open_layers = backbone if unfreeze == "all" else backbone[-int(unfreeze) :]
    for layer in backbone:
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = train_backbone and layer in open_layers and not (is_bn and freeze_batchnorm)


def snapshot_images(files: LabeledFiles, count: int, size: tuple[int, int], policy: str) -> np.ndarray | None:
    """``count`` images taken round-robin over classes (first files first), decoded and fitted
    to the model under the resize ``policy`` as the other images are (by the one decode ->
    batch iterator), so snapshots show every class; ``None`` without images or with ``count`` 0.

    Example:
        >>> snapshot_images(files, 8, (64, 64), "squash").shape
        (8, 64, 64, 3)
    """
    chosen = _round_robin(files)[:count]
    if not chosen:
        return None
    fitted = decode_all([files.paths[i] for i in chosen], lambda path: decode_fitted(path, size, policy))
    return np.stack([image.model_input for image in fitted]).astype(np.float32)


def snapshot_classes(files: LabeledFiles, count: int) -> list[str]:
    """The true class names of the :func:`snapshot_images`, in order."""
    return [files.class_names[files.labels[i]] for i in _round_robin(files)[:count]]


def _round_robin(files: LabeledFiles) -> list[int]:
    """Indices of ``files``, first of each class, then second of each class, and so on."""
    by_class = [[i for i, label in enumerate(files.labels) if label == c] for c in range(len(files.class_names))]
    chosen: list[int] = []
    for rank in range(max(map(len, by_class), default=0)):
        chosen += [members[rank] for members in by_class if rank < len(members)]
    return chosen


def fine_tune(
    data_dir: str | os.PathLike,
    run_dir: str | os.PathLike,
    config: TrainConfig | None = None,
    *,
    resume: bool = False,
    changes: dict | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | None = None,
) -> TrainResult:
    """Train a CAM classifier on ``DATA_DIR/<class>/<image>`` and write the run folder.

    Args:
        data_dir: class-per-folder training data.
        run_dir: output folder (see module docstring); new or empty, or a run that never
            trained, unless ``resume``. Never inside ``data_dir`` or the validation folder.
        config: settings of a new run; with ``resume``, the settings to continue with (as
            ``changes``).
        resume: continue the run in ``run_dir`` with its saved settings, on its own dataset.
        changes: with ``resume``, settings to change (see ``RESUMABLE`` in
            :mod:`cam_keras.train.config`; a run that never trained accepts any).
        callbacks: extra Keras callbacks for every phase.
        verbose: Keras ``fit`` verbosity; default: a progress bar on a terminal, one line
            per epoch otherwise (logs, notebooks writing to files).

    Raises:
        RunFolderError: ``run_dir`` holds a trained run (without ``resume``), or ``resume``
            meets another dataset or a change to what was trained, naming it.
        OutputFolderError: ``run_dir`` is inside an input folder or holds other files.
        FolderLockedError: another process trains in ``run_dir``.

    Example:
        >>> result = fine_tune("photos/", "runs/first", TrainConfig(backbone="small_cnn"))
        >>> cam_keras.explain(result.model, "photo.jpg").show()
    """
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    chief_run = RunDir(run_dir)
    check_outside_inputs(chief_run.root, run_inputs(chief_run, data_dir, config, changes), "run_dir")
    with worker_run_dir(chief_run.root, resume, chief_run.resume_state()) as own_folder:
        run = RunDir(own_folder)  # the chief's run folder, or a temporary one on other workers
        create_folder(run.root, "run_dir")
        with FolderLock(run.root):
            config, state = open_run(run, config, resume, changes or {})
            remove_stale_temps(run.written_folders())
            with op_determinism(config.deterministic):
                result = _train(data_dir, run, config, state, callbacks, verbose)
    if run.root != chief_run.root:  # name the chief's files, not the removed temporary ones
        result.run_dir = chief_run.root
        result.files = {name: chief_run.root / path.relative_to(run.root) for name, path in result.files.items()}
    return result


def _train(
    data_dir: str | os.PathLike,
    run: RunDir,
    config: TrainConfig,
    state: RunState,
    callbacks: Sequence[keras.callbacks.Callback],
    verbose: int,
) -> TrainResult:
    """The stages of a run: data, model, each unfinished phase, the final model."""
    strategy = make_strategy(config.strategy)  # first: multi-worker collectives must be set up before other TF work
    check_global_batch(strategy, config.batch_size)
    keras.utils.set_random_seed(config.seed)
    data = load_training_data(data_dir, config)
    _record_dataset(run, data, state, data_dir)
    model = _build(config, data.train_files.class_names, strategy)
    _restore_phase_boundary(run, model, config, state)
    _replay_shuffles(data.train, state.epochs_run)
    shared = _shared_callbacks(run, config, data, state)
    unfinished = [phase for phase in phases(config) if not _phase_done(phase, state)]
    nothing_to_train = not unfinished and bool(state.history)
    for phase in unfinished:
        _fit_phase(model, phase, run, config, state, data, strategy, [*shared, *callbacks], verbose)
    learning = _save_final_model(model, run, config, data, strategy)
    return TrainResult(
        model=model,
        history=_history(state),
        run_dir=run.root,
        class_names=data.train_files.class_names,
        files={
            "model": run.model,
            "best": run.best,
            "history": run.history,
            "logs": run.logs,
            "snapshots": run.snapshots,
        },
        learning=learning,
        stopped_early={
            p.name: (state.epochs.get(p.name, 0), p.epochs) for p in phases(config) if p.name in state.stopped
        },
        nothing_to_train=nothing_to_train,
    )


def _history(state: RunState) -> dict[str, list[float]]:
    """Per-epoch metrics of the committed epochs, in order."""
    keys = [key for key in state.history[0] if key not in ("epoch", "phase")] if state.history else []
    return {key: [float(row[key]) for row in state.history if key in row] for key in keys}


def _replay_shuffles(dataset: tf.data.Dataset, epochs: int) -> None:
    """Advance ``dataset``'s reshuffling to where ``epochs`` epochs of ``fit`` left it: each new
    iterator draws the next shuffle order, so a resumed epoch sees the uninterrupted run's order."""
    for _ in range(epochs * ITERATORS_PER_EPOCH):
        iter(dataset)


def load_training_data(data_dir: str | os.PathLike, config: TrainConfig) -> TrainingData:
    """Scan, split and build the training and validation pipelines (labels one-hot)."""
    files = scan_class_folders(data_dir, skip_empty=config.skip_empty_classes)
    if config.val_dir:
        train_files, val_files = files, scan_class_folders(config.val_dir, class_names=files.class_names)
        warn_if_shared(
            val_files.paths,
            train_files.paths,
            "val_dir",
            "best.keras, the validation accuracy and the learning check are then computed on training images",
        )
    else:
        train_files, val_files = stratified_split(files, config.val_fraction, config.seed)
    size = (config.input_size, config.input_size)
    num_classes = len(files.class_names)

    def one_hot(images, labels, weights):
        return images, tf.one_hot(labels, num_classes), weights

    weights_by_class = class_weights(train_files) if config.class_weights else None
    train = shard_by_data(
        make_dataset(
            train_files,
            size,
            config.batch_size,
            training=True,
            policy=config.resize,
            augmentation=config.augment,
            cache=config.cache,
            seed=config.seed,
            weights_by_class=weights_by_class,
        ).map(one_hot)
    )
    val = None
    if len(val_files):
        val = make_dataset(val_files, size, config.batch_size, training=False, policy=config.resize, cache=config.cache)
        val = shard_by_data(val.map(one_hot))
    else:
        logger.warning(
            "%s: no validation images (a class with one image keeps it for training), so no best.keras and no "
            "learning check; add images or pass val_dir",
            data_dir,
        )
    identity = DatasetIdentity.of(files, data_dir, val_files if config.val_dir else None, config.val_dir)
    return TrainingData(train_files, val_files, train, val, identity)


def _record_dataset(run: RunDir, data: TrainingData, state: RunState, data_dir: str | os.PathLike) -> None:
    """A trained run continues only on its own dataset; a new one records its dataset."""
    if state.trained:
        run.check_dataset(data.identity, data_dir)
    else:
        run.write_dataset(data.identity)


def _build(config: TrainConfig, class_names: Sequence[str], strategy: tf.distribute.Strategy) -> keras.Model:
    with precision_policy(config.mixed_precision), strategy.scope():
        model = build_model(
            config.backbone,
            class_names=class_names,
            input_size=config.input_size,
            weights=config.weights,
            drop_last_pool=config.drop_last_pool,
            output_stride=config.output_stride,
            head_conv=config.head_conv,
            dropout=config.dropout,
            base_channels=config.width,
        )
    attach_info(model, replace(model_info(model), resize=config.resize))  # saved with it: inference fits alike
    return model


def _compile(model: keras.Model, config: TrainConfig, learning_rate: float, strategy: tf.distribute.Strategy) -> None:
    with strategy.scope():
        model.compile(
            optimizer=make_optimizer(config.optimizer, learning_rate),
            loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=config.label_smoothing),
            metrics=["accuracy"],
            jit_compile=config.jit_compile,
        )


def _phase_done(phase: Phase, state: RunState) -> bool:
    return state.epochs.get(phase.name, 0) >= phase.epochs or phase.name in state.stopped


def _load_checkpoint(run: RunDir, model: keras.Model, state: RunState) -> None:
    """Load the committed checkpoint; an unreadable one is named, never silently skipped.

    Raises:
        RunFolderError: the file is missing or truncated.
    """
    path = run.root / state.checkpoint
    try:
        model.load_weights(path)
    except (OSError, ValueError) as error:
        raise RunFolderError(
            f"{path}: the run's checkpoint is unreadable ({str(error).splitlines()[0]}); it was damaged after it "
            f"was written. Restore the file from a backup, or start a new run with another {option('run_dir')}"
        ) from None


def _restore_phase_boundary(run: RunDir, model: keras.Model, config: TrainConfig, state: RunState) -> None:
    """Load a checkpoint taken at the end of a finished phase, weights only: the next phase
    starts a fresh optimizer, as an uninterrupted run does. (A checkpoint inside the phase
    still to train is loaded with its optimizer state by :func:`_fit_phase`.)"""
    finished = {phase.name for phase in phases(config) if _phase_done(phase, state)}
    if state.checkpoint and state.checkpoint_phase in finished:
        _load_checkpoint(run, model, state)


def _shared_callbacks(run: RunDir, config: TrainConfig, data: TrainingData, state: RunState) -> list:
    """TensorBoard, the best model, snapshots, early stopping and learning-rate schedule."""
    best = SaveBestModel(run.best, best=state.best_val_accuracy, val_counts=data.val_counts)
    shared: list = [keras.callbacks.TensorBoard(str(run.logs), update_freq=config.log_every), best]
    size = (config.input_size, config.input_size)
    shown = data.val_files if len(data.val_files) else data.train_files
    images = snapshot_images(shown, config.snapshot_images, size, config.resize)
    if images is not None and (config.snapshot_every_epochs or config.snapshot_every_steps):
        shared.append(
            CamSnapshots(
                images,
                run.snapshots,
                every_epochs=config.snapshot_every_epochs,
                every_steps=config.snapshot_every_steps,
                log_dir=run.logs / "snapshots",
                true_classes=snapshot_classes(shown, config.snapshot_images),
            )
        )
    if config.early_stopping:
        shared.append(keras.callbacks.EarlyStopping(patience=config.early_stopping, restore_best_weights=True))
    if config.reduce_lr:
        shared.append(keras.callbacks.ReduceLROnPlateau(patience=config.reduce_lr, factor=0.3))
    return shared


def _fit_phase(
    model: keras.Model,
    phase: Phase,
    run: RunDir,
    config: TrainConfig,
    state: RunState,
    data: TrainingData,
    strategy: tf.distribute.Strategy,
    callbacks: list,
    verbose: int,
) -> None:
    """Train one phase from its committed epoch, committing every epoch (and every
    ``checkpoint_every`` steps), then warn if it learned nothing."""
    set_trainable(model, phase.train_backbone, config.unfreeze, freeze_batchnorm=config.weights is not None)
    _compile(model, config, phase.learning_rate, strategy)
    if state.checkpoint and state.checkpoint_phase == phase.name:  # mid-phase: weights and optimizer state
        with strategy.scope():  # optimizer slots are variables of the strategy
            model.optimizer.build(model.trainable_variables)
            _load_checkpoint(run, model, state)
    best = next(callback for callback in callbacks if isinstance(callback, SaveBestModel))
    commit = EpochCommit(
        run,
        state,
        phase.name,
        phase.first_epoch,
        phase.last_epoch,
        best,
        data.val_counts,
        every_steps=config.checkpoint_every if isinstance(config.checkpoint_every, int) else None,
        patience=callbacks,
    )
    with fitting(model, strategy):
        model.fit(
            data.train,
            validation_data=data.val,
            initial_epoch=phase.first_epoch + state.epochs.get(phase.name, 0),
            epochs=phase.last_epoch,
            callbacks=[*callbacks, commit],
            shuffle=False,  # the pipeline shuffles every epoch itself
            verbose=verbose,
        )
    faults.reached("phase_end")
    note = learning_note(state.learning.get(phase.name), config.backbone, pretrained=config.weights is not None)
    if note:
        logger.warning("after the %s phase: %s", phase.name, note)


def _save_final_model(
    model: keras.Model, run: RunDir, config: TrainConfig, data: TrainingData, strategy: tf.distribute.Strategy
) -> dict | None:
    """Write ``model.keras`` with the final model's learning check; warn if it is at chance."""
    learning = None
    if getattr(model, "optimizer", None) is None:  # a finished run resumed: no phase compiled it
        _compile(model, config, config.finetune_lr, strategy)
        with strategy.scope():  # built, so the file holds a variable per weight as a trained optimizer
            model.optimizer.build(model.trainable_variables)  # does; else every load warns "Skipping..."
    if data.val is not None:
        with fitting(model, strategy):  # Keras' evaluate has fit's multi-worker bug too
            accuracy = model.evaluate(data.val, verbose=0, return_dict=True)["accuracy"]
        learning = learning_check(accuracy, data.val_counts)
    save_model(model, run.model, training=learning)
    faults.reached("model_saved")
    return learning

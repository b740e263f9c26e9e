"""The run folder: its paths, its one commit point (``state.json``) and the dataset it belongs to.

``state.json`` is also the proof that a folder holds a cam-keras run: a new run writes it
first, before any other file (as earlier versions did), and a folder whose ``state.json`` is
missing or is not a run state is never written in unless it is empty. So a user's folder that
happens to hold a ``config.toml``, ``model.keras`` or ``checkpoints/`` is refused, untouched;
so is a run folder whose state was lost (what it trained can no longer be told).

Everything a resume needs is committed by one atomic rename of ``state.json``: the epochs
trained per phase, the checkpoint file those epochs ended with, every history row and the
best validation accuracy. Files derived from it (``history.csv``) are rewritten from it, and
checkpoint files are written before the commit that names them and removed only after a later
commit no longer does, so a kill at any instant leaves either the old or the new state whole.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cam_keras.atomic import is_temp_name, write_text_atomic
from cam_keras.data.class_folders import LabeledFiles
from cam_keras.errors import OutputFolderError, RunFolderError, UsageError, option
from cam_keras.lockfile import is_lock
from cam_keras.records import CsvWriter
from cam_keras.train import faults
from cam_keras.train.config import (
    FIXED_ON_RESUME,
    RESUMABLE,
    TrainConfig,
    check_settings,
    load_config,
    read_toml,
)

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = (
    "epoch",
    "phase",
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "learning_rate",
    "chance_accuracy",
    "above_chance",
)
_CHECKPOINT_NAME = re.compile(r"epoch_\d{4}(_step_\d{8})?\.weights\.h5|[a-z]+_best_epoch_\d{4}\.npz")


@dataclass
class RunState:
    """What a run has trained, as committed in ``state.json``.

    Attributes:
        epochs: epochs trained (committed) per phase name.
        stopped: phases ended early by early stopping.
        checkpoint: the weights file (relative to the run folder) the committed epochs ended
            with, optimizer state included; ``None`` before the first commit.
        checkpoint_phase: the phase whose optimizer state the checkpoint holds.
        mid_epoch: the committed checkpoint was taken mid-epoch (``checkpoint_every`` steps):
            the epoch after the committed ones restarts from it.
        history: one row per committed epoch (see :data:`HISTORY_COLUMNS`).
        best_val_accuracy: the score of ``best.keras``.
        learning: the learning check of each finished phase (see :mod:`cam_keras.models.learning`).
        patience: per phase, the counters of early stopping and learning-rate reduction and the
            file of early stopping's best weights, so a resumed phase stops where it would have.
    """

    epochs: dict[str, int] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)
    checkpoint: str | None = None
    checkpoint_phase: str | None = None
    mid_epoch: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    best_val_accuracy: float | None = None
    learning: dict[str, dict[str, Any]] = field(default_factory=dict)
    patience: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def trained(self) -> bool:
        """Whether any training step was committed (a run that never trained may restart)."""
        return self.checkpoint is not None

    @property
    def epochs_run(self) -> int:
        return sum(self.epochs.values())

    @staticmethod
    def wrong_fields(record: Mapping[str, Any]) -> list[str]:
        """What in a parsed ``state.json`` (a record :meth:`is_one` accepted) does not have its
        field's type, one phrase each; empty when every field is right."""
        wrong = []
        for name, value in record.items():
            kinds, what = _STATE_TYPES[name]
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                wrong.append(f"{name} should be {what}, not {type(value).__name__}")
        wrong += [
            f"epochs of {phase!r} should be a whole number"
            for phase, count in _items(record, "epochs")
            if isinstance(count, bool) or not isinstance(count, int)
        ]
        wrong += [
            f"history row {index} should be a mapping"
            for index, row in enumerate(_list(record, "history"))
            if not isinstance(row, dict)
        ]
        return wrong

    @staticmethod
    def is_one(record: Any) -> bool:
        """Whether ``record`` (parsed JSON) is a run state, as this version or an earlier one
        wrote it: the keys ``epochs``, ``checkpoint`` and ``history`` and no foreign key."""
        names = {item.name for item in fields(RunState)}
        return (
            isinstance(record, dict)
            and {"epochs", "checkpoint", "history"} <= record.keys() <= names
            and isinstance(record["epochs"], dict)
            and isinstance(record["history"], list)
        )


#: Each ``state.json`` field: the JSON types it may hold and how to say them.
_STATE_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "epochs": ((dict,), "a mapping of phase to epochs"),
    "stopped": ((list,), "a list of phase names"),
    "checkpoint": ((str, type(None)), "a file name or null"),
    "checkpoint_phase": ((str, type(None)), "a phase name or null"),
    "mid_epoch": ((bool,), "true or false"),
    "history": ((list,), "a list of rows"),
    "best_val_accuracy": ((int, float, type(None)), "a number or null"),
    "learning": ((dict,), "a mapping of phase to its learning check"),
    "patience": ((dict,), "a mapping of phase to its counters"),
}


def _items(record: Mapping[str, Any], name: str) -> list[tuple[Any, Any]]:
    value = record.get(name)
    return list(value.items()) if isinstance(value, dict) else []


def _list(record: Mapping[str, Any], name: str) -> list[Any]:
    value = record.get(name)
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class DatasetIdentity:
    """What makes a dataset the same one: class names in label order, images per class, and
    a SHA-256 of the sorted relative file list (of the validation folder too, if any)."""

    class_names: tuple[str, ...]
    class_counts: tuple[int, ...]
    fingerprint: str
    val_counts: tuple[int, ...] | None = None

    @classmethod
    def of(
        cls,
        files: LabeledFiles,
        root: str | os.PathLike,
        val: LabeledFiles | None = None,
        val_root: str | os.PathLike | None = None,
    ) -> DatasetIdentity:
        digest = hashlib.sha256()
        for label, (files_, root_) in enumerate(((files, root), (val, val_root))):
            if files_ is None:
                continue
            for path in sorted(Path(p).relative_to(root_).as_posix() for p in files_.paths):
                digest.update(f"{label}\0{path}\n".encode("utf-8", "surrogateescape"))
        return cls(
            tuple(files.class_names),
            tuple(int(c) for c in files.class_counts()),
            digest.hexdigest(),
            tuple(int(c) for c in val.class_counts()) if val is not None else None,
        )

    def differences(self, other: DatasetIdentity) -> list[str]:
        """How ``other`` (the data given now) differs from ``self`` (the run's), in words."""
        if self.class_names != other.class_names:
            if len(self.class_names) != len(other.class_names):
                return [
                    f"{len(other.class_names)} classes ({', '.join(other.class_names)}) where the run has "
                    f"{len(self.class_names)} ({', '.join(self.class_names)})"
                ]
            return [
                f"classes {', '.join(other.class_names)} where the run has {', '.join(self.class_names)} "
                "(labels would be permuted)"
            ]
        problems = [
            f"class {name}: {now} images where the run had {then}"
            for name, then, now in zip(self.class_names, self.class_counts, other.class_counts)
            if then != now
        ]
        if self.val_counts != other.val_counts:
            problems.append(f"validation images per class {other.val_counts} where the run had {self.val_counts}")
        if not problems and self.fingerprint != other.fingerprint:
            problems.append("the same counts but other file names")
        return problems


class RunDir:
    """Paths inside a run folder, its committed :class:`RunState` and dataset identity."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.config = self.root / "config.toml"
        self.model = self.root / "model.keras"
        self.best = self.root / "best.keras"
        self.history = self.root / "history.csv"
        self.logs = self.root / "logs"
        self.snapshots = self.root / "snapshots"
        self.checkpoints = self.root / "checkpoints"
        self.state_file = self.root / "state.json"
        self.dataset_file = self.root / "dataset.json"

    def resume_state(self) -> list[Path]:
        """What a resumed run reads: its settings, committed state, dataset identity, history
        and checkpoints (copied to every other worker of a cluster)."""
        return [self.config, self.state_file, self.dataset_file, self.history, self.checkpoints]

    def written_folders(self) -> list[Path]:
        """The folders cam-keras writes files in atomically (TensorBoard writes ``logs``)."""
        return [self.root, self.checkpoints, self.snapshots]

    def holds_run(self) -> bool:
        """Whether ``state.json`` is a run state (see the module docstring)."""
        if not self.state_file.is_file():  # no folder, no device that never ends
            return False
        try:
            return RunState.is_one(json.loads(self.state_file.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return False

    def check_ownership(self) -> None:
        """Refuse a folder holding files but no cam-keras run (see the module docstring).

        Raises:
            OutputFolderError: naming the folder, what its ``state.json`` lacks and its files.
        """
        if self.holds_run():
            return
        entries = sorted(self.root.iterdir())
        others = [entry.name + ("/" if entry.is_dir() else "") for entry in entries if not _bookkeeping(entry.name)]
        if others:
            problem = "is not a cam-keras run state" if self.state_file.exists() else "is missing"
            raise OutputFolderError(
                f"{option('run_dir')} {self.root} is not empty and holds no cam-keras run "
                f"({self.state_file.name} {problem}; "
                f"it holds {', '.join(others[:6])}{', ...' if len(others) > 6 else ''}); nothing there was touched: "
                f"choose a new or empty folder, or restore the run's {self.state_file.name} to resume it"
            )

    def read_state(self) -> RunState:
        """The committed state (empty for a new run).

        Raises:
            RunFolderError: ``state.json`` is unreadable, naming it.
        """
        if not self.state_file.exists():
            return RunState()
        try:
            record = json.loads(self.state_file.read_text(encoding="utf-8"))
        except ValueError as error:
            raise RunFolderError(
                f"{self.state_file}: unreadable run state ({error}); start a new run with another {option('run_dir')}"
            ) from None
        wrong = RunState.wrong_fields(record)
        if wrong:
            raise RunFolderError(
                f"{self.state_file}: run state of the wrong shape ({'; '.join(wrong)}); restore the file "
                f"cam-keras wrote or start a new run with another {option('run_dir')}"
            )
        return RunState(**record)

    def commit(self, state: RunState) -> None:
        """Make ``state`` the run's state (one atomic rename), then rewrite ``history.csv``
        from it and remove checkpoint files it no longer names."""
        write_text_atomic(self.state_file, json.dumps(asdict(state), indent=1))
        faults.reached("state_committed")
        self.write_history(state)
        faults.reached("history_written")
        self.remove_old_checkpoints(state)

    def write_history(self, state: RunState) -> None:
        """``history.csv`` as a view of the committed rows (no duplicates, none missing),
        epochs counted from 1 as Keras prints them and snapshots are named (the state keeps
        Keras' epoch index, from 0)."""
        buffer = io.StringIO()
        writer = CsvWriter(buffer)
        writer.write_raw(HISTORY_COLUMNS)
        for row in state.history:
            writer.write_record({**row, "epoch": row["epoch"] + 1}, HISTORY_COLUMNS)
        write_text_atomic(self.history, buffer.getvalue())

    def checkpoint_path(self, epoch: int, step: int | None = None) -> Path:
        name = f"epoch_{epoch:04d}" + (f"_step_{step:08d}" if step is not None else "") + ".weights.h5"
        return self.checkpoints / name

    def best_weights_path(self, phase: str, epoch: int) -> Path:
        """Where early stopping's best weights of ``phase`` (as of ``epoch``) are kept."""
        return self.checkpoints / f"{phase}_best_epoch_{epoch:04d}.npz"

    def remove_old_checkpoints(self, state: RunState) -> None:
        """Delete the checkpoint files (named as :meth:`checkpoint_path` and
        :meth:`best_weights_path` name them) that ``state`` no longer names; any other file
        in ``checkpoints/`` is left alone."""
        if not self.checkpoints.is_dir() or self.checkpoints.is_symlink():
            return
        named = [state.checkpoint] + [record.get("best_weights") for record in state.patience.values()]
        keep = {self.root / name for name in named if name}
        for path in self.checkpoints.iterdir():
            if path not in keep and _CHECKPOINT_NAME.fullmatch(path.name) and not path.is_symlink():
                path.unlink(missing_ok=True)

    def read_dataset(self) -> DatasetIdentity | None:
        if not self.dataset_file.exists():
            return None
        record = json.loads(self.dataset_file.read_text(encoding="utf-8"))
        return DatasetIdentity(**{key: tuple(v) if isinstance(v, list) else v for key, v in record.items()})

    def write_dataset(self, identity: DatasetIdentity) -> None:
        write_text_atomic(self.dataset_file, json.dumps(asdict(identity), indent=1))

    def check_dataset(self, identity: DatasetIdentity, data_dir: str | os.PathLike) -> None:
        """Refuse to continue a trained run on data other than its own.

        Raises:
            RunFolderError: naming what differs (classes, counts, file names).
        """
        recorded = self.read_dataset()
        problems = recorded.differences(identity) if recorded else []
        if problems:
            raise RunFolderError(
                f"{option('resume')}: {data_dir} is not the dataset {self.root} was trained on: {'; '.join(problems)}. "
                f"Resume with the run's own data, or start a new run with another {option('run_dir')}"
            )


def run_inputs(
    run: RunDir, data_dir: str | os.PathLike, config: TrainConfig | None, changes: Mapping[str, Any] | None
) -> list[str | os.PathLike]:
    """The folders a run reads, which its folder must stay outside of: the data, and the
    validation folder of the new settings, the changes or the saved run."""
    folders: list[str | os.PathLike] = [data_dir]
    candidates = [config.val_dir if config else None, (changes or {}).get("val_dir")]
    if run.config.is_file():
        try:
            candidates.append(read_toml(run.config).get("val_dir"))
        except UsageError:
            pass  # open_run names the broken file
    return folders + [folder for folder in candidates if folder]


def open_run(
    run: RunDir, config: TrainConfig | None, resume: bool, changes: Mapping[str, Any]
) -> tuple[TrainConfig, RunState]:
    """The settings and committed state to train with; writes ``config.toml``.

    A new run needs an empty folder or one holding a run that never trained (its start
    failed: it is started again with the new settings). ``resume`` continues the saved run,
    applying ``changes`` that do not alter what it already trained.

    Raises:
        RunFolderError: a trained run without ``resume``, nothing to resume, or a change
            ``resume`` cannot make, naming it.
        OutputFolderError: a non-empty folder that holds no run (see
            :meth:`RunDir.check_ownership`).
    """
    run.check_ownership()
    state = run.read_state()
    if resume:
        if not run.config.is_file():
            raise RunFolderError(
                f"{run.root}: nothing to resume (no config.toml); start a new run without {option('resume', True)}"
            )
        wanted = {**(asdict(config) if config is not None else {}), **changes}
        config = resumed_config(load_config(run.config), wanted, state, run)
    elif state.trained:
        raise RunFolderError(
            f"{run.root} already holds a run that trained {state.epochs_run} epoch(s); "
            f"pass {option('resume', True)} to continue it "
            f"or choose another {option('run_dir')}"
        )
    else:
        if run.config.is_file():
            logger.warning("%s: its run never trained; starting it again with the new settings", run.root)
        config = (config or TrainConfig()).validate()
        state = RunState()
        write_text_atomic(run.state_file, json.dumps(asdict(state), indent=1))
    write_text_atomic(run.config, config.to_toml())
    return config, state


def resumed_config(saved: TrainConfig, changes: dict[str, Any], state: RunState, run: RunDir) -> TrainConfig:
    """``saved`` with ``changes``; once the run trained, only :data:`RESUMABLE` settings may
    change, and epochs only where they leave the trained epochs as they are.

    Raises:
        RunFolderError: naming each refused setting, its run value and the asked one.
    """
    changed = {key: value for key, value in changes.items() if getattr(saved, key) != value}
    config = check_settings({**asdict(saved), **changed}, f"{run.config} with the given changes")
    if not state.trained or not changed:
        return config
    refused = [
        f"{option(key)} ({getattr(saved, key)!r} in the run, {value!r} asked)"
        for key, value in changed.items()
        if key in FIXED_ON_RESUME
    ]
    started_later = False
    for phase, key in reversed((("head", "head_epochs"), ("finetune", "finetune_epochs"))):
        trained = state.epochs.get(phase, 0)
        if key in changed and (getattr(config, key) < trained or started_later):
            refused.append(
                f"{option(key)} ({getattr(saved, key)} in the run, {trained} trained, {getattr(config, key)} asked)"
            )
        started_later = started_later or trained > 0
    if refused:
        raise RunFolderError(
            f"{option('resume')} cannot change {', '.join(refused)}: the run already trained with it. "
            f"{option('resume')} may change {', '.join(map(option, RESUMABLE))} "
            "(epochs only to extend the phase in progress or the "
            f"last one); start a new run with another {option('run_dir')} to change the rest"
        )
    return config


def _bookkeeping(name: str) -> bool:
    """Whether ``name`` is a lock or a temporary file: no sign of a run, nor a user's file."""
    return is_lock(name) or is_temp_name(name)

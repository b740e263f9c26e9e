"""Distribution strategies, mixed precision and op determinism, chosen by name or flag.

Multi-worker training follows the Keras multi-worker guide
(https://www.tensorflow.org/tutorials/distribute/multi_worker_with_keras): every worker runs
the same training code and writes the same files, because saving can need every worker's
variables; only the chief writes into the run folder, the other workers write into a private
temporary folder (:func:`worker_run_dir`) that is removed at the end. The chief is the
``chief`` task of ``TF_CONFIG``, or worker 0 when the cluster has no ``chief`` task.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from cam_keras.choices import STRATEGIES
from cam_keras.compat import (
    disable_op_determinism,
    first_replica_metrics,
    num_workers,
    op_determinism_enabled,
    strategy_forgotten,
)
from cam_keras.errors import CamKerasError, RunFolderError, UsageError, option

logger = logging.getLogger(__name__)

TRAINING_TASKS = ("chief", "worker")
TF_CONFIG_EXAMPLE = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'


class WorkerLostError(CamKerasError, RuntimeError):
    """Another worker of the training cluster stopped, so this one cannot go on."""


@dataclass(frozen=True)
class ClusterTask:
    """This process's place in the cluster that ``TF_CONFIG`` describes."""

    task_type: str
    index: int
    num_workers: int  # training tasks: the chief plus the workers
    has_chief_task: bool

    @property
    def is_chief(self) -> bool:
        return self.task_type == "chief" or (self.task_type == "worker" and self.index == 0 and not self.has_chief_task)

    def __str__(self) -> str:
        return f"{self.task_type} {self.index} of {self.num_workers}"


def cluster_task() -> ClusterTask | None:
    """This process's task from the ``TF_CONFIG`` environment variable, or ``None`` when it is unset.

    Raises:
        UsageError: ``TF_CONFIG`` is not JSON with a ``cluster`` and a training ``task`` in it.

    Example:
        >>> cluster = {"worker": ["a:1", "b:1"]}
        >>> os.environ["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}})
        >>> cluster_task().is_chief
        False
    """
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        spec = json.loads(text)
        cluster, task_type, index = spec["cluster"], spec["task"]["type"], int(spec["task"]["index"])
        num_workers = sum(len(cluster.get(name, ())) for name in TRAINING_TASKS)
        known = task_type in TRAINING_TASKS and 0 <= index < len(cluster.get(task_type, ()))
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise UsageError(
            f"TF_CONFIG is not a cluster description ({error!r}); expected e.g. {TF_CONFIG_EXAMPLE}"
        ) from None
    if not known:
        raise UsageError(
            f"TF_CONFIG names task {task_type} {index}, which is not a chief or worker listed in its cluster; "
            f"expected e.g. {TF_CONFIG_EXAMPLE}"
        )
    return ClusterTask(task_type, index, num_workers, has_chief_task="chief" in cluster)


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """A ``tf.distribute`` strategy.

    - ``auto``: ``multiworker`` when ``TF_CONFIG`` is set, ``mirrored`` with two or more
      GPUs, else ``default``.
    - ``default``: one device.
    - ``mirrored``: synchronous data parallelism over all GPUs, or over all logical CPU
      devices when there is no GPU (useful for testing).
    - ``multiworker``: ``MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG`` (all GPUs
      of every worker, else its CPU). Created once per process, before TensorFlow runs
      anything else, as TensorFlow requires; its creation waits until every worker is up.

    Raises:
        UsageError: an unknown name, ``TF_CONFIG`` with several workers but a single-process
            strategy, or ``multiworker`` asked for after TensorFlow has started.

    Example:
        >>> make_strategy("mirrored").num_replicas_in_sync  # GPUs, or logical CPUs without GPU
        2
    """
    if name not in STRATEGIES:
        raise UsageError(f"strategy must be one of {STRATEGIES}, not {name!r}")
    task = cluster_task()
    if name == "auto" and task is not None:
        name = "multiworker"
    if task is not None and task.num_workers > 1 and name != "multiworker":
        raise UsageError(
            f"TF_CONFIG describes {task.num_workers} workers, but strategy {name!r} would train each of them "
            f"alone into the same run folder; use {option('strategy', 'auto')} (or multiworker), or unset TF_CONFIG"
        )
    if name == "multiworker":
        return _multiworker()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if gpus:
        return tf.distribute.MirroredStrategy([device.name for device in gpus])
    cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())


@functools.cache
def _multiworker() -> tf.distribute.MultiWorkerMirroredStrategy:
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as error:
        if "program startup" not in str(error):
            raise
        raise UsageError(
            "multi-worker training must create its strategy before TensorFlow runs anything else in the "
            "process: run `cam-keras train` as its own process on every worker, or call "
            "cam_keras.train.make_strategy('multiworker') first in your script"
        ) from None


@contextlib.contextmanager
def worker_run_dir(run_dir: str | os.PathLike, resume: bool, resume_state: Sequence[Path]) -> Iterator[Path]:
    """The folder this process writes its run into: ``run_dir`` on the chief (or alone); on
    another worker of a ``TF_CONFIG`` cluster a private temporary folder, removed on exit.

    With ``resume`` the temporary folder starts as a copy of the chief's ``resume_state``
    (files and folders inside ``run_dir``: config, finished phases, ``BackupAndRestore``
    state), so every worker restores the same epoch and weights. The chief does not change
    them before the workers are up, since it waits for them when it creates the strategy;
    ``run_dir`` must be on a filesystem every worker sees.

    Raises:
        RunFolderError: with ``resume``, a worker finds no run in ``run_dir``.

    Example:
        >>> with worker_run_dir("runs/a", resume=False, resume_state=[]) as folder:
        ...     folder  # runs/a on the chief, /tmp/cam-keras-worker1-... on worker 1
    """
    run_dir = Path(run_dir)
    task = cluster_task()
    if task is None or task.is_chief:
        yield run_dir
        return
    if resume and not any(path.exists() for path in resume_state):
        raise RunFolderError(
            f"{run_dir}: {task} finds no run to resume there; start without "
            f"{option('resume', True)}, and put {option('run_dir')} on a "
            "filesystem that every worker sees"
        )
    folder = Path(tempfile.mkdtemp(prefix=f"cam-keras-{task.task_type}{task.index}-"))
    try:
        for source in resume_state if resume else ():
            target = folder / source.relative_to(run_dir)
            if source.is_dir():
                shutil.copytree(source, target)
            elif source.exists():
                shutil.copy2(source, target)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def fitting(model: keras.Model, strategy: tf.distribute.Strategy) -> Iterator[None]:
    """The scope to call ``model.fit`` in: ``strategy``'s scope, with two changes to Keras 3's
    ``fit``, which otherwise fails across workers (keras-team/keras#20585):

    - Keras builds the metrics, loss and optimizer of a model built under a strategy from
      one input batch averaged over all replicas (``Trainer._maybe_symbolic_build``), which
      cannot be averaged across workers, and which uses up one shuffle of the training data
      (the first epoch would see the second order). The model forgets its strategy for the
      call, so they are built when the train step is traced, inside this scope, as for a
      model built without a strategy: every strategy sees the same epoch orders.
    - Across workers Keras averages each step's metric values over replicas with
      ``reduce(axis=0)``, which fails for scalars; it takes the first replica's values
      instead, which equal every replica's, as metric variables are summed across replicas
      on every update.

    Raises:
        WorkerLostError: another worker stopped (TensorFlow aborts the collectives).
    """
    multiworker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    across_workers = multiworker and num_workers(strategy) > 1
    replicas = first_replica_metrics() if across_workers else contextlib.nullcontext()
    with strategy.scope(), strategy_forgotten(model), replicas:
        try:
            yield
        except tf.errors.UnavailableError as error:
            reason = re.sub(r"\{\{[^}]*\}\}", "", str(error.message)).strip().splitlines()  # drop TF's op prefix
            raise WorkerLostError(
                f"a worker of the training cluster stopped ({' '.join(reason[:2])}); restart every worker "
                f"with {option('resume', True)} to continue from the last checkpoint"
            ) from None


def shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` set to be split among workers by element (``AutoShardPolicy.DATA``).

    Every worker builds the same pipeline (same files, same seeded shuffle) and keeps its own
    replicas' part of every global batch, so one step covers one global batch and one epoch
    sees every image once. (File sharding does not apply: the pipeline reads a list of image
    paths, not record files.)
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def check_global_batch(strategy: tf.distribute.Strategy, batch_size: int) -> None:
    """Check and log how ``batch_size``, the global batch, splits over the replicas.

    Each step takes ``batch_size`` images in total, ``batch_size / replicas`` per replica;
    learning rates are used as configured, never scaled (see README, "Multi-worker training").

    Raises:
        UsageError: fewer images per batch than replicas.
    """
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return
    if batch_size < replicas:
        raise UsageError(
            f"batch_size {batch_size} is the global batch and is smaller than the {replicas} replicas; "
            f"use {option('batch_size')} {replicas} or more (a multiple of {replicas})"
        )
    if batch_size % replicas:
        logger.warning(
            "global batch %d does not split evenly over %d replicas: images on replicas with fewer of them "
            "weigh slightly more; use a multiple of %d",
            batch_size,
            replicas,
            replicas,
        )
    logger.info(
        "%d replicas: global batch %d, %.4g per replica; learning rates as configured (not scaled)",
        replicas,
        batch_size,
        batch_size / replicas,
    )


@contextlib.contextmanager
def precision_policy(mixed: bool) -> Iterator[None]:
    """Build layers under ``mixed_float16`` when ``mixed`` (float16 compute, float32
    variables); the builder keeps the logits layer float32.

    Example:
        >>> with precision_policy(True):
        ...     model = build_model("resnet50", 10, 224)
    """
    previous = keras.config.dtype_policy()
    if mixed:
        keras.config.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@contextlib.contextmanager
def op_determinism(enabled: bool) -> Iterator[None]:
    """Run TensorFlow ops deterministically inside the block when ``enabled``, so that the
    same seed on the same machine trains the same weights (the input pipeline's random
    augmentation included). The previous setting is restored on exit. Deterministic kernels
    can be slower on GPUs; on this project's 2-core CPU the demo's training time did not change.

    Example:
        >>> with op_determinism(True):
        ...     result = fine_tune("photos/", "runs/a", config)
    """
    if not enabled or op_determinism_enabled():
        yield
        return
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        disable_op_determinism()

"""How many render processes a job starts, and the pool that runs its render jobs
(:func:`cam_keras.render.render_job.run_job`)."""

from __future__ import annotations

import concurrent.futures as futures
import logging

from cam_keras.data.batches import default_workers
from cam_keras.jobs.workers import WorkerPool

logger = logging.getLogger(__name__)


def bounded_workers(workers: int | None, jobs: int) -> int:
    """Render processes for ``jobs`` pictures: ``workers`` (``None``: one per core), but no
    more than the cores, whose share each would only divide, nor than the pictures; at least
    one (``0`` stays ``0``: threads in this process). Says so when it lowers a number asked for."""
    cores = default_workers()
    if workers == 0:
        return 0
    if workers is not None and workers > cores:
        logger.warning("workers: %d asked for, %d used (one per core: more would share the cores)", workers, cores)
    return max(1, min(cores if workers is None else workers, cores, jobs))


def render_pool(workers: int) -> futures.Executor:
    """Up to ``workers`` render processes (:class:`~cam_keras.jobs.workers.WorkerPool`:
    fresh interpreters, started as pictures arrive, that share no memory with this one and end
    with it), or two threads in this process when ``workers`` is 0."""
    return futures.ThreadPoolExecutor(2) if workers == 0 else WorkerPool(workers)

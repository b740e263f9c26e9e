"""The one decode -> batch iterator: files decoded ahead in threads, handed out in batches in
their order, within a bound on what waits in memory. The heatmap job, evaluation, training
snapshots and explaining files in a notebook all decode through it (each with
:func:`cam_keras.data.images.decode_fitted`), so they feed a model the same pixels of a file.
"""

from __future__ import annotations

import collections
import concurrent.futures as futures
import math
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from cam_keras.errors import ImageError

Item = TypeVar("Item")
Result = TypeVar("Result")

#: How many batches decoding runs ahead of the batch being handed out (at most).
BATCHES_AHEAD = 3
_END = object()  # what the items iterator gives when it is used up


def default_workers() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def prefetched_batches(
    items: Iterable[Item],
    decode: Callable[[Item], Result],
    batch_size: int,
    *,
    pool: futures.Executor | None = None,
    megapixels: Callable[[Item], float] | None = None,
    budget: float = math.inf,
    skip: Callable[[Item, ImageError], None] | None = None,
) -> Iterator[list[tuple[Item, Result]]]:
    """Yield batches of ``(item, decode(item))`` in the items' order, decoding ahead in
    ``pool`` (else in threads of its own, one per core) up to :data:`BATCHES_AHEAD` batches or
    ``budget`` megapixels of decoded pictures (``megapixels(item)`` each), whichever is less
    (at least one item).

    An item whose decode raises :class:`~cam_keras.errors.ImageError` goes to ``skip(item,
    error)`` and is left out of its batch; without ``skip`` the error is raised.

    Example:
        >>> decode = lambda path: decode_fitted(path, (224, 224), "crop")
        >>> [len(batch) for batch in prefetched_batches(paths, decode, 32)]  # 70 files
        [32, 32, 6]
    """
    if pool is not None:
        yield from _batches(iter(items), decode, batch_size, pool, megapixels, budget, skip)
        return
    own = futures.ThreadPoolExecutor(default_workers())
    try:
        yield from _batches(iter(items), decode, batch_size, own, megapixels, budget, skip)
    finally:
        own.shutdown(wait=True, cancel_futures=True)


def _batches(
    queue: Iterator[Item],
    decode: Callable[[Item], Result],
    batch_size: int,
    pool: futures.Executor,
    megapixels: Callable[[Item], float] | None,
    budget: float,
    skip: Callable[[Item, ImageError], None] | None,
) -> Iterator[list[tuple[Item, Result]]]:
    pending: collections.deque = collections.deque()  # (item, job, megapixels)

    def refill() -> None:
        while len(pending) < BATCHES_AHEAD * batch_size:
            if pending and sum(entry[2] for entry in pending) >= budget:
                return
            item = next(queue, _END)
            if item is _END:
                return
            pending.append((item, pool.submit(decode, item), megapixels(item) if megapixels else 0.0))

    batch: list = []
    refill()
    while pending:
        item, job, _ = pending.popleft()
        refill()
        try:
            batch.append((item, job.result()))
        except ImageError as error:
            if skip is None:
                raise
            skip(item, error)
            continue
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def decode_all(items: Iterable[Item], decode: Callable[[Item], Result]) -> list[Result]:
    """``decode(item)`` of every item, in threads, in order; the first unreadable item raises
    its :class:`~cam_keras.errors.ImageError`.

    Example:
        >>> decode_all(["a.jpg", "b.png"], lambda path: decode_fitted(path, (64, 64)).model_input.shape)
        [(64, 64, 3), (64, 64, 3)]
    """
    items = list(items)
    return [result for batch in prefetched_batches(items, decode, max(1, len(items))) for _, result in batch]

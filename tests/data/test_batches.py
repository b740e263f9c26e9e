"""The one decode -> batch iterator (data/batches.py): order, skips, errors, threads, and how
far it decodes ahead. Decodes here are plain functions (no image files, no TensorFlow)."""

import threading
import time

import pytest

from cam_keras.data.batches import BATCHES_AHEAD, decode_all, prefetched_batches
from cam_keras.errors import ImageError


def unreadable_odd(item: int) -> int:
    """``item * 10``, or the ImageError of an unreadable file for odd items."""
    if item % 2:
        raise ImageError(f"{item}.png", "not a readable image")
    return item * 10


def test_batches_keep_the_items_order_and_skips_leave_no_gap():
    skipped = []
    batches = list(prefetched_batches(range(9), unreadable_odd, 2, skip=lambda item, error: skipped.append(item)))
    assert batches == [[(0, 0), (2, 20)], [(4, 40), (6, 60)], [(8, 80)]]
    assert skipped == [1, 3, 5, 7]


def test_without_skip_the_first_unreadable_item_raises_its_error():
    with pytest.raises(ImageError, match="1.png"):
        list(prefetched_batches(range(4), unreadable_odd, 4))
    with pytest.raises(ImageError, match="1.png"):
        decode_all([0, 2, 1, 3], unreadable_odd)
    assert decode_all([4, 2, 0], unreadable_odd) == [40, 20, 0]


def test_decoding_runs_in_threads_of_its_own_and_ahead_of_the_batch_handed_out():
    threads, started = set(), []

    def decode(item: int) -> int:
        threads.add(threading.current_thread().name)
        started.append(item)
        time.sleep(0.01)
        return item

    batches = prefetched_batches(range(100), decode, 2)
    assert next(batches) == [(0, 0), (1, 1)]
    time.sleep(0.2)  # time enough for the threads to decode whatever was handed to them
    assert threading.current_thread().name not in threads
    # the first batch, and BATCHES_AHEAD batches queued behind it (decoded or cancelled at close)
    assert len(started) <= (1 + BATCHES_AHEAD) * 2
    batches.close()
    time.sleep(0.05)
    assert len(started) <= (1 + BATCHES_AHEAD) * 2  # closing cancels what was queued, decodes nothing more

"""Named points in the training loop where a test can stop the process, to prove that a kill
at any of them resumes to the same result (``tests/test_runs_kill.py``).

Set ``CAM_KERAS_FAULT=POINT`` (or ``POINT@N`` for its N-th visit) to stop there: by
``os._exit(137)`` as a SIGKILL would, or, with ``CAM_KERAS_FAULT_MODE=raise``, by raising
:class:`SimulatedKill` (cheaper, in-process). Unset, :func:`reached` only counts.
"""

from __future__ import annotations

import collections
import os

POINTS = (
    "batch_end",  # after a training step
    "best_saved",  # best.keras replaced, before the epoch is committed
    "snapshot_written",  # a CAM snapshot grid written
    "epoch_end",  # every epoch-end callback done, before the checkpoint
    "checkpoint_written",  # the epoch's weights file written, not yet committed
    "state_committed",  # state.json names the new checkpoint
    "history_written",  # history.csv rewritten from the state
    "phase_end",  # a phase's fit returned
    "model_saved",  # model.keras written
)

_visits: collections.Counter = collections.Counter()


class SimulatedKill(BaseException):
    """Raised at a fault point in ``raise`` mode; a BaseException so no handler swallows it."""


def reset() -> None:
    """Forget the visit counts (between in-process test runs)."""
    _visits.clear()


def reached(point: str) -> None:
    """Stop here if ``CAM_KERAS_FAULT`` names this point (and visit)."""
    _visits[point] += 1
    wanted = os.environ.get("CAM_KERAS_FAULT")
    if not wanted:
        return
    name, _, visit = wanted.partition("@")
    if name == point and _visits[point] == int(visit or 1):
        if os.environ.get("CAM_KERAS_FAULT_MODE") == "raise":
            raise SimulatedKill(f"{point}@{_visits[point]}")
        os._exit(137)

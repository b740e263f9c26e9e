"""Named points in the training loop where a test can stop the process, to prove that a kill
at any of them resumes to the same result (``tests/train/test_faults.py``).

The loop calls :func:`reached` at each point; it calls every function in :data:`HOOKS` with
the point's name. The list is empty unless a test installs a hook (``monkeypatch.setattr(faults,
"HOOKS", [hook])``, or a script that appends one before it calls ``fine_tune``); nothing is read
from the environment.
"""

from __future__ import annotations

from collections.abc import Callable

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

HOOKS: list[Callable[[str], None]] = []


def reached(point: str) -> None:
    """Tell every hook in :data:`HOOKS` that the loop is at ``point`` (one of :data:`POINTS`)."""
    for hook in HOOKS:
        hook(point)

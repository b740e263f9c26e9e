"""Fault hooks for :mod:`cam_keras.train.faults`: the tests stop a training run at a named point."""

import os


class SimulatedKill(BaseException):
    """Raised at a fault point; a BaseException so no handler in the loop swallows it."""


class StopAt:
    """A fault hook: at the ``visit``-th visit of ``point``, raise :class:`SimulatedKill` (or, with
    ``exit``, end the process with status 137 as a SIGKILL would)."""

    def __init__(self, point, visit=1, exit=False):
        self.point, self.visit, self.exit, self.visits = point, visit, exit, 0

    def __call__(self, reached):
        self.visits += reached == self.point
        if reached == self.point and self.visits == self.visit:
            if self.exit:
                os._exit(137)
            raise SimulatedKill(f"{self.point}@{self.visits}")

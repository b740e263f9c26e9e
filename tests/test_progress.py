"""Progress shown where it is read: plain lines at an interval off a terminal, each count once."""

from __future__ import annotations

import io
import sys

import pytest

from cam_keras import progress as progress_module
from cam_keras.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", clock)
    return clock


def test_plain_lines_come_at_the_interval_and_the_last_once(clock):
    stream = io.StringIO()
    shown = Progress(100, "image", "explaining", stream=stream, interval=10.0)
    for done, seconds in [(10, 3.0), (20, 11.0), (30, 15.0), (40, 22.0), (100, 23.0)]:
        clock.now = seconds
        shown.update(done)
    shown.update(100)
    shown.close()
    assert stream.getvalue().splitlines() == [
        "explaining: 20/100 images (20%), 11 s",
        "explaining: 40/100 images (40%), 22 s",
        "explaining: 100/100 images (100%), 23 s",
    ]


def test_a_stage_ended_early_says_where_it_stopped(clock):
    stream = io.StringIO()
    shown = Progress(50, "image", "calibrating", stream=stream)
    clock.now = 2.0
    shown.update(7)
    shown.close()
    shown.close()
    assert stream.getvalue() == "calibrating: 7/50 images (14%), 2 s\n"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_final_bar_is_drawn_once(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdout", Terminal())
    import sys

    shown = Progress(4, "image", "explaining", stream=sys.stdout)
    shown.update(2)
    shown.update(4)
    shown.close()
    assert sys.stdout.getvalue().count("4/4") == 1


def test_a_process_that_imported_ipykernel_is_not_a_notebook(monkeypatch, clock):
    """A test runner that ran a notebook has ipykernel imported but no kernel: plain lines."""
    import types

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    stream = io.StringIO()
    shown = Progress(2, "image", "explaining", stream=stream)
    clock.now = 1.0
    shown.update(2)
    assert stream.getvalue() == "explaining: 2/2 images (100%), 1 s\n"

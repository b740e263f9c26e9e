"""The render worker pool: fresh processes that run pickled calls, report their errors, and
never take the caller down with them."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from cam_keras.render.workers import RemoteTraceback, WorkerDiedError, WorkerPool


def heavy_modules() -> list[str]:
    """The large frameworks a worker process has imported (it should need none)."""
    return sorted(name for name in ("tensorflow", "keras", "matplotlib") if name in sys.modules)


def test_calls_run_in_other_processes_in_submission_order():
    with WorkerPool(2) as pool:
        assert list(pool.map(pow, range(12), [2] * 12)) == [n**2 for n in range(12)]
        pids = {pool.submit(os.getpid).result() for _ in range(4)}
    assert os.getpid() not in pids


def test_a_worker_imports_no_framework():
    with WorkerPool(1) as pool:
        assert pool.submit(heavy_modules).result() == []


def test_an_exception_reaches_the_caller_with_the_workers_traceback():
    with WorkerPool(1) as pool:
        with pytest.raises(ValueError, match="invalid literal") as raised:
            pool.submit(int, "not a number").result()
        assert isinstance(raised.value.__cause__, RemoteTraceback)
        assert "Traceback" in str(raised.value.__cause__)
        assert pool.submit(int, "7").result() == 7  # the worker lives on


def test_printing_in_a_worker_does_not_corrupt_replies():
    with WorkerPool(1) as pool:
        assert pool.submit(print, "a line on the worker's standard output").result() is None
        assert pool.submit(len, "four").result() == 4


def test_an_argument_that_does_not_pickle_fails_only_its_call():
    with WorkerPool(1) as pool:
        with pytest.raises(Exception, match="pickle"):
            pool.submit(len, lambda: None).result()
        assert pool.submit(len, [1, 2]).result() == 2


def test_a_killed_worker_fails_its_call_and_the_pool_refuses_more():
    with WorkerPool(1) as pool:
        pid = pool.submit(os.getpid).result()
        sleeping = pool.submit(time.sleep, 60)
        waiting = pool.submit(len, "queued behind it")
        time.sleep(0.5)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(WorkerDiedError, match="exit code -9"):
            sleeping.result(timeout=30)
        with pytest.raises(WorkerDiedError):
            waiting.result(timeout=30)
        with pytest.raises(WorkerDiedError):
            pool.submit(len, "x")


def test_shutdown_ends_the_worker_processes():
    pool = WorkerPool(2)
    pids = {pool.submit(os.getpid).result() for _ in range(6)}
    pool.shutdown()
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped by the pool: no zombie left
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(len, "x")

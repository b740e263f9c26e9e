"""The render worker pool: fresh processes that run pickled calls, report their errors, and
never take the caller down with them."""

from __future__ import annotations

import concurrent.futures as futures
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cam_keras.errors import CamKerasError, ImageError
from cam_keras.jobs.workers import RemoteTraceback, WorkerDiedError, WorkerPool


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


def raise_image_error() -> None:
    """An error whose constructor takes other arguments than its ``args`` (path, reason)."""
    raise ImageError("photo.png", "truncated")


def test_an_exception_whose_constructor_takes_other_arguments_reaches_the_caller():
    """Issue: ImageError(path, reason) did not unpickle in the caller, which got a RuntimeError
    about an unreadable reply instead of the error and its fields."""
    with WorkerPool(1) as pool:
        with pytest.raises(ImageError) as raised:
            pool.submit(raise_image_error).result()
    assert (str(raised.value), raised.value.path, raised.value.reason) == (
        "photo.png: truncated",
        "photo.png",
        "truncated",
    )
    assert "raise_image_error" in str(raised.value.__cause__)  # the worker's traceback


def test_a_worker_that_ends_by_itself_is_reported_with_its_own_exit_code():
    """Issue: the pool killed a worker that had already ended and reported exit code -9; and
    SystemExit in a call ended the worker instead of reaching the caller."""
    with WorkerPool(1) as pool:
        with pytest.raises(SystemExit):
            pool.submit(sys.exit, 3).result()
        assert pool.submit(len, "alive").result() == 5
        with pytest.raises(WorkerDiedError, match="exit code 3[^0-9]") as raised:
            pool.submit(os._exit, 3).result()
    assert isinstance(raised.value, CamKerasError)  # the command line prints it as one line


def test_a_done_callback_may_submit_while_a_dead_worker_fails_the_queue():
    """Issue: the calls queued behind a dead worker were failed under the pool's lock, so a
    done-callback that submitted again waited for that lock forever."""
    pool = WorkerPool(1)
    refused: list[str] = []
    pid = pool.submit(os.getpid).result()
    running = pool.submit(time.sleep, 60)
    queued = [pool.submit(len, "x") for _ in range(4)]
    for future in queued:
        future.add_done_callback(lambda _: refused.append(pool_refuses(pool)))
    os.kill(pid, signal.SIGKILL)
    assert futures.wait([running, *queued], timeout=30).not_done == set()
    assert refused == ["WorkerDiedError"] * 4
    pool.shutdown()


def pool_refuses(pool: WorkerPool) -> str:
    try:
        pool.submit(len, "y")
    except Exception as error:  # noqa: BLE001
        return type(error).__name__
    return "accepted"


def run_python(*parts: str, flags: tuple[str, ...] = (), cwd=None, env=None, stderr_closed=False):
    """``python FLAGS -c CODE`` (the dedented ``parts``, one after the other) in a new session,
    so the Ctrl-C it sends itself reaches nobody else."""
    command = [sys.executable, *flags, "-c", "\n".join(textwrap.dedent(part) for part in parts)]
    if stderr_closed:
        command = ["sh", "-c", 'exec "$@" 2>&-', "sh", *command]
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, start_new_session=True
    )


REPO = Path(__file__).resolve().parents[2]
IMPORT_FROM_REPO = f"import sys; sys.path.insert(0, {str(REPO)!r})"


def ask_a_worker(expression: str) -> str:
    """Code that prints what a worker evaluates ``expression`` (which may use ``sys``) to."""
    return f"""
    from cam_keras.jobs.workers import WorkerPool
    with WorkerPool(1) as pool:
        print(pool.submit(eval, {f"(lambda sys: {expression})(__import__('sys'))"!r}).result())
    """


@pytest.mark.skipif(sys.platform == "win32", reason="signals a POSIX process group")
def test_ctrl_c_while_the_workers_start_reaches_only_the_caller():
    """Issue: Ctrl-C at the start of a job also interrupted the workers while they imported
    numpy: their tracebacks filled the terminal and the pool reported them as dead."""
    result = run_python(
        IMPORT_FROM_REPO,
        """
        import os, signal, time
        from cam_keras.jobs.workers import WorkerPool
        pool = WorkerPool(2)
        try:
            os.killpg(0, signal.SIGINT)  # what the terminal does on Ctrl-C: the whole foreground group
            time.sleep(5)
        except KeyboardInterrupt:
            print("interrupted")
        print(sorted(pool.map(len, ["a", "bb", "ccc"])))
        pool.shutdown()
        """,
    )
    assert result.stdout.split("\n")[:2] == ["interrupted", "[1, 2, 3]"]
    assert result.stderr == ""


def test_workers_import_the_same_cam_keras_as_the_caller_after_a_change_of_folder(tmp_path):
    """Issue: a caller that imported cam_keras from its working folder (a notebook next to a
    checkout) and then changed folder had workers run another installed copy, or none."""
    copy = tmp_path / "checkout"
    shutil.copytree(REPO / "cam_keras", copy / "cam_keras", ignore=shutil.ignore_patterns("__pycache__"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    moves = f"import os, cam_keras; print(cam_keras.__file__); os.chdir({str(elsewhere)!r})"
    result = run_python(moves, ask_a_worker("__import__('cam_keras').__file__"), cwd=copy)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(copy / "cam_keras" / "__init__.py")] * 2


def test_workers_run_with_the_callers_interpreter_flags(tmp_path):
    """Issue: under `python -I` the workers still read PYTHONPATH and ran the sitecustomize
    found there, code the caller had isolated itself from."""
    (tmp_path / "sitecustomize.py").write_text("MARK = 'ran'\n")
    result = run_python(
        IMPORT_FROM_REPO,
        "sys.path.append(3)  # not a folder: the import system skips it, and so must the pool",
        ask_a_worker("(sys.flags.isolated, getattr(sys.modules.get('sitecustomize'), 'MARK', None))"),
        flags=("-I",),
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(1, None)"


@pytest.mark.skipif(sys.platform == "win32", reason="closes the standard error of a POSIX shell")
def test_workers_run_when_the_caller_has_no_standard_error():
    """Issue: started from a service with standard error closed, every worker died at start.
    What a C library writes to descriptor 2 must not reach the replies either."""
    noisy = "(__import__('os').write(2, b'a C library complains'), len('abc'))[1]"
    result = run_python(IMPORT_FROM_REPO, ask_a_worker(noisy), stderr_closed=True)
    assert (result.returncode, result.stdout.strip()) == (0, "3")


def started_workers(monkeypatch) -> list:
    """The worker processes the pools of this test start, as they start."""
    import cam_keras.jobs.workers as workers

    started, real = [], workers._start_worker
    monkeypatch.setattr(workers, "_start_worker", lambda: started.append(real()) or started[-1])
    return started


def test_a_pool_starts_workers_only_for_work_waiting(monkeypatch):
    """Issue: `--workers 10000` on one image started 10,000 processes and the OOM killer fired."""
    started = started_workers(monkeypatch)
    with WorkerPool(50) as pool:
        assert pool.submit(len, "one").result() == 3
        assert len(started) == 1
        assert sorted(pool.map(len, ["a"] * 6)) == [1] * 6
        assert 1 <= len(started) <= 7


@pytest.mark.slow  # about 2 s of the quick run on 2 cores
def test_heatmap_workers_are_bounded_by_cores_and_images(tmp_path, tiny_model, monkeypatch, caplog):
    import numpy as np
    from PIL import Image

    import cam_keras
    from cam_keras.cli import main
    from cam_keras.jobs.pool import default_workers

    model = cam_keras.save_model(tiny_model, tmp_path / "model.keras")
    folder = tmp_path / "one"
    folder.mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(folder / "x.png")
    started = started_workers(monkeypatch)
    args = ["heatmap", "--model", str(model), "--quiet", "--workers", "8"]
    assert main([*args, str(folder), "--out", str(tmp_path / "out1")]) == 0
    assert len(started) == 1  # one image
    for index in range(11):
        Image.fromarray(np.full((16, 16, 3), index, np.uint8)).save(folder / f"{index}.png")
    started.clear()
    assert main([*args, "--batch-size", "12", str(folder), "--out", str(tmp_path / "out12")]) == 0
    assert 1 <= len(started) <= min(8, default_workers())
    if default_workers() < 8:
        assert f"workers: 8 asked for, {default_workers()} used (one per core" in caplog.text


def test_an_interrupt_inside_a_workers_start_leaves_no_half_started_worker(monkeypatch):
    """Issue: Ctrl-C landing between the starts of a worker's two threads left a sender thread
    the pool did not list. It took calls no reader answered, and the shutdown marker meant for a
    listed worker, whose join then waited forever (a heatmap job hung after Ctrl-C)."""
    import threading

    start = threading.Thread.start

    def interrupted_start(thread):  # Ctrl-C arrives right after a worker's first thread started
        start(thread)
        raise KeyboardInterrupt

    for _ in range(5):  # which idle sender takes a call is the scheduler's choice: try several times
        pool = WorkerPool(1)
        monkeypatch.setattr(threading.Thread, "start", interrupted_start)
        with pytest.raises(KeyboardInterrupt):
            pool.submit(pow, 2, 3)
        monkeypatch.setattr(threading.Thread, "start", start)
        time.sleep(0.2)  # the half-started worker's sender, if it runs, is waiting for calls now
        calls = [pool.submit(pow, 2, n) for n in range(4)]
        assert [call.result(timeout=20) for call in calls] == [1, 2, 4, 8]
        closing = threading.Thread(target=pool.shutdown, daemon=True)
        closing.start()
        closing.join(timeout=20)
        assert not closing.is_alive(), "shutdown waits for a worker that never gets its end marker"

"""A pool of render worker processes that share nothing with the caller.

Each worker is a fresh interpreter (``python -c``) that imports numpy, Pillow and
``cam_keras.render``, never TensorFlow, reads pickled calls from its standard input and writes
pickled results to its standard output, one call at a time.

Why not :class:`concurrent.futures.ProcessPoolExecutor`: with ``fork`` the workers share the
pages of a parent holding TensorFlow and a model, and every page the parent writes afterwards
is copied (measured on a 40-photo ResNet50 job on 2 cores: 25 ms of kernel time per image,
1.3 s a job); with ``spawn`` or ``forkserver`` every worker re-imports the user's
``__main__`` script, which then runs again unless it is guarded.

A worker ends at end of file on its input: when the pool shuts down, and when the caller dies
however it died (even ``SIGKILL``), so no worker outlives its job. Ctrl-C is the caller's to
handle: workers ignore ``SIGINT`` and finish the call they are running.
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

_BOOT = "import sys; sys.path[:] = sys.argv[1:]; import cam_keras.render.workers as w; w.serve()"
_LENGTH = struct.Struct(">Q")  # each message: its length, then its pickle


class WorkerDiedError(RuntimeError):
    """A worker process ended while running a call (killed, or out of memory)."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, chained as its ``__cause__``."""

    def __str__(self) -> str:
        return "\n" + self.args[0]


class WorkerPool(futures.Executor):
    """``workers`` worker processes running submitted calls; an :class:`~concurrent.futures.Executor`.

    ``fn`` and its arguments must pickle (a module-level function such as
    :func:`cam_keras.render.jobs.run_job`). Each worker holds its next call while it runs one,
    so it never waits for the transfer of a picture. An exception raised in a worker reaches
    its future with the worker's traceback as ``__cause__``; a worker that dies fails its calls
    and every call not yet started with :class:`WorkerDiedError`, and the pool takes no more.

    Example:
        >>> with WorkerPool(2) as pool:
        ...     pool.submit(run_job, job).result()
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"a worker pool needs at least one worker, got {workers}")
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._broken: str | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._workers = [_Worker(self) for _ in range(workers)]

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> futures.Future:
        with self._lock:
            if self._broken:
                raise WorkerDiedError(self._broken)
            if self._closed:
                raise RuntimeError("cannot submit calls after the pool has shut down")
            future: futures.Future = futures.Future()
            self._calls.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if cancel_futures:
                self._fail_waiting(None)
            if not self._closed:
                self._closed = True
                for _ in self._workers:
                    self._calls.put(None)
        if wait:
            for worker in self._workers:
                worker.join()

    def _worker_died(self, process: subprocess.Popen) -> WorkerDiedError:
        """Mark the pool broken; fail the calls not yet started; the error for the worker's own."""
        process.kill()
        code = process.wait()
        with self._lock:
            self._broken = self._broken or (
                f"a render worker process (pid {process.pid}) ended with exit code {code} while drawing; "
                "it may have run out of memory: try a smaller --size or --max-side, or fewer --workers"
            )
            self._fail_waiting(WorkerDiedError(self._broken))
        return WorkerDiedError(self._broken)

    def _fail_waiting(self, error: BaseException | None) -> None:
        """Cancel (``error`` None) or fail every call not yet started; keep shutdown markers."""
        markers = 0
        while True:
            try:
                item = self._calls.get_nowait()
            except queue.Empty:
                break
            if item is None:
                markers += 1
            elif error is None:
                item[0].cancel()
            elif item[0].set_running_or_notify_cancel():
                item[0].set_exception(error)
        for _ in range(markers):
            self._calls.put(None)


class _Worker:
    """One worker process and its two threads: one sends it the pool's calls (at most
    ``_AHEAD`` unanswered), the other reads its replies into the calls' futures, in order."""

    _AHEAD = 2

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self.process = _start_worker()
        self.sent: queue.SimpleQueue = queue.SimpleQueue()  # futures awaiting a reply, then None
        self.slots = threading.Semaphore(self._AHEAD)
        self.threads = [
            threading.Thread(target=target, daemon=True) for target in (self._send_calls, self._read_replies)
        ]
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join()
        self.process.wait()

    def _send_calls(self) -> None:
        try:
            while self.slots.acquire() and (item := self.pool._calls.get()) is not None:
                future, fn, args, kwargs = item
                if not future.set_running_or_notify_cancel():
                    self.slots.release()
                    continue
                try:
                    call = pickle.dumps((fn, args, kwargs), pickle.HIGHEST_PROTOCOL)
                except Exception as error:  # noqa: BLE001  (an argument that cannot be sent fails its call only)
                    future.set_exception(error)
                    self.slots.release()
                    continue
                self.sent.put(future)
                _send(self.process.stdin, call)
        except OSError:
            pass  # the worker is gone: the reader reports it
        finally:
            self.sent.put(None)
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # end of file: the worker exits after its last call

    def _read_replies(self) -> None:
        while (future := self.sent.get()) is not None:
            try:
                reply = _receive(self.process.stdout)
            except (OSError, EOFError):
                error = self.pool._worker_died(self.process)
                future.set_exception(error)
                while (future := self.sent.get()) is not None:
                    future.set_exception(error)
                    self.slots.release()
                return
            finally:
                self.slots.release()
            _resolve(future, reply)
        self.process.stdout.close()


def _resolve(future: futures.Future, reply: bytes) -> None:
    try:
        ok, value, remote = pickle.loads(reply)
    except Exception as error:  # noqa: BLE001  (an exception class that does not unpickle)
        future.set_exception(RuntimeError(f"a render worker's reply could not be read: {error!r}"))
        return
    if ok:
        future.set_result(value)
    else:
        value.__cause__ = RemoteTraceback(remote)
        future.set_exception(value)


def _start_worker() -> subprocess.Popen:
    """A worker process with this process' module search path (``PYTHONPATH``, editable installs)."""
    return subprocess.Popen([sys.executable, "-c", _BOOT, *sys.path], stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def _send(stream, data: bytes) -> None:
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream) -> bytes:
    """One message; ``EOFError`` at end of file (the other side is gone)."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError
    (length,) = _LENGTH.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError
    return data


def serve() -> None:
    """A worker's loop: run each pickled ``(fn, args, kwargs)`` read from standard input and
    write ``(ok, result or exception, traceback text)`` to standard output, until end of file.

    Anything the calls print goes to standard error, so it cannot corrupt the replies.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    calls = sys.stdin.buffer
    while True:
        try:
            message = _receive(calls)
        except EOFError:
            return
        try:
            fn, args, kwargs = pickle.loads(message)
            reply = (True, fn(*args, **kwargs), "")
        except Exception as error:  # noqa: BLE001  (sent to the caller, which raises it)
            reply = (False, error, traceback.format_exc())
        try:
            data = pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001  (a result or exception that does not pickle)
            data = pickle.dumps((False, RuntimeError(repr(reply[1])), reply[2]))
        try:
            _send(replies, data)
        except OSError:  # the caller is gone
            return

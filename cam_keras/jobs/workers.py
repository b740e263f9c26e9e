"""A pool of render worker processes that share nothing with the caller.

Each worker is a fresh interpreter (``python -c``) that imports numpy, Pillow and
``cam_keras.render``, never TensorFlow, reads pickled calls from its standard input and writes
pickled results to its standard output, one call at a time.

Why not :class:`concurrent.futures.ProcessPoolExecutor`: with ``fork`` the workers share the
pages of a parent holding TensorFlow and a model, and every page the parent writes afterwards
is copied (measured on a 40-photo ResNet50 job on 2 cores: 25 ms of kernel time per image,
1.3 s a job); with ``spawn`` or ``forkserver`` every worker re-imports the user's
``__main__`` script, which then runs again unless it is guarded.

A worker imports the very ``cam_keras`` package the caller runs (even one found in a working
folder the caller has since left), with the caller's module search path and interpreter flags
(``-I``, ``-E``, ``-W``...). It ends at end of file on its input: when the pool shuts down, and
when the caller dies however it died (even ``SIGKILL``), so no worker outlives its job. Ctrl-C
is the caller's to handle: workers run in their own session (process group on Windows), so the
terminal's ``SIGINT`` never reaches them, even while they start, and they ignore one sent to
them, and ``SIGTERM`` too (Slurm sends it to every process of a preempted job); each finishes
the call it is running and ends when the caller's pool does.
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

from cam_keras.errors import CamKerasError, option

# A worker's first lines: the caller's package (argv[1], its __init__ file; empty when that is
# not a file on disk) is loaded as ``cam_keras`` whatever the search path (argv[2:]) would find.
_BOOT = """\
import importlib.util, os, sys
init, sys.path[:] = sys.argv[1], sys.argv[2:]
if init:
    spec = importlib.util.spec_from_file_location(
        "cam_keras", init, submodule_search_locations=[os.path.dirname(init)]
    )
    sys.modules["cam_keras"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules["cam_keras"])
import cam_keras.jobs.workers
cam_keras.jobs.workers.serve()
"""
_LENGTH = struct.Struct(">Q")  # each message: its length, then its pickle
_EXIT_WAIT = 5.0  # seconds a worker whose output ended gets to exit before it is killed


class WorkerDiedError(CamKerasError, RuntimeError):
    """A worker process ended while running a call (killed, or out of memory)."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, chained as its ``__cause__``."""

    def __str__(self) -> str:
        return "\n" + self.args[0]


class WorkerPool(futures.Executor):
    """Up to ``workers`` worker processes running submitted calls; an :class:`~concurrent.futures.Executor`.
    Workers start as calls arrive (see :meth:`submit`), not with the pool.

    ``fn`` and its arguments must pickle (a module-level function such as
    :func:`cam_keras.render.render_job.run_job`). Each worker holds its next call while it runs one,
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
        self._limit = workers
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._broken: str | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> futures.Future:
        """Queue a call; a worker is started (up to ``workers``) when none runs yet or calls
        are already waiting for one, so a pool never starts more processes than its work needs."""
        with self._lock:
            if self._broken:
                raise WorkerDiedError(self._broken)
            if self._closed:
                raise RuntimeError("cannot submit calls after the pool has shut down")
            if len(self._workers) < self._limit and (not self._workers or self._calls.qsize()):
                worker = _Worker(self)  # its threads wait until it is listed: Ctrl-C in between leaves
                self._workers.append(worker)  # them waiting, never taking calls or a shutdown marker
                worker.listed.set()
            future: futures.Future = futures.Future()
            self._calls.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            waiting = self._take_waiting() if cancel_futures else []
            if not self._closed:
                self._closed = True
                for _ in self._workers:
                    self._calls.put(None)
        for future in waiting:  # outside the lock: a done-callback may call the pool
            future.cancel()
        if wait:
            for worker in self._workers:
                worker.join()

    def _worker_died(self, process: subprocess.Popen) -> WorkerDiedError:
        """Mark the pool broken; fail the calls not yet started; the error for the worker's own."""
        try:
            code = process.wait(_EXIT_WAIT)
        except subprocess.TimeoutExpired:  # its output ended but it lives on: it is of no use
            process.kill()
            code = process.wait()
        with self._lock:
            self._broken = self._broken or _death_message(process.pid, code)
            waiting = self._take_waiting()
        error = WorkerDiedError(self._broken)
        for future in waiting:  # outside the lock: a done-callback may call the pool
            if future.set_running_or_notify_cancel():
                future.set_exception(error)
        return error

    def _take_waiting(self) -> list[futures.Future]:
        """Remove the calls not yet started from the queue (keeping shutdown markers); their futures."""
        taken, markers = [], 0
        while True:
            try:
                item = self._calls.get_nowait()
            except queue.Empty:
                break
            if item is None:
                markers += 1
            else:
                taken.append(item[0])
        for _ in range(markers):
            self._calls.put(None)
        return taken


def _death_message(pid: int, code: int) -> str:
    """What the caller is told when worker ``pid`` ended with exit ``code`` before replying."""
    if code < 0:
        return (
            f"a render worker process (pid {pid}) ended with exit code {code} (killed) while drawing; "
            f"it may have run out of memory: try a smaller {option('size')} or {option('max_side')}, fewer maps "
            f"({option('top_k')}) or fewer {option('workers')}"
        )
    return f"a render worker process (pid {pid}) ended with exit code {code} before it replied; its error is above"


class _Worker:
    """One worker process and its two threads: one sends it the pool's calls (at most
    ``_AHEAD`` unanswered), the other reads its replies into the calls' futures, in order."""

    _AHEAD = 2

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self.listed = threading.Event()  # set once the pool lists this worker: only then do its threads run
        self.process = _start_worker()
        self.sent: queue.SimpleQueue = queue.SimpleQueue()  # futures awaiting a reply, then None
        self.slots = threading.Semaphore(self._AHEAD)
        self.threads = [
            threading.Thread(target=target, daemon=True) for target in (self._send_calls, self._read_replies)
        ]
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.listed.set()  # listed, but Ctrl-C came before the pool released it: let it take its marker
        for thread in self.threads:
            thread.join()
        self.process.wait()

    def _send_calls(self) -> None:
        self.listed.wait()
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
        self.listed.wait()
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
    except Exception as error:  # noqa: BLE001  (a result that does not unpickle here)
        future.set_exception(RuntimeError(f"a render worker's reply could not be read: {error!r}"))
        return
    if ok:
        future.set_result(value)
    else:
        value.__cause__ = RemoteTraceback(remote)
        future.set_exception(value)


def _start_worker() -> subprocess.Popen:
    """A worker process running this process' ``cam_keras``, with its module search path (the
    entries the import system uses: strings) and interpreter flags, out of reach of Ctrl-C."""
    command = [
        sys.executable,
        *subprocess._args_from_interpreter_flags(),  # what multiprocessing passes its workers
        "-c",
        _BOOT,
        _package_init(),
        *(entry for entry in sys.path if isinstance(entry, str)),
    ]
    detached = (
        {"start_new_session": True} if os.name == "posix" else {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    )
    try:
        return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, **detached)
    except OSError as error:
        raise WorkerDiedError(
            f"cannot start a render worker process with {sys.executable!r}: {error.strerror or error}; "
            f"{option('workers', 0)} renders in this process"
        ) from error


def _package_init() -> str:
    """The ``__init__`` file of the ``cam_keras`` this module belongs to ('' when it is not a
    file on disk). Read from ``sys.modules``, where the package is before any of its modules:
    importing it here would make this low module depend on the package's top."""
    init = sys.modules[__name__.partition(".")[0]].__file__ or ""
    return init if os.path.isfile(init) else ""


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

    Anything the calls print goes to standard error (nowhere if the caller has none), so it
    cannot corrupt the replies.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a scheduler's SIGTERM to every process: the caller stops us
    if sys.stderr is None:  # descriptor 2 is closed: fill it, or the replies would get it (and C libraries' messages)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    calls = sys.stdin.buffer
    while True:
        try:
            message = _receive(calls)
        except EOFError:
            return
        try:
            fn, args, kwargs = pickle.loads(message)
            data = _reply(True, fn(*args, **kwargs), "")
        except BaseException as error:  # noqa: BLE001  (SystemExit too: the caller raises it, as with threads)
            data = _reply(False, error, traceback.format_exc())
        try:
            _send(replies, data)
        except OSError:  # the caller is gone
            return


def _reply(ok: bool, value: Any, remote: str) -> bytes:
    """A reply, pickled so that the caller can read it: an exception that would not unpickle
    there (its constructor takes other arguments than its ``args``, like
    :class:`~cam_keras.errors.ImageError`) is sent rebuilt from its args and attributes; failing
    that, and for a result that does not pickle, a RuntimeError with its text is sent."""
    attempts = [(ok, value, remote)] if ok else [(False, value, remote), (False, _Rebuilt(value), remote)]
    for attempt in attempts:
        try:
            data = pickle.dumps(attempt, pickle.HIGHEST_PROTOCOL)
            if not ok:
                pickle.loads(data)  # an error is rare and small: check that it reads back
            return data
        except Exception:  # noqa: BLE001  (try the next, plainer form)
            continue
    text = f"{type(value).__name__}: {value}" if not ok else f"a result that does not pickle: {value!r}"
    return pickle.dumps((False, RuntimeError(text), remote), pickle.HIGHEST_PROTOCOL)


class _Rebuilt:
    """Pickles an exception as its class, args and attributes, never calling its constructor."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __reduce__(self) -> tuple:
        return _rebuild_error, (type(self.error), self.error.args, vars(self.error))


def _rebuild_error(kind: type[BaseException], args: tuple, state: dict) -> BaseException:
    error = kind.__new__(kind, *args)
    error.args = args
    vars(error).update(state)
    return error

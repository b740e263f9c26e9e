"""Six processes racing for a folder lock, for ``test_outdir.py``: ``python lock_race.py KIND
FOLDER TRIALS`` prints, as JSON, what each process got in each trial.

KIND ``stale``: every process takes the folder lock, left by a process that is gone; ``held``
or ``refused``. KIND ``shards``: each opens its own shard of the folder; ``opened`` or the
refusal. A process that got the lock holds it until every other one has tried.
"""

from __future__ import annotations

import json
import multiprocessing
import socket
import subprocess
import sys
from pathlib import Path

from cam_keras.errors import FolderLockedError
from cam_keras.lockfile import LOCK_NAME, FolderLock
from cam_keras.outdir import OutputFolder

PROCESSES = 6


def take_stale_lock(folder: Path, index: int, start, outcomes) -> None:
    start.wait()
    try:
        FolderLock(folder).acquire()
    except FolderLockedError:
        outcomes.put("refused")
        return
    outcomes.put("held")
    start.wait()


def open_a_shard(folder: Path, index: int, start, outcomes) -> None:
    start.wait()
    try:
        with OutputFolder(folder, resume=True, part=f"shard-{index}-of-{PROCESSES}"):
            outcomes.put("opened")
            start.wait()
    except FolderLockedError as error:
        outcomes.put(str(error))


def race(target, folder: Path) -> list[str]:
    context = multiprocessing.get_context("fork")
    start, outcomes = context.Barrier(PROCESSES), context.Queue()
    racers = [context.Process(target=target, args=(folder, index, start, outcomes)) for index in range(PROCESSES)]
    for racer in racers:
        racer.start()
    results = [outcomes.get(timeout=60) for _ in racers]
    start.abort()  # those refused never reach the second wait: let the others go
    for racer in racers:
        racer.join(timeout=60)
    return results


def main(kind: str, root: str, trials: int) -> list[list[str]]:
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True).stdout)
    results = []
    for trial in range(trials):
        folder = Path(root, str(trial))
        folder.mkdir()
        if kind == "stale":
            (folder / LOCK_NAME).write_text(json.dumps({"pid": dead, "host": socket.gethostname()}))
        results.append(race(take_stale_lock if kind == "stale" else open_a_shard, folder))
    return results


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))

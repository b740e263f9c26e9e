"""Progress of a long loop over images, fit for where it is read: Keras' live bar on a terminal
or in a notebook; elsewhere (a log file, a pipe, a batch job's output) plain lines at an
interval, free of the colour codes and backspaces a live bar writes."""

from __future__ import annotations

import sys
import time
from typing import TextIO

PLAIN_INTERVAL = 10.0  # seconds between plain progress lines


def is_live(stream: TextIO) -> bool:
    """True where a bar redrawn in place reads well: a terminal, or standard output in a running
    Jupyter kernel (not merely a process that has imported ``ipykernel``, as a test runner may)."""
    if getattr(stream, "isatty", lambda: False)():
        return True
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return stream is sys.stdout and shell is not None and hasattr(shell, "kernel")


class Progress:
    """Counts ``done`` of ``total`` items towards the end of one stage.

    Each count is shown once: :meth:`update` with a count already shown does nothing, and
    :meth:`close` finishes the bar (or writes the last plain line) only if the last count has
    not been shown as final, so the final bar is never drawn twice.

    Example:
        >>> progress = Progress(3, "image", "explaining", stream=io.StringIO())
        >>> progress.update(3)
        >>> progress.close()
    """

    def __init__(
        self,
        total: int,
        unit: str,
        label: str,
        *,
        stream: TextIO | None = None,
        interval: float = PLAIN_INTERVAL,
    ) -> None:
        self.total, self.unit, self.label, self.interval = total, unit, label, interval
        self.stream = stream or sys.stdout
        self.start = self.last_line = time.monotonic()
        self.shown, self.finished = 0, False
        self.bar = None
        if is_live(self.stream):
            import keras

            self.bar = keras.utils.Progbar(total, unit_name=unit)

    def update(self, done: int) -> None:
        """``done`` items are finished; shown at once on a live bar, else at most every
        ``interval`` seconds and when the last item is done."""
        if done == self.shown or self.finished:
            return
        self.shown, self.finished = done, done >= self.total
        if self.bar is not None:
            self.bar.update(done)
        elif self.finished or time.monotonic() - self.last_line >= self.interval:
            self._line()

    def close(self) -> None:
        """End the display where the count stands (early, after an error or Ctrl-C): once."""
        if self.finished:
            return
        self.finished = True
        if self.bar is not None:
            self.bar.update(self.shown, finalize=True)
        elif self.shown:
            self._line()

    def _line(self) -> None:
        now = time.monotonic()
        percent = f" ({100 * self.shown // self.total}%)" if self.total else ""
        self.stream.write(f"{self.label}: {self.shown}/{self.total} {self.unit}s{percent}, {now - self.start:.0f} s\n")
        self.stream.flush()
        self.last_line = now

"""Show a picture where the user is: inline once in Jupyter, in a window from a script, or,
without a display, in a file whose path is printed."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from cam_keras.render.writers import write_png


def in_notebook() -> bool:
    """True inside a Jupyter kernel (an IPython shell that renders rich output)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def has_window_system() -> bool:
    """True when matplotlib can open a window: an interactive backend and, on Linux, a display."""
    import matplotlib

    backend = matplotlib.get_backend().lower()
    if backend in ("agg", "pdf", "ps", "svg", "pgf", "cairo", "template") or "inline" in backend:
        return False
    return sys.platform != "linux" or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def show_picture(picture: np.ndarray, name: str = "cam-keras") -> Path | None:
    """Display a uint8 ``(h, w, 3)`` picture once.

    Jupyter: inline, once (nothing is returned, so the cell does not draw it a second time).
    A script with a display: a matplotlib window at the picture's own pixel size. Headless:
    the picture is saved as a PNG in the temporary folder, its path printed and returned.
    """
    if in_notebook():
        from IPython.display import display
        from PIL import Image

        display(Image.fromarray(picture))
        return None
    if has_window_system():
        import matplotlib.pyplot as plt

        dpi = 100
        figure = plt.figure(name, figsize=(picture.shape[1] / dpi, picture.shape[0] / dpi), dpi=dpi)
        axes = figure.add_axes((0, 0, 1, 1))
        axes.imshow(picture)
        axes.axis("off")
        plt.show()
        return None
    handle, name_on_disk = tempfile.mkstemp(prefix=f"{name}-", suffix=".png")
    os.close(handle)
    path = write_png(name_on_disk, picture)
    print(f"no display available; saved the picture to {path} (open it, or call .grid() / .save(folder))")
    return path

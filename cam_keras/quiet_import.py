"""Import TensorFlow without its start-up noise on standard error.

TensorFlow 2.21 writes to file descriptor 2, from C++, while it is imported and first looks
for devices, whatever ``TF_CPP_MIN_LOG_LEVEL`` says: absl's notice that logging is not yet
initialized, info lines (oneDNN, CUDA stubs, CPU features) and the failed ``cuInit`` of a
machine without a GPU. :func:`import_quietly` captures the descriptor around an import and writes
back every other line. The command line imports TensorFlow through it, and so does
``cam_keras.<name>`` in a script or notebook when it is the first to load TensorFlow.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType

#: The lines :func:`quietly` drops; any other line is passed on.
TENSORFLOW_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called|I0000 |"
    r"E0000 .*cuInit|To enable the following instructions:"
)


_devices_listed = False


def import_quietly(module: str) -> ModuleType:
    """``importlib.import_module(module)``; if that loads TensorFlow, it also lists the devices
    (where the GPU lines come from), and TensorFlow's noise is dropped from standard error.

    When the caller loaded TensorFlow first (``import keras`` before ``cam_keras``), the lines
    TensorFlow wrote while it was imported are out already; the first device listing (the
    failed ``cuInit`` of a machine without a GPU) still happens here, filtered, unless the
    caller ran TensorFlow already. After that this is a plain import."""
    if sys.stderr is None or (_devices_listed and "tensorflow" in sys.modules):
        return importlib.import_module(module)
    with _standard_error_filtered():
        imported = importlib.import_module(module)
        if "tensorflow" in sys.modules:
            _list_devices()
    return imported


def _list_devices() -> None:
    global _devices_listed
    sys.modules["tensorflow"].config.list_physical_devices()
    _devices_listed = True


@contextlib.contextmanager
def _standard_error_filtered() -> Iterator[None]:
    """Redirect file descriptor 2 to a temporary file; afterwards write back the lines that
    are not :data:`TENSORFLOW_NOISE`."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not TENSORFLOW_NOISE.match(line)))


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose names ``exports`` (name -> module)
    load on first use (PEP 562), so importing the package imports none of its modules.

    Example:
        >>> __getattr__, __dir__ = lazy_exports(__name__, {"fine_tune": "cam_keras.train.loop"})
    """

    def get(name: str) -> object:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def names() -> list[str]:
        return sorted(exports)

    return get, names

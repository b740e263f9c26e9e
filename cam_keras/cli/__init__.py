"""``cam-keras`` command line: thin subcommands that parse, call the library and print."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
import traceback
from collections.abc import Sequence

from cam_keras.cli import demo, evaluate, heatmap, inspect, merge, train
from cam_keras.errors import CamKerasError
from cam_keras.safe_text import for_terminal

SUBCOMMANDS = (demo, train, heatmap, merge, evaluate, inspect)

#: What TensorFlow 2.21 writes to stderr (file descriptor 2, from C++) while it is imported and
#: looks for GPUs, whatever TF_CPP_MIN_LOG_LEVEL says: absl's notice that logging is not yet
#: initialized, info lines (oneDNN, CUDA stubs, CPU features and their continuation line) and
#: the failed cuInit of a machine without a GPU. Any other line is passed on.
TENSORFLOW_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called|I0000 |"
    r"E0000 .*cuInit|To enable the following instructions:"
)


def build_parser() -> argparse.ArgumentParser:
    """The ``cam-keras`` parser with one subparser per subcommand module."""
    parser = argparse.ArgumentParser(
        prog="cam-keras",
        description=(
            "Class Activation Mapping for Keras: train GAP+Dense classifiers, draw heatmaps, score localization."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cam-keras`` console script; returns the exit code.

    Errors a user can cause print one line (``cam-keras COMMAND: error: ...``) and exit 2;
    an I/O failure (disk full, permissions) exits 1; only a bug in cam-keras shows a
    traceback, with a request to report it.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        import_tensorflow_quietly()
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted; files written so far are complete", file=sys.stderr)
        return 130
    except (CamKerasError, FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"cam-keras {args.command}: error: {for_terminal(str(error))}", file=sys.stderr)
        return 2
    except OSError as error:
        print(
            f"cam-keras {args.command}: error: {for_terminal(str(error))}; files written before it are complete",
            file=sys.stderr,
        )
        return 1
    except Exception:
        traceback.print_exc()
        print(
            f"cam-keras {args.command}: internal error: this is a bug in cam-keras; please report it "
            "with the command and the traceback above",
            file=sys.stderr,
        )
        return 70


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and list its devices with file descriptor 2 redirected, then write
    back every captured line except :data:`TENSORFLOW_NOISE`. TF_CPP_MIN_LOG_LEVEL defaults to
    2 (errors only) for the rest of the run; a value the user set is kept."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not TENSORFLOW_NOISE.match(line)))

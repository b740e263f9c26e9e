"""``cam-keras`` command line: thin subcommands that parse, call the library and print."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator, Sequence

from cam_keras.cli import demo, evaluate, gallery, heatmap, inspect, masks, merge, train
from cam_keras.cli.common import check_before_loading
from cam_keras.cli.failures import as_io_error
from cam_keras.cli.flags import error_text
from cam_keras.errors import CamKerasError
from cam_keras.quiet_import import import_quietly
from cam_keras.safe_text import TerminalFormatter, for_terminal, for_terminal_lines

SUBCOMMANDS = (demo, train, heatmap, masks, merge, evaluate, gallery, inspect)


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


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch scheduler's preemption, ``kill``) arrived: handled as Ctrl-C is."""


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread, so a job
    stops as on Ctrl-C: its report says ``interrupted`` with its counts and its workers end."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cam-keras`` console script; returns the exit code.

    Errors a user can cause print one line (``cam-keras COMMAND: error: ...``) and exit 2;
    Ctrl-C exits 130 and SIGTERM 143, after the job recorded how far it got;
    an I/O failure (disk full, permissions, also inside TensorFlow) exits 1; only a bug in
    cam-keras shows a traceback, with a request to report it. Every file or class name that
    reaches the terminal, in errors and warnings alike, is escaped (:mod:`cam_keras.safe_text`).
    """
    handler = logging.StreamHandler()
    handler.setFormatter(TerminalFormatter("%(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    warnings.showwarning = _show_warning
    args = build_parser().parse_args(argv)
    try:
        check_before_loading(args)
        with terminate_as_interrupt():
            import_quietly("tensorflow")
            return args.run(args)
    except Terminated:
        print("terminated (SIGTERM); files written so far are complete", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("interrupted; files written so far are complete", file=sys.stderr)
        return 130
    except (CamKerasError, FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"cam-keras {args.command}: error: {for_terminal(error_text(error))}", file=sys.stderr)
        return 2
    except OSError as error:
        return _io_failure(args.command, error)
    except Exception as error:
        io_error = as_io_error(error)
        if io_error is not None:
            return _io_failure(args.command, io_error)
        traceback.print_exc()
        print(
            f"cam-keras {args.command}: internal error: this is a bug in cam-keras; please report it "
            "with the command and the traceback above",
            file=sys.stderr,
        )
        return 70


def _io_failure(command: str, error: OSError) -> int:
    """Print a failed read or write as one line naming the file; exit code 1."""
    print(
        f"cam-keras {command}: error: {for_terminal(str(error))}; files written before it are complete",
        file=sys.stderr,
    )
    return 1


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python warnings (ours and Keras', which quote folder and layer names) as usual, with
    control characters escaped."""
    text = warnings.formatwarning(message, category, filename, lineno, line)
    (file or sys.stderr).write(for_terminal_lines(text))

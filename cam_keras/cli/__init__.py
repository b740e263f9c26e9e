"""``cam-keras`` command line: thin subcommands that parse, call the library and print."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence

from cam_keras.cli import demo, evaluate, heatmap, inspect, merge, train
from cam_keras.errors import CamKerasError
from cam_keras.quiet_import import import_quietly
from cam_keras.safe_text import for_terminal

SUBCOMMANDS = (demo, train, heatmap, merge, evaluate, inspect)


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
    an I/O failure (disk full, permissions) exits 1; only a bug in cam-keras shows a
    traceback, with a request to report it.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
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

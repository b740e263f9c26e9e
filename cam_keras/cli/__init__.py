"""``cam-keras`` command line: thin subcommands that parse, call the library and print."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence

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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cam-keras`` console script; returns the exit code.

    Errors a user can cause print one line (``cam-keras COMMAND: error: ...``) and exit 2;
    an I/O failure (disk full, permissions) exits 1; only a bug in cam-keras shows a
    traceback, with a request to report it.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        import_quietly("tensorflow")
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

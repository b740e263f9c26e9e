"""``cam-keras inspect``: print what cam-keras understands about a model, or why it cannot explain it."""

from __future__ import annotations

import argparse

from cam_keras.cli.common import add_model_arguments, model_choices
from cam_keras.cli.flags import flag_spelling


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="show how cam-keras reads a model: input, preprocessing, output type, classes, CAM head",
        description=(
            "Print the input shape and channels, the preprocessing and where it came from, the output "
            "type, the class names, the CAM head (feature layer, Dense layer) or why there is none, and "
            "the method `--method auto` uses. Exit 1 if the model cannot be explained as given; a flag that "
            "cannot be applied (--output, --classes, --preprocess...) stops it with one line, as in heatmap."
        ),
    )
    add_model_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cam_keras.api import describe

    report = describe(args.model, flag_spelling, **model_choices(args))
    print(report)
    return 1 if report.problems else 0

"""Arguments and checks shared by several subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, type=Path, help="a .keras model file")
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="allow loading models that contain Python code (Lambda layers); only for trusted files",
    )


def add_output_arguments(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    help_text = "output folder" + (" (default: ./%(default)s)" if default else "")
    parser.add_argument("--out", type=Path, required=default is None, default=default, help=help_text)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a non-empty output folder, replacing only files an earlier cam-keras job wrote there",
    )


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or a positive integer, got {text}")
    return value

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
    parser.add_argument("--out", type=Path, required=default is None, default=default, help="output folder")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty output folder")


def prepare_output_dir(path: Path, overwrite: bool) -> Path:
    """Create ``path``; refuse a non-empty folder unless ``overwrite``."""
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(f"{path} is not empty; pass --overwrite or choose another --out")
    path.mkdir(parents=True, exist_ok=True)
    return path


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value

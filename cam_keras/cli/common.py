"""Arguments and checks shared by several subcommands."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Sequence

from cam_keras.outdir import OutputFolder


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, type=Path, help="a .keras model file")
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="allow loading models that contain Python code (Lambda layers); only for trusted files",
    )


def add_output_arguments(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    parser.add_argument("--out", type=Path, required=default is None, default=default, help="output folder")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a non-empty output folder, replacing only files an earlier cam-keras job wrote there",
    )


def output_folder(args: argparse.Namespace, inputs: Sequence[str | os.PathLike]) -> OutputFolder:
    """The ``--out`` folder of a command, to be entered with ``with``: locked, refused when
    equal to or inside one of ``inputs``, and with ``--overwrite`` replacing only files
    cam-keras wrote (see :class:`cam_keras.outdir.OutputFolder`)."""
    return OutputFolder(args.out, overwrite=args.overwrite, inputs=inputs)


def prepare_output_dir(path: Path, overwrite: bool) -> Path:
    """Create ``path``; refuse a non-empty folder unless ``overwrite``."""
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(f"{path} is not empty; pass --overwrite or choose another --out")
    path.mkdir(parents=True, exist_ok=True)
    return path


def parse_size(text: str) -> str | tuple[int, int]:
    """``original``, ``input`` or ``HxW`` (e.g. ``224x224``)."""
    if text in ("original", "input"):
        return text
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be original, input or HxW, not {text!r}") from None
    return height, width


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value

"""Arguments and checks shared by several subcommands."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from cam_keras.cam.augmentation import COST, MapAugmentation, parse_scales
from cam_keras.choices import RESIZE_POLICIES
from cam_keras.errors import UsageError


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model`` and the choices a model cannot always tell (see ``cam-keras inspect``)."""
    group = parser.add_argument_group("model")
    group.add_argument("--model", required=True, type=Path, help="a .keras or legacy .h5 model file")
    group.add_argument(
        "--unsafe",
        action="store_true",
        help="allow loading models that contain Python code (Lambda layers); only for trusted files",
    )
    group.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE_OR_FILE",
        help="import this module or .py file first, so the custom layers it registers load (repeatable)",
    )
    group.add_argument("--classes", type=Path, metavar="FILE", help="class names, one a line, for models without them")
    group.add_argument("--output", metavar="NAME", help="the output to explain, for models with several outputs")
    group.add_argument(
        "--preprocess",
        metavar="NAME",
        help="what the model takes instead of raw pixels in [0, 255] (default: detected from the model, "
        "see `cam-keras inspect`): none, unit ([0, 1]), symmetric ([-1, 1]), caffe, torch, or a "
        "keras.applications family (resnet50, mobilenet_v2, inception_v3, ...)",
    )
    group.add_argument(
        "--input-size",
        type=parse_input_size,
        metavar="N|WxH",
        help="size to run a dynamic-size model at, width first like --size (default 224x224)",
    )
    group.add_argument(
        "--resize",
        choices=RESIZE_POLICIES,
        help="how pictures of another aspect are fitted to the model input: squash (stretch), crop (centre) "
        "or pad (black borders); default: as the model was trained (saved by `cam-keras train`), else squash",
    )


def check_before_loading(args: argparse.Namespace) -> None:
    """Refuse a missing ``--model`` file or input path before TensorFlow is imported (which
    takes seconds), with the message loading it would give. (A dataset folder is checked later,
    after the flags and the output folder, whose errors come first.)"""
    model = getattr(args, "model", None)
    if model is not None and not os.path.lexists(model):  # a link to nothing is named by the loading
        raise FileNotFoundError(f"{model}: no such model file")
    for item in map(Path, getattr(args, "inputs", None) or ()):
        if not item.exists():
            raise FileNotFoundError(f"{item}: no such file or folder")


def model_choices(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`cam_keras.open_model` from the model arguments, after
    importing the ``--import`` modules."""
    from cam_keras.models.io import import_user_code, read_class_names

    import_user_code(args.imports)
    return {
        "output": args.output,
        "class_names": read_class_names(args.classes) if args.classes else None,
        "preprocess": args.preprocess,
        "input_size": args.input_size,
        "resize": args.resize,
        "safe_mode": not args.unsafe,
    }


def load_model_from_args(args: argparse.Namespace):
    """The ``--model`` file, loaded and configured by the model arguments."""
    from cam_keras.api import open_model

    return open_model(args.model, **model_choices(args))


def parse_input_size(text: str) -> int | tuple[int, int]:
    """``N`` or ``WxH``, width first like ``--size`` (``"128x96"`` is 128 wide): ``N`` or ``(height, width)``."""
    sides = _sides(text)
    if len(sides) not in (1, 2):
        raise argparse.ArgumentTypeError(f"input size must be N or WxH with positive sides, not {text!r}")
    return sides[0] if len(sides) == 1 else (sides[1], sides[0])


def _sides(text: str) -> tuple[int, ...]:
    """Positive integers of ``"N"`` or ``"HxW"``; ``()`` if ``text`` is not that."""
    try:
        sides = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        return ()
    return sides if min(sides) >= 1 else ()


def add_augmentation_arguments(parser: argparse.ArgumentParser) -> None:
    """``--scales`` and ``--flip``: the map augmentation (:class:`MapAugmentation`)."""
    group = parser.add_argument_group("map augmentation (maps of several views, averaged; " + COST + ")")
    group.add_argument(
        "--scales",
        **SCALES,
        help="also map the image resized by these factors, e.g. 0.5,1,1.5,2 (default 1: the image only; "
        "scales other than 1 need a model that runs at other input sizes)",
    )
    group.add_argument(
        "--flip",
        action="store_true",
        help="also map the mirror of each view and mirror its map back (cancels a learned left-right bias)",
    )


def map_augmentation(args: argparse.Namespace) -> MapAugmentation | None:
    """The map augmentation ``--scales`` and ``--flip`` ask for (``None``: the image only)."""
    augmentation = MapAugmentation(scales=args.scales, flip=args.flip)
    return None if augmentation.is_identity else augmentation


def scales_value(text: str) -> tuple[float, ...]:
    """``--scales``' value: comma-separated factors (argparse's error when not numbers)."""
    try:
        return parse_scales(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


#: ``--scales``' type, default and metavar, for each subcommand that takes it (help is theirs).
SCALES = {"type": scales_value, "default": (1.0,), "metavar": "S,S,..."}


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

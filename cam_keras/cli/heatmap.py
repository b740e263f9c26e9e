"""``cam-keras heatmap``: class maps for files, folders and lists of images from a saved model."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cam_keras.cam.methods import AUTO, METHODS
from cam_keras.cli.common import add_model_arguments, add_output_arguments, load_model_from_args
from cam_keras.errors import UsageError
from cam_keras.safe_text import for_terminal, from_csv_cell

if TYPE_CHECKING:
    import keras


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "heatmap",
        help="write heatmap overlays, arrays and predictions for images",
        description=(
            "Write one overlay PNG and one .npz per image, plus predictions.csv and report.json. "
            "CAM is used when the model has a GlobalAveragePooling2D -> Dense head; other "
            "models get Grad-CAM (or --method)."
        ),
    )
    add_model_arguments(parser)
    parser.add_argument("inputs", nargs="*", help="image files or folders (searched recursively)")
    parser.add_argument(
        "--from-list",
        metavar="FILE",
        help="also explain the images listed in FILE, one path per line (- reads standard input): whitespace "
        "around a path is trimmed, lines starting with # are comments (./#x.png names a file), a folder is "
        "searched like a positional one; relative paths resolve against FILE's folder; a missing path is "
        "skipped and reported",
    )
    add_output_arguments(parser)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue a killed or interrupted job in --out: images whose files are complete are skipped",
    )
    parser.add_argument(
        "--shard",
        metavar="K/N",
        help="explain only the K-th of N equal slices of the sorted inputs (an N-task array job, K from 1); "
        "writes predictions-K-of-N.csv and report-K-of-N.json; join them with `cam-keras merge OUT`",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--top-k", type=int, default=1, help="map the K most probable classes (default 1)")
    which.add_argument("--class", dest="class_name", help="map this class (name or index) for every image")
    which.add_argument("--all-classes", action="store_true", help="map every class")
    parser.add_argument(
        "--method",
        default="auto",
        choices=[AUTO, *METHODS],
        help="map method; auto = CAM when the model has a CAM head (see inspect; --target-layer unset), else Grad-CAM",
    )
    parser.add_argument(
        "--target-layer", help="layer for gradient methods (default: last 4-D feature map or transformer tokens)"
    )
    parser.add_argument("--colormap", default="jet", help="matplotlib colormap name (default jet)")
    parser.add_argument("--alpha", type=float, default=0.5, help="heatmap opacity in the overlay, 0 to 1 (default 0.5)")
    _add_picture_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--format", choices=["npz", "mat", "none"], default="npz", help="array file format")
    parser.add_argument("--print-top", type=int, default=5, help="predictions printed and saved per image")
    parser.add_argument("--strict", action="store_true", help="exit non-zero if any file was skipped")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or per-image lines")
    parser.set_defaults(run=run)


def _add_picture_arguments(parser: argparse.ArgumentParser) -> None:
    """How overlays look, how big they are, their format, and how many processes draw them."""
    from cam_keras.render.pictures import NORMALIZATIONS
    from cam_keras.render.sizing import DEFAULT_MAX_SIDE, MAX_SIDE, SIZE_HELP
    from cam_keras.render.writers import IMAGE_FORMATS

    parser.add_argument("--size", help=SIZE_HELP)
    parser.add_argument(
        "--max-side",
        type=int,
        default=DEFAULT_MAX_SIDE,
        help=f"longest overlay side without --size (default {DEFAULT_MAX_SIDE}, at most {MAX_SIDE})",
    )
    parser.add_argument(
        "--image-format", choices=list(IMAGE_FORMATS), default="png", help="overlay file format (default png)"
    )
    parser.add_argument(
        "--normalize",
        choices=NORMALIZATIONS,
        default=NORMALIZATIONS[0],
        help="per-map: each map to its own range; shared: an image's maps on one scale, so a weak class looks cold",
    )
    parser.add_argument("--colorbar", action="store_true", help="draw a colour scale next to each map")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="render processes (default and at most: one per core, and one per image; 0: render in this process)",
    )


def _class_request(args: argparse.Namespace):
    if args.all_classes:
        return "all"
    if args.class_name is None:
        return None
    return int(args.class_name) if args.class_name.isdigit() else args.class_name


def run(args: argparse.Namespace) -> int:
    from cam_keras.cam import make_explainer
    from cam_keras.heatmaps import HeatmapOptions, job_folder, write_heatmaps
    from cam_keras.render.sizing import parse_size
    from cam_keras.shards import Shard

    if not args.inputs and args.from_list is None:
        raise UsageError("give image files or folders, or --from-list FILE")
    size = parse_size(args.size) if args.size else None
    options = HeatmapOptions(
        classes=_class_request(args),
        top_k=args.top_k,
        colormap=args.colormap,
        alpha=args.alpha,
        normalize=args.normalize,
        colorbar=args.colorbar,
        size=size,
        max_side=args.max_side,
        image_format=args.image_format,
        workers=args.workers,
        batch_size=args.batch_size,
        array_format=None if args.format == "none" else args.format,
        report_top=args.print_top,
    ).validate()
    shard = Shard.parse(args.shard) if args.shard else None
    folder = job_folder(args.out, args.inputs, args.from_list, shard, resume=args.resume, overwrite=args.overwrite)
    explainer = make_explainer(load_model_from_args(args), args.method, args.target_layer)
    _warn_if_untrained(args.model, explainer.model)
    report = write_heatmaps(
        explainer,
        args.inputs,
        folder,
        options,
        from_list=args.from_list,
        shard=shard,
        resume=args.resume,
        progress=not args.quiet,
    )
    if not args.quiet:
        _print_predictions(report.table)
    return _summarize(report, args, options)


def _warn_if_untrained(model_file: Path, model: keras.Model) -> None:
    """Say so when training recorded validation accuracy at chance: such maps look
    convincing and mean nothing."""
    from cam_keras.models import model_info
    from cam_keras.train.learning import learning_note, read_training_metadata

    note = learning_note(read_training_metadata(model_file), model_info(model).backbone)
    if note:
        print(f"warning: {for_terminal(str(model_file))}: {note}", file=sys.stderr)


def _print_predictions(table: Path) -> None:
    """One line per image of the predictions table, read back from the file (a job over
    millions of images keeps no rows in memory)."""
    from cam_keras.shards import FS_NAMES

    with open(table, encoding="utf-8", errors=FS_NAMES, newline="") as rows:
        for row in csv.DictReader(rows):
            ranks = [rank for rank in range(1, len(row)) if f"top{rank}" in row]
            ranked = ", ".join(f"{_shown(row[f'top{r}'])} {float(row[f'top{r}_prob']):.3f}" for r in ranks)
            print(f"{_shown(row['path'])}: {ranked}")


def _shown(cell: str) -> str:
    """A name read back from the table as the terminal shows it: the real name (the CSV guard
    ``'`` protects spreadsheets only), escaped."""
    return for_terminal(from_csv_cell(cell))


def _summarize(report, args: argparse.Namespace, options) -> int:
    """The closing line and the exit code: 1 when no image could be explained (or, with
    --strict, when any was skipped)."""
    done = f"; {report.already_done} already done" if report.already_done else ""
    skipped = f"; skipped {len(report.skipped)} (see {report.report_file.name})" if report.skipped else ""
    from cam_keras.render.sizing import describe_size

    at = describe_size(options.size, options.max_side)
    print(
        f"wrote {report.succeeded} of {report.total} heatmaps to {for_terminal(str(args.out))} at {at}{done}{skipped}"
    )
    if report.total == 0 and args.shard:
        print(f"shard {args.shard} has no images: there are fewer inputs than shards")
        return 0
    if report.succeeded + report.already_done == 0:
        print("error: no image could be explained", file=sys.stderr)
        return 1
    return 1 if args.strict and report.skipped else 0

"""``cam-keras heatmap``: class maps for files, folders and lists of images from a saved model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cam_keras.cam.methods import AUTO, METHODS
from cam_keras.cli.common import (
    add_augmentation_arguments,
    add_model_arguments,
    add_output_arguments,
    load_model_from_args,
    map_augmentation,
)
from cam_keras.cli.flags import FLAGS, dashed, flag, flag_spelling
from cam_keras.data.sources import SOURCE_KINDS, ImageSource
from cam_keras.errors import UsageError
from cam_keras.gallery.page import PAGE
from cam_keras.jobs.request import ARRAY_FORMATS, HeatmapOptions, HeatmapRequest
from cam_keras.progress import is_live
from cam_keras.safe_text import for_terminal

if TYPE_CHECKING:
    import keras

    from cam_keras.jobs.report import HeatmapReport

DEFAULTS = HeatmapOptions()  # the flags' defaults are the library's
NO_ARRAYS = "none"  # --format's value for no array files
# the HeatmapOptions fields set from the flag of the same name as given; _request maps the others
_AS_GIVEN = ("top_k", "colormap", "alpha", "normalize", "colorbar", "max_side", "image_format", "workers", "gallery")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "heatmap",
        help="write heatmap overlays, arrays and predictions for images",
        description=(
            "Write one captioned overlay picture (PNG, or --image-format) and one array file (--format) per "
            "image, plus predictions.csv and report.json. "
            "CAM is used when the model has a GlobalAveragePooling2D -> Dense head; other "
            "models get Grad-CAM (or --method)."
        ),
    )
    add_job_arguments(parser)
    _add_map_arguments(parser)
    add_augmentation_arguments(parser)
    _add_picture_arguments(parser)
    add_run_arguments(parser, DEFAULTS.array_format)
    parser.set_defaults(run=run)


def add_run_arguments(parser: argparse.ArgumentParser, array_format: str) -> None:
    """Batch size, array files (default ``array_format``), predictions listed, and what is printed."""
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULTS.batch_size,
        help=f"images per forward pass (default {DEFAULTS.batch_size})",
    )
    parser.add_argument(
        "--format",
        choices=[*ARRAY_FORMATS, NO_ARRAYS],
        default=array_format,
        help=f"file format of each image's raw maps and predictions (default {array_format})",
    )
    parser.add_argument(
        "--print-top",
        type=int,
        default=DEFAULTS.report_top,
        help=f"predictions printed and saved per image (default {DEFAULTS.report_top})",
    )
    parser.add_argument("--strict", action="store_true", help="exit non-zero if any file was skipped")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or per-image lines")


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """The model, the images, the output folder and how a job shares or continues it."""
    add_model_arguments(parser)
    for kind in SOURCE_KINDS.values():  # files and folders, --from-list, ...
        parser.add_argument(kind.name if kind.positional else FLAGS.get(kind.name, dashed(kind.name)), **kind.cli)
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


def _add_map_arguments(parser: argparse.ArgumentParser) -> None:
    """Which classes are mapped, by which method and layer, in which colours."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--top-k", type=int, default=DEFAULTS.top_k, help=f"map the K most probable classes (default {DEFAULTS.top_k})"
    )
    which.add_argument("--class", dest="class_name", help="map this class (name or index) for every image")
    which.add_argument("--all-classes", action="store_true", help="map every class")
    add_method_arguments(parser)
    parser.add_argument(
        "--colormap", default=DEFAULTS.colormap, help=f"matplotlib colormap name (default {DEFAULTS.colormap})"
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=DEFAULTS.alpha,
        help=f"heatmap opacity in the overlay, 0 to 1 (default {DEFAULTS.alpha})",
    )


def add_method_arguments(parser: argparse.ArgumentParser) -> None:
    """The map method and the layer it maps."""
    parser.add_argument(
        "--method",
        default="auto",
        choices=[AUTO, *METHODS],
        help="map method (default auto: CAM when the model has a CAM head, see inspect, and --target-layer is "
        "unset; else Grad-CAM)",
    )
    parser.add_argument(
        "--target-layer", help="layer for gradient methods (default: last 4-D feature map or transformer tokens)"
    )


def _add_picture_arguments(parser: argparse.ArgumentParser) -> None:
    """How overlays look, how big they are, their format, and how many processes draw them."""
    from cam_keras.render.pictures import NORMALIZATIONS
    from cam_keras.render.sizing import MAX_SIDE
    from cam_keras.render.writers import IMAGE_FORMATS

    parser.add_argument(
        "--size",
        help="overlay size: original, input (the model's), WxH (WIDTH first, like PIL and ImageMagick; "
        f"before 0.2 this flag read HxW), or N (longest side N, aspect kept); sides at most {MAX_SIDE}. "
        "Default: aspect kept, longest side at most --max-side",
    )
    parser.add_argument(
        "--max-side",
        type=int,
        default=DEFAULTS.max_side,
        help=f"longest overlay side without --size (default {DEFAULTS.max_side}, at most {MAX_SIDE})",
    )
    parser.add_argument(
        "--image-format",
        choices=list(IMAGE_FORMATS),
        default=DEFAULTS.image_format,
        help=f"overlay file format (default {DEFAULTS.image_format})",
    )
    parser.add_argument(
        "--normalize",
        choices=NORMALIZATIONS,
        default=DEFAULTS.normalize,
        help="shared (default): an image's maps on one scale, so a weak class looks cold; per-map: each map to "
        "its own range, so every map has a hot spot. Captions of several maps say which",
    )
    parser.add_argument("--colorbar", action="store_true", help="draw a colour scale next to each map")
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULTS.workers,
        help="render processes (default and at most: one per core, and one per image; 0: render in this process)",
    )
    parser.add_argument(
        "--gallery",
        action=argparse.BooleanOptionalAction,
        default=DEFAULTS.gallery,
        help="write a thumbnail per image and gallery.html to browse them (default: on; a sharded job's "
        "page is written by `cam-keras merge`)",
    )


def _class_request(args: argparse.Namespace):
    if args.all_classes:
        return "all"
    if args.class_name is None:
        return None
    return int(args.class_name) if args.class_name.isdigit() else args.class_name


def _request(args: argparse.Namespace) -> HeatmapRequest:
    """The job the flags ask for, checked (before the model is loaded)."""
    from cam_keras.render.sizing import parse_size

    options = HeatmapOptions(
        classes=_class_request(args),
        size=parse_size(args.size) if args.size else None,
        array_format=None if args.format == NO_ARRAYS else args.format,
        report_top=args.print_top,
        batch_size=args.batch_size,
        augmentation=map_augmentation(args),
        **{name: getattr(args, name) for name in _AS_GIVEN},
    )
    return job_request(args, options)


def job_request(args: argparse.Namespace, options: HeatmapOptions) -> HeatmapRequest:
    """The job of the flags of :func:`add_job_arguments` with ``options``, checked."""
    from cam_keras.jobs.shards import Shard

    source = ImageSource(**{name: getattr(args, name) for name in SOURCE_KINDS})
    if not source.given:
        raise UsageError(f"give {', or '.join(kind.wanted for kind in SOURCE_KINDS.values())}")
    return HeatmapRequest(
        source,
        args.out,
        options,
        shard=Shard.parse(args.shard) if args.shard else None,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.quiet,
        on_rows=None if args.quiet or is_live(sys.stdout) else _print_rows,
    )


def run(args: argparse.Namespace) -> int:
    from cam_keras.cam import make_explainer
    from cam_keras.jobs.pipeline import run_request

    request = _request(args)
    explainer = make_explainer(load_model_from_args(args), args.method, args.target_layer)
    warn_if_untrained(args.model, explainer.model)
    report = run_request(explainer, request)
    if not args.quiet and request.on_rows is None:  # under a live bar: after it
        _print_rows(report.predictions())
    return summarize(report, args, request.options)


def warn_if_untrained(model_file: Path, model: keras.Model) -> None:
    """Say so when training recorded validation accuracy at chance: such maps look
    convincing and mean nothing."""
    from cam_keras.models import model_info
    from cam_keras.models.learning import learning_note, read_training_metadata

    note = learning_note(read_training_metadata(model_file), model_info(model).backbone, spelling=flag_spelling)
    if note:
        print(f"warning: {for_terminal(str(model_file))}: {note}", file=sys.stderr)


def _print_rows(rows: list[dict]) -> None:
    """One line per image of predictions-table rows."""
    for row in rows:
        ranks = [rank for rank in range(1, len(row)) if f"top{rank}" in row]
        ranked = ", ".join(f"{for_terminal(row[f'top{r}'])} {float(row[f'top{r}_prob']):.3f}" for r in ranks)
        print(f"{for_terminal(row['path'])}: {ranked}", flush=True)


def summarize(report: HeatmapReport, args: argparse.Namespace, options: HeatmapOptions, what: str = "heatmaps") -> int:
    """The closing line and the exit code: 1 when no image could be explained (or, with
    --strict, when any was skipped)."""
    done = f"; {report.already_done} already done" if report.already_done else ""
    skipped = f"; skipped {len(report.skipped)} (see {report.report_file.name})" if report.skipped else ""
    from cam_keras.render.sizing import describe_size

    at = describe_size(options.size, options.max_side) + (f" ({flag('max_side')})" if options.size is None else "")
    print(f"wrote {report.succeeded} of {report.total} {what} to {for_terminal(str(args.out))} at {at}{done}{skipped}")
    if options.writes_gallery and not args.shard:
        print(f"gallery: {for_terminal(str(Path(args.out) / PAGE))}")
    if report.total == 0 and args.shard:
        print(f"shard {args.shard} has no images: there are fewer inputs than shards")
        return 0
    if report.succeeded + report.already_done == 0:
        print("error: no image could be explained", file=sys.stderr)
        return 1
    return 1 if args.strict and report.skipped else 0

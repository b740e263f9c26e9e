"""``cam-keras masks``: a label mask per image from its class maps (a heatmap job writing
pseudo-masks: it shards, resumes and merges as ``heatmap`` does)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cam_keras.cli.common import add_augmentation_arguments, map_augmentation
from cam_keras.cli.evaluate import threshold_fraction
from cam_keras.cli.heatmap import NO_ARRAYS, add_job_arguments, add_method_arguments, add_run_arguments, job_request
from cam_keras.jobs.request import HeatmapOptions
from cam_keras.render.masks import MaskRule
from cam_keras.safe_text import for_terminal

DEFAULTS, RULE = HeatmapOptions(), MaskRule()
CLASS_SOURCES = ("auto", "folders", "predicted")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "masks",
        help="write a pseudo-mask (label PNG) per image from its class maps, optionally calibrated on a few masks",
        description=(
            "Per pixel, over the image's classes: the class of the highest map (normalized to [0, 1]) where it "
            "reaches --foreground, background (0) where every map is below --background, 255 (unsure) between. "
            "Masks are palette PNGs at the original size: class k of the model is k + 1 (report.json's masks "
            "legend). Shards, --resume and `cam-keras merge` work as for heatmap."
        ),
    )
    add_job_arguments(parser)
    parser.add_argument(
        "--class-source",
        choices=CLASS_SOURCES,
        default="auto",
        help="folders: each image's class is its folder's name (DATA_DIR/<class>/<image>); predicted: the "
        "--top-k most probable classes; auto (default): folders when every image lies in a folder named by "
        "a class of the model, else predicted (said on the terminal)",
    )
    parser.add_argument(
        "--top-k", type=int, default=DEFAULTS.top_k, help="predicted classes mapped per image (default 1)"
    )
    parser.add_argument(
        "--min-probability",
        type=threshold_fraction,
        help="with predicted classes, label only those with at least this probability (multi-label models)",
    )
    parser.add_argument(
        "--foreground",
        type=threshold_fraction,
        default=RULE.foreground,
        help=f"a pixel takes its class from this map value up (default {RULE.foreground}, IRN's)",
    )
    parser.add_argument(
        "--background",
        type=threshold_fraction,
        default=RULE.background,
        help=f"a pixel is background below this map value (default {RULE.background}); between: 255",
    )
    parser.add_argument(
        "--calibrate",
        type=Path,
        metavar="MASKS",
        help="ground-truth masks MASKS/<image's output name>.png (palette label PNGs, or black-and-white "
        "with folder classes): --foreground becomes the threshold with the best mIoU on them",
    )
    add_method_arguments(parser)
    add_augmentation_arguments(parser)
    _add_output_format_arguments(parser)
    parser.set_defaults(run=run)


def _add_output_format_arguments(parser: argparse.ArgumentParser) -> None:
    from cam_keras.render.pictures import NORMALIZATIONS

    parser.add_argument(
        "--size",
        default="original",
        help="mask size: original (default: the size of the image and of its ground truth), input, WxH or N, "
        "as heatmap's --size",
    )
    parser.add_argument(
        "--normalize",
        choices=NORMALIZATIONS,
        default=DEFAULTS.normalize,
        help=f"scale of the maps before the thresholds, as for heatmap (default {DEFAULTS.normalize})",
    )
    parser.add_argument("--workers", type=int, default=DEFAULTS.workers, help="as for heatmap")
    add_run_arguments(parser, NO_ARRAYS)


def _options(args: argparse.Namespace, folder_classes: bool) -> HeatmapOptions:
    from cam_keras.jobs.masks import mask_options
    from cam_keras.render.sizing import parse_size

    rule = MaskRule(args.foreground, args.background, args.min_probability)
    return mask_options(
        rule,
        size=parse_size(args.size),
        array_format=None if args.format == NO_ARRAYS else args.format,
        top_k=args.top_k,
        folder_classes=folder_classes,
        augmentation=map_augmentation(args),
        normalize=args.normalize,
        batch_size=args.batch_size,
        workers=args.workers,
        report_top=args.print_top,
    )


def _folder_classes(args: argparse.Namespace, request, class_names) -> bool:
    """Whether classes come from folders; with auto, says which and how to choose."""
    from cam_keras.data.sources import STDIN
    from cam_keras.errors import UsageError
    from cam_keras.jobs.masks import labelled

    if args.class_source != "auto":
        return args.class_source == "folders"
    if args.from_list == STDIN:
        raise UsageError(
            "--class-source auto looks at the images first, and standard input is read once: "
            "pass --class-source folders or predicted with --from-list -"
        )
    folders = labelled(request.source.scan().items, class_names)
    source = "each image's class folder" if folders else f"the top {args.top_k} predicted class(es)"
    print(f"classes: {source} (--class-source folders or predicted to choose)")
    return folders


def run(args: argparse.Namespace) -> int:
    from cam_keras.cam import make_explainer
    from cam_keras.cli.common import load_model_from_args
    from cam_keras.cli.heatmap import summarize, warn_if_untrained
    from cam_keras.jobs.masks import run_masks

    request = job_request(args, _options(args, False))  # checks every flag before the model loads
    explainer = make_explainer(load_model_from_args(args), args.method, args.target_layer)
    warn_if_untrained(args.model, explainer.model)
    options = _options(args, _folder_classes(args, request, explainer.class_names))
    request = job_request(args, options)
    report = run_masks(explainer, request, args.calibrate)
    thresholds = report.notes["masks"]
    chosen = thresholds["thresholds"]
    where = f"calibrated on {chosen['masks']} masks, mIoU {chosen['miou']:.3f}" if "miou" in chosen else "given"
    print(
        f"thresholds: foreground {thresholds['foreground']}, background {thresholds['background']} ({where}); "
        f"legend in {for_terminal(str(report.report_file))}"
    )
    return summarize(report, args, request.options, "masks")

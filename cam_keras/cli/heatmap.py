"""``cam-keras heatmap``: class maps for files and folders from a saved model."""

from __future__ import annotations

import argparse
import sys

from cam_keras.cli.common import (
    add_model_arguments,
    add_output_arguments,
    load_model_from_args,
    parse_size,
    prepare_output_dir,
)


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
    parser.add_argument("inputs", nargs="+", help="image files or folders (searched recursively)")
    add_output_arguments(parser)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--top-k", type=int, default=1, help="map the K most probable classes (default 1)")
    which.add_argument("--class", dest="class_name", help="map this class (name or index) for every image")
    which.add_argument("--all-classes", action="store_true", help="map every class")
    parser.add_argument(
        "--method",
        default="auto",
        choices=["auto", "cam", "gradcam", "gradcam++", "layercam", "scorecam"],
        help="map method; auto = CAM when the model has a GAP->Dense head, else Grad-CAM",
    )
    parser.add_argument("--target-layer", help="layer for gradient methods (default: last 4-D feature map)")
    parser.add_argument("--colormap", default="jet", help="matplotlib colormap name (default jet)")
    parser.add_argument("--alpha", type=float, default=0.5, help="heatmap opacity in the overlay (default 0.5)")
    parser.add_argument("--size", type=parse_size, default="original", help="original, input or HxW (default original)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--format", choices=["npz", "mat", "none"], default="npz", help="array file format")
    parser.add_argument("--print-top", type=int, default=5, help="predictions printed and saved per image")
    parser.add_argument("--strict", action="store_true", help="exit non-zero if any file was skipped")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or per-image lines")
    parser.set_defaults(run=run)


def _class_request(args: argparse.Namespace):
    if args.all_classes:
        return "all"
    if args.class_name is None:
        return None
    return int(args.class_name) if args.class_name.isdigit() else args.class_name


def run(args: argparse.Namespace) -> int:
    from cam_keras.cam import make_explainer
    from cam_keras.heatmaps import HeatmapOptions, write_heatmaps

    out_dir = prepare_output_dir(args.out, args.overwrite)
    model = load_model_from_args(args)
    options = HeatmapOptions(
        classes=_class_request(args),
        top_k=args.top_k,
        colormap=args.colormap,
        alpha=args.alpha,
        size=args.size,
        batch_size=args.batch_size,
        array_format=None if args.format == "none" else args.format,
        report_top=args.print_top,
    )
    explainer = make_explainer(model, args.method, args.target_layer)
    report = write_heatmaps(explainer, args.inputs, out_dir, options, progress=not args.quiet)
    if not args.quiet:
        for row in report.rows:
            ranked = ", ".join(f"{row[f'top{r}']} {row[f'top{r}_prob']:.3f}" for r in range(1, args.print_top + 1) if f"top{r}" in row)
            print(f"{row['path']}: {ranked}")
    print(f"wrote {report.succeeded} of {report.total} heatmaps to {out_dir}", end="")
    print(f"; skipped {len(report.skipped)} (see report.json)" if report.skipped else "")
    if report.succeeded == 0:
        print("error: no image could be explained", file=sys.stderr)
        return 1
    return 1 if args.strict and report.skipped else 0

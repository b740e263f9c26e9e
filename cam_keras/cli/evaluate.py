"""``cam-keras evaluate``: localization and classification metrics on a boxed dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from cam_keras.cli.common import add_model_arguments, add_output_arguments, load_model_from_args, prepare_output_dir


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score CAM localization (top-1/GT-known loc, MaxBoxAccV2, PxAP, pointing game)",
        description=(
            "Boxes: the largest connected region of the map above THRESHOLD x its maximum "
            "(Zhou et al., 2016); a box is correct at IoU >= 0.5 with any true box."
        ),
    )
    add_model_arguments(parser)
    parser.add_argument("data_dir", type=Path, help="DATA_DIR/<class>/<image> with DATA_DIR/boxes.csv")
    parser.add_argument("--boxes", type=Path, help="boxes CSV (default DATA_DIR/boxes.csv)")
    parser.add_argument("--masks", type=Path, help="folder of object masks with the same relative paths (adds PxAP)")
    parser.add_argument("--threshold", type=float, default=0.2, help="box threshold as a fraction of the map max (default 0.2)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--samples", type=int, default=16, help="overlays with boxes to draw")
    parser.add_argument(
        "--faithfulness", type=int, metavar="N", default=0,
        help="also compute deletion/insertion AUC and average drop/increase on N images",
    )
    parser.add_argument(
        "--method", default="cam", choices=["cam", "gradcam", "gradcam++", "layercam", "scorecam"], help="map method (default cam)"
    )
    parser.add_argument("--target-layer", help="layer for gradient methods")
    add_output_arguments(parser, default="evaluation")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cam_keras.cam import make_explainer
    from cam_keras.evaluate import evaluate_faithfulness, evaluate_localization, format_summary, write_evaluation

    out_dir = prepare_output_dir(args.out, args.overwrite)
    explainer = make_explainer(load_model_from_args(args), args.method, args.target_layer)
    evaluation = evaluate_localization(
        explainer, args.data_dir, args.boxes, args.masks, threshold=args.threshold, batch_size=args.batch_size
    )
    if args.faithfulness:
        evaluation.summary.update(evaluate_faithfulness(explainer, args.data_dir, limit=args.faithfulness).as_dict())
    paths = write_evaluation(evaluation, explainer, out_dir, samples=args.samples)
    print(format_summary(evaluation.summary))
    if evaluation.skipped:
        print(f"  not scored: {len(evaluation.skipped)} file(s), listed in {paths['report']}")
    for label, path in paths.items():
        print(f"{label:>10}: {path}")
    return 0

"""``cam-keras evaluate``: classification and localization metrics on a class-per-folder set."""

from __future__ import annotations

import argparse
from pathlib import Path

from cam_keras.cam.methods import METHODS
from cam_keras.cam.postprocessing import POSTPROCESSING, MapPostprocessing
from cam_keras.cli.common import (
    add_augmentation_arguments,
    add_model_arguments,
    add_output_arguments,
    load_model_from_args,
    map_augmentation,
    non_negative_int,
    positive_int,
)
from cam_keras.render.masks import MaskRule
from cam_keras.safe_text import for_terminal

AUTO = "auto"


def threshold_value(text: str) -> float | str:
    """``auto`` or a fraction of the map maximum in [0, 1]."""
    if text == AUTO:
        return text
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected auto or a fraction between 0 and 1, got {text!r}")
    return value


def threshold_fraction(text: str) -> float:
    """A fraction of the map's range in [0, 1]."""
    value = threshold_value(text)
    if value == AUTO:
        raise argparse.ArgumentTypeError("expected a fraction between 0 and 1, got 'auto'")
    return value


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score classification and CAM localization (top-1/GT-known loc, MaxBoxAccV2, PxAP, pointing game)",
        description=(
            "With boxes (DATA_DIR/boxes.csv or --boxes): localization. Boxes: the largest connected region of "
            "the map above THRESHOLD x its maximum (Zhou et al., 2016); a box is correct at IoU >= 0.5 with any "
            "true box. MaxBoxAccV2 (Choe et al., CVPR 2020) takes the best threshold per IoU level and needs no "
            "threshold. Without boxes: a classification report (accuracy, per-class precision/recall, confusion "
            "matrix)."
        ),
    )
    add_model_arguments(parser)
    parser.add_argument(
        "data_dir", type=Path, help="DATA_DIR/<class>/<image>, with DATA_DIR/boxes.csv for localization"
    )
    _add_truth_arguments(parser)
    parser.add_argument("--batch-size", type=positive_int, default=32, help="images per batch (default 32)")
    _add_reporting_arguments(parser)
    _add_map_arguments(parser)
    add_output_arguments(parser, default="evaluation")
    parser.set_defaults(run=run)


def _add_truth_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the true boxes and masks are, and how the box threshold is chosen."""
    parser.add_argument("--boxes", type=Path, help="boxes CSV path,xmin,ymin,xmax,ymax (default DATA_DIR/boxes.csv)")
    parser.add_argument(
        "--masks", type=Path, help="folder of object masks with the same relative paths (adds PxAP and mIoU)"
    )
    parser.add_argument(
        "--mask-threshold",
        type=threshold_fraction,
        help="mIoU's pseudo-masks: the true class where its map reaches this fraction of its range, else "
        f"background (default {MaskRule.foreground}, as cam-keras masks' foreground); the best threshold is "
        "reported too",
    )
    parser.add_argument(
        "--threshold",
        type=threshold_value,
        default=AUTO,
        help="box threshold as a fraction of the map max, or auto (default): chosen on --calibrate when given, "
        "else the CAM paper's convention 0.2, reported as such",
    )
    parser.add_argument(
        "--calibrate",
        type=Path,
        metavar="DIR",
        help="a held-out calibration split DIR/<class>/<image> with DIR/boxes.csv: --threshold auto takes the "
        "threshold with the best GT-known localization there (Choe et al., CVPR 2020)",
    )


def _add_reporting_arguments(parser: argparse.ArgumentParser) -> None:
    """What the evaluation draws and computes besides its scores."""
    parser.add_argument(
        "--samples", type=non_negative_int, default=16, help="overlays to draw, spread over classes (default 16)"
    )
    parser.add_argument(
        "--gallery",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write a thumbnail per image and gallery.html to browse them with their IoU and boxes (default: on)",
    )
    parser.add_argument(
        "--faithfulness",
        type=non_negative_int,
        metavar="N",
        default=0,
        help="also compute deletion/insertion AUC and average drop/increase on N images (default 0: off)",
    )


def _add_map_arguments(parser: argparse.ArgumentParser) -> None:
    """How the maps are made and post-processed."""
    parser.add_argument("--method", default="cam", choices=list(METHODS), help="map method (default cam)")
    parser.add_argument("--target-layer", help="layer for gradient methods")
    add_augmentation_arguments(parser)
    _add_postprocessing_arguments(parser)


def _add_postprocessing_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per :data:`POSTPROCESSING` option, recorded in report.json under ``maps``."""
    group = parser.add_argument_group("map post-processing (off by default)")
    group.add_argument(
        "--clamp-negative-weights", action="store_true", help=POSTPROCESSING["clamp_negative_weights"] + "; CAM only"
    )
    group.add_argument("--percentile", type=float, metavar="P", help=POSTPROCESSING["percentile"] + ", e.g. 99")


def _postprocessing(args: argparse.Namespace) -> MapPostprocessing:
    return MapPostprocessing(clamp_negative_weights=args.clamp_negative_weights, percentile=args.percentile)


def _threshold(args: argparse.Namespace, explainer) -> tuple[float, str]:
    """The box threshold and where it came from."""
    from cam_keras.data.images import find_images
    from cam_keras.data.overlap import warn_if_shared
    from cam_keras.evaluate import calibrate_threshold
    from cam_keras.evaluate.metrics import PAPER_THRESHOLD

    if args.threshold != AUTO:
        return args.threshold, "given with --threshold"
    if args.calibrate is None:
        return PAPER_THRESHOLD, "the CAM paper's convention (Zhou et al., 2016), not calibrated"
    warn_if_shared(
        find_images([args.calibrate]),
        find_images([args.data_dir]),
        "--calibrate",
        "a threshold chosen on the images scored flatters them",
    )
    print(f"calibrating the box threshold on {for_terminal(str(args.calibrate))}", flush=True)
    threshold = calibrate_threshold(
        explainer, args.calibrate, batch_size=args.batch_size, postprocessing=_postprocessing(args), progress=True
    )
    return threshold, f"calibrated on {args.calibrate} (best GT-known localization; Choe et al., CVPR 2020)"


def run(args: argparse.Namespace) -> int:
    from cam_keras.cam import make_explainer
    from cam_keras.evaluate import (
        evaluate_classification,
        evaluate_faithfulness,
        evaluate_localization,
        write_evaluation,
    )
    from cam_keras.gallery.page import FILES as GALLERY_FILES
    from cam_keras.outdir import OutputFolder

    localize = args.boxes is not None or (args.data_dir / "boxes.csv").is_file()
    _check_flags(args, localize)
    augmentation, postprocessing = map_augmentation(args), _postprocessing(args)
    inputs = [path for path in (args.data_dir, args.model, args.boxes, args.masks, args.calibrate) if path]
    with OutputFolder(args.out, overwrite=args.overwrite, inputs=inputs) as out:
        out.check_free(GALLERY_FILES if args.gallery else ())  # not after the evaluation's work
        model = load_model_from_args(args)
        explainer = make_explainer(model, args.method, args.target_layer, augmentation=augmentation)
        if localize:
            threshold, source = _threshold(args, explainer)
            evaluation = evaluate_localization(
                explainer,
                args.data_dir,
                args.boxes,
                args.masks,
                threshold=threshold,
                batch_size=args.batch_size,
                samples=args.samples,
                mask_threshold=MaskRule.foreground if args.mask_threshold is None else args.mask_threshold,
                postprocessing=postprocessing,
            )
            evaluation.summary["threshold_source"] = source
        else:
            print(
                f"{for_terminal(str(args.data_dir))} has no boxes.csv: classification report only "
                "(pass --boxes FILE for localization)"
            )
            evaluation = evaluate_classification(
                explainer, args.data_dir, batch_size=args.batch_size, samples=args.samples
            )
        if args.faithfulness:
            print(f"deletion/insertion faithfulness on up to {args.faithfulness} images", flush=True)
            scores = evaluate_faithfulness(explainer, args.data_dir, limit=args.faithfulness)
            evaluation.summary.update(scores.as_dict())
        paths = write_evaluation(evaluation, out, gallery=args.gallery)
    _print_results(args, evaluation, paths, localize)
    return 0


def _check_flags(args: argparse.Namespace, localize: bool) -> None:
    """Refuse flags that score localization without boxes, and two ways to set the threshold."""
    from cam_keras.errors import UsageError

    needs_boxes = [
        flag
        for flag, given in [
            ("--masks", args.masks),
            ("--calibrate", args.calibrate),
            ("--threshold", args.threshold != AUTO),
            ("--clamp-negative-weights", args.clamp_negative_weights),
            ("--percentile", args.percentile is not None),
        ]
        if given
    ]
    if not localize and needs_boxes:
        raise UsageError(
            f"{', '.join(needs_boxes)} score localization, but {args.data_dir} has no boxes.csv; "
            "pass --boxes FILE, or drop them for a classification report"
        )
    if args.mask_threshold is not None and args.masks is None:
        raise UsageError("--mask-threshold cuts the maps scored against --masks; pass --masks DIR, or drop it")
    if args.calibrate is not None and args.threshold != AUTO:
        raise UsageError("--calibrate chooses the threshold; drop --threshold or pass --threshold auto")
    if args.clamp_negative_weights and args.method != "cam":
        raise UsageError(
            f"--clamp-negative-weights clamps CAM's class weights; method {args.method} has none (use --method cam)"
        )


def _print_results(args: argparse.Namespace, evaluation, paths: dict, localize: bool) -> None:
    """The metrics, the threshold curve and the files written, names escaped. Without a
    calibrated threshold the scores that need none come first, then those at the paper's
    convention, said to be one."""
    from cam_keras.evaluate import format_summary
    from cam_keras.evaluate.report import format_curve

    guessed = localize and args.threshold == AUTO and args.calibrate is None
    if localize:
        _print_maps(evaluation.maps)
    if guessed:
        _print_threshold_free(evaluation)
    print(format_summary(evaluation.summary))
    if localize and not guessed:
        print("box accuracy by map threshold (GT-known localization; all thresholds in threshold_curve.csv):")
        print(format_curve(evaluation.threshold_curve))
        _print_at_paper_threshold(evaluation)
    if guessed:
        print(
            "note: no threshold was calibrated for this model, so top-1 and GT-known localization above use "
            "the CAM paper's 0.2, a convention that often draws boxes too large or too small; MaxBoxAccV2 "
            "does not depend on it. Calibrate on a few labelled boxes (Choe et al., CVPR 2020: a few boxes "
            "choose the threshold better than any guess): --calibrate DIR, a held-out split with its own boxes.csv."
        )
    if evaluation.skipped:
        print(f"  not scored: {len(evaluation.skipped)} file(s), listed in {for_terminal(str(paths['report']))}")
    for label, path in paths.items():
        print(f"{label:>15}: {for_terminal(str(path))}")


def _print_at_paper_threshold(evaluation) -> None:
    """The paper's box metrics at its 20% threshold, from the same pass, beside a chosen threshold."""
    from cam_keras.evaluate.metrics import PAPER_THRESHOLD

    if evaluation.summary["threshold"] != PAPER_THRESHOLD:
        paper = evaluation.at_threshold(PAPER_THRESHOLD)
        print(
            f"at the CAM paper's threshold {PAPER_THRESHOLD:.2f}: top-1 loc {paper['top1_loc']:.4f}, GT-known loc "
            f"{paper['gt_known_loc']:.4f}, mean IoU {paper['mean_iou_gt_known']:.4f}"
        )


def _print_threshold_free(evaluation) -> None:
    """MaxBoxAccV2 and the accuracy at each threshold, before any score at a guessed threshold."""
    from cam_keras.evaluate.report import format_curve

    summary = evaluation.summary
    print("without a calibrated threshold (see the note below), the scores that need none:")
    print(f"  MaxBoxAccV2 (any threshold)  {summary['maxboxacc_v2']:.4f}")
    print(
        f"  best threshold on this set   {summary['best_threshold']:.2f} (chosen on the images scored, "
        "so optimistic: use it for comparison, not as a calibrated result)"
    )
    print("box accuracy by map threshold (GT-known localization; all thresholds in threshold_curve.csv):")
    print(format_curve(evaluation.threshold_curve))
    print(f"at the CAM paper's threshold {summary['threshold']:.2f} (a convention, not fitted to this model):")


def _print_maps(settings: dict) -> None:
    """How the maps were made, when not plainly."""
    from cam_keras.cam.augmentation import MapAugmentation
    from cam_keras.cam.postprocessing import MapPostprocessing

    augmentation = MapAugmentation(scales=settings["augmentation"]["scales"], flip=settings["augmentation"]["flip"])
    postprocessing = MapPostprocessing(settings["clamp_negative_weights"], settings["percentile"])
    changes = [augmentation.describe()] if not augmentation.is_identity else []
    changes += [postprocessing.describe()] if postprocessing.describe() else []
    if changes:
        print(f"maps: {settings['method']}, {'; '.join(changes)}")

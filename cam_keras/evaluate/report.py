"""Write an evaluation: JSON report, per-image CSV, overlays with boxes, best/worst figure."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cam_keras.cam import BaseCAM
from cam_keras.evaluate.dataset import Evaluation
from cam_keras.render import caption, draw_boxes, grid, write_csv, write_json, write_png
from cam_keras.render.overlay import TRUE_BOX_COLOR

ROW_FIELDS = [
    "path", "true_class", "predicted_class", "correct_top1", "predicted_iou", "true_class_iou",
    "top1_loc", "gt_known_loc", "pointing_hit", "predicted_box", "true_class_box",
]


def boxed_overlay(explainer: BaseCAM, row: dict, truths: list, class_names: tuple[str, ...]) -> np.ndarray:
    """The predicted class's map over the image, its box in green, true boxes in red, captioned.

    Example:
        >>> write_png("row.png", boxed_overlay(CAM(model), evaluation.rows[0], [(4, 4, 30, 30)], ("cat", "dog")))
    """
    explanation = explainer([row["path"]], classes=[row["predicted_class"]])
    picture = draw_boxes(explanation.overlay(0), [row["predicted_box"]])
    picture = draw_boxes(picture, truths, color=TRUE_BOX_COLOR)
    verdict = "ok" if row["top1_loc"] else "miss"
    text = f"{class_names[row['predicted_class']]} IoU {row['predicted_iou']:.2f} {verdict}"
    return caption(picture, text)


def write_evaluation(
    evaluation: Evaluation, explainer: BaseCAM, out_dir: str | os.PathLike, samples: int = 16, extremes: int = 4
) -> dict[str, Path]:
    """Write ``report.json``, ``per_image.csv``, ``overlays/`` (a spread of ``samples``
    images) and ``best_worst.png`` (the ``extremes`` best and worst true-class IoUs).

    Example:
        >>> explainer = CAM(model)
        >>> paths = write_evaluation(evaluate_localization(explainer, "data/test"), explainer, "evaluation/")
    """
    out_dir = Path(out_dir)
    names = explainer.class_names
    report = {"metrics": evaluation.summary, "class_names": list(names), "skipped": evaluation.skipped}
    paths = {"report": write_json(out_dir / "report.json", report)}
    table = [{key: row[key] for key in ROW_FIELDS} for row in evaluation.rows]
    for row in table:
        row["true_class"], row["predicted_class"] = names[row["true_class"]], names[row["predicted_class"]]
    paths["per_image"] = write_csv(out_dir / "per_image.csv", table, ROW_FIELDS)
    step = max(1, len(evaluation.rows) // max(1, samples))
    for row in evaluation.rows[::step][:samples]:
        picture = boxed_overlay(explainer, row, evaluation.boxes[row["relative_path"]], names)
        write_png(out_dir / "overlays" / Path(row["relative_path"]).with_suffix(".png"), picture)
    paths["overlays"] = out_dir / "overlays"
    ranked = sorted(evaluation.rows, key=lambda row: row["true_class_iou"])
    chosen = ranked[::-1][:extremes] + ranked[:extremes]
    tiles = [boxed_overlay(explainer, row, evaluation.boxes[row["relative_path"]], names) for row in chosen]
    paths["best_worst"] = write_png(out_dir / "best_worst.png", grid(tiles, columns=max(1, extremes), tile_size=160))
    return paths


def format_summary(summary: dict) -> str:
    """The headline metrics as an aligned text table.

    Example:
        >>> print(format_summary(evaluation.summary))
    """
    keys = [
        ("images", "images"), ("top1_cls", "top-1 classification"), ("top5_cls", "top-5 classification"),
        ("top1_loc", "top-1 localization"), ("top5_loc", "top-5 localization"), ("gt_known_loc", "GT-known localization"),
        ("mean_iou_gt_known", "mean IoU (true class)"), ("maxboxacc_v2", "MaxBoxAccV2"), ("pointing_game", "pointing game"),
        ("pxap", "PxAP"), ("threshold", "box threshold"), ("best_threshold", "best threshold here"),
        ("deletion_auc", "deletion AUC (lower=better)"), ("insertion_auc", "insertion AUC"),
        ("average_drop", "average drop"), ("average_increase", "average increase"),
    ]
    lines = []
    for key, label in keys:
        if key in summary:
            value = summary[key]
            lines.append(f"  {label:<28} {value:.4f}" if isinstance(value, float) else f"  {label:<28} {value}")
    return "\n".join(lines)

"""Write an evaluation: JSON report, tables, overlays with boxes, best/worst and confusion figures.

Nothing here runs the explainer again: overlays are drawn from the maps
:func:`~cam_keras.evaluate.dataset.evaluate_localization` kept from its single pass.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cam_keras.data.images import decode_image
from cam_keras.data.resize import fit_image
from cam_keras.evaluate.dataset import Evaluation
from cam_keras.evaluate.faithfulness import FaithfulnessScores
from cam_keras.evaluate.gallery import GALLERY_FIELDS, gallery_columns, write_evaluation_gallery, write_thumbnail_of
from cam_keras.evaluate.metrics import ClassificationMetrics, summary_labels
from cam_keras.naming import output_names
from cam_keras.outdir import OutputFolder
from cam_keras.records import write_csv, write_json
from cam_keras.render import caption, draw_boxes, grid, overlay, write_png
from cam_keras.render.overlay import TRUE_BOX_COLOR
from cam_keras.render.pictures import scale_maps_to
from cam_keras.render.sizing import DEFAULT_MAX_SIDE, output_size
from cam_keras.safe_text import for_terminal

SMALLEST_OVERLAY = 160  # px, longest side: a smaller image is drawn larger, so its caption and boxes read
CURVE_STEP = 10  # thresholds 0.0, 0.1, ..., 0.9 in the printed curve


def tile_caption(evaluation: Evaluation, row: dict, label: str = "", true_class: bool = False) -> str:
    """``"<label>class IoU 0.83 ok"`` for a localization row (the true class's box when
    ``true_class``, else the predicted one), ``"<label>class ok"`` for a classification row.

    Example:
        >>> tile_caption(evaluation, evaluation.rows[0], "best: ", true_class=True)
        'best: circle IoU 0.91 ok'
    """
    names = evaluation.class_names
    if "predicted_class_map_box" not in row:
        verdict = "ok" if row["correct_top1"] else f"miss (true {names[row['true_class']]})"
        return f"{label}{names[row['predicted_class']]} {verdict}"
    if true_class:
        shown, iou, hit = row["true_class"], row["true_class_iou"], row["gt_known_loc"]
    else:
        shown, iou, hit = row["predicted_class"], row["predicted_iou"], row["top1_loc"]
    return f"{label}{names[shown]} IoU {iou:.2f} {'ok' if hit else 'miss'}"


def boxed_overlay(
    evaluation: Evaluation, row: dict, raw_map: np.ndarray, label: str = "", true_class: bool = False
) -> np.ndarray:
    """One kept map over its image (the predicted class's, or the true class's when
    ``true_class``): for localization rows that map's box in green and the true boxes in red;
    captioned with :func:`tile_caption`; drawn with its longest side between
    ``SMALLEST_OVERLAY`` (160) and ``DEFAULT_MAX_SIDE`` (1024) px, the image decoded no larger
    than that.

    Example:
        >>> index, raw = evaluation.kept.samples[0]
        >>> write_png("row.png", boxed_overlay(evaluation, evaluation.rows[index], raw))
    """
    decoded = decode_image(row["path"], at_least=lambda original: output_size(None, original, original))
    side = min(DEFAULT_MAX_SIDE, max(SMALLEST_OVERLAY, *decoded.original_size))
    size = output_size(side, decoded.original_size, decoded.original_size)
    window = evaluation.window(decoded.original_size)
    heat = scale_maps_to(raw_map[None], size, placement=window.placement(size, raw_map.shape))[0]
    picture = overlay(fit_image(decoded.pixels, size), heat, region=window.region(size))
    if "predicted_class_map_box" in row:
        scale = np.array([size[1], size[0]] * 2) / np.array(decoded.original_size[::-1] * 2)
        box = np.array(row["true_class_map_box"] if true_class else row["predicted_class_map_box"]) * scale
        truths = [np.array(truth) * scale for truth in evaluation.boxes[row["relative_path"]]]
        picture = draw_boxes(draw_boxes(picture, [box]), truths, color=TRUE_BOX_COLOR)
    return caption(picture, tile_caption(evaluation, row, label, true_class))


NAME_WIDTH = 160  # px: longer class names in confusion.png end with "..." (confusion.csv has them whole)


def _fitted_name(name: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """``name`` (control characters escaped), shortened with "..." to at most ``width`` px."""
    name = for_terminal(name)
    if font.getlength(name) <= width:
        return name
    while name and font.getlength(name + "...") > width:
        name = name[:-1]
    return name + "..."


def _label_rows_and_columns(
    canvas: Image.Image, names: list[str], font: ImageFont.FreeTypeFont, corner: tuple[int, int], cell: int
) -> None:
    """Class names left of the rows and, turned upright, above the columns, whole or with "..."."""
    left, top = corner
    draw = ImageDraw.Draw(canvas)
    for index, name in enumerate(names):
        draw.text((2, top + index * cell + cell // 3), name, fill="black", font=font)
        label = Image.new("RGB", (top - 4, cell), "white")
        ImageDraw.Draw(label).text((2, cell // 3), name, fill="black", font=font)
        canvas.paste(label.rotate(90, expand=True), (left + index * cell, 2))


def confusion_picture(confusion: np.ndarray, class_names: tuple[str, ...]) -> np.ndarray:
    """The confusion matrix as an uint8 picture: rows true classes, columns predicted, cells
    shaded by the fraction of the row, with counts when the cells are large enough to read.

    Example:
        >>> confusion_picture(np.array([[5, 1], [0, 6]]), ("cat", "dog")).shape[2]
        3
    """
    count = len(class_names)
    cell = int(np.clip(800 // max(count, 1), 4, 48))
    font = ImageFont.load_default(size=12)
    labelled = cell >= 16
    names = [_fitted_name(name, font, NAME_WIDTH) for name in class_names]
    widest = max(round(font.getlength(name)) for name in names)
    left_margin, top_margin = (widest + 8, widest + 8) if labelled else (4, 4)
    canvas = Image.new("RGB", (left_margin + count * cell + 4, top_margin + count * cell + 4), "white")
    draw = ImageDraw.Draw(canvas)
    fractions = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    for true in range(count):
        for predicted in range(count):
            shade = int(255 * (1.0 - fractions[true, predicted]))
            left, top = left_margin + predicted * cell, top_margin + true * cell
            draw.rectangle(
                [left, top, left + cell - 1, top + cell - 1], fill=(shade, shade, 255), outline=(200, 200, 200)
            )
            if labelled:
                color = "white" if shade < 128 else "black"
                draw.text((left + 2, top + cell // 3), str(confusion[true, predicted]), fill=color, font=font)
    if labelled:
        _label_rows_and_columns(canvas, names, font, (left_margin, top_margin), cell)
    return caption(np.asarray(canvas), "rows: true class, columns: predicted class")


def write_evaluation(
    evaluation: Evaluation, out: OutputFolder | str | os.PathLike, gallery: bool = True
) -> dict[str, Path]:
    """Write ``report.json``, ``per_image.csv``, ``per_class.csv`` (precision, recall),
    ``confusion.csv`` and ``confusion.png``, ``overlays/`` (the kept samples, one file per
    image even when ``x.png`` and ``x.jpg`` share a folder), with boxes
    ``threshold_curve.csv`` and ``best_worst.png`` (rows labelled best / worst) and, with
    ``gallery``, a thumbnail per image (``.thumbnails/``) and ``gallery.html``.

    ``out`` is an open :class:`~cam_keras.outdir.OutputFolder` or a folder path (opened with
    ``overwrite=True``: only files cam-keras wrote there are replaced).

    Example:
        >>> paths = write_evaluation(evaluate_localization(CAM(model), "data/test"), "evaluation/")
    """
    if not isinstance(out, OutputFolder):
        with OutputFolder(out, overwrite=True) as folder:
            return write_evaluation(evaluation, folder, gallery)
    names = evaluation.class_names
    localization = bool(evaluation.threshold_curve)
    paths = {"report": write_json(out.claim("report.json"), _report(evaluation))}
    stems = output_names([Path(row["relative_path"]) for row in evaluation.rows], [Path("")] * len(evaluation.rows))
    overlays = {
        index: (Path("overlays") / stems[Path(evaluation.rows[index]["relative_path"])]).with_suffix(".png")
        for index, _ in evaluation.kept.samples
    }
    paths["per_image"] = _write_per_image(evaluation, out, stems if gallery else {}, overlays)
    paths["per_class"] = write_csv(
        out.claim("per_class.csv"), evaluation.per_class, list(ClassificationMetrics.per_class_fields)
    )
    confusion = [
        {"true \\ predicted": name, **dict(zip(names, map(int, counts)))}
        for name, counts in zip(names, evaluation.confusion)
    ]
    paths["confusion"] = write_csv(out.claim("confusion.csv"), confusion, ["true \\ predicted", *names])
    paths["confusion_png"] = write_png(out.claim("confusion.png"), confusion_picture(evaluation.confusion, names))
    if localization:
        curve_fields = list(evaluation.threshold_curve[0])
        paths["threshold_curve"] = write_csv(out.claim("threshold_curve.csv"), evaluation.threshold_curve, curve_fields)
    for index, raw in evaluation.kept.samples:
        write_png(out.claim(overlays[index]), boxed_overlay(evaluation, evaluation.rows[index], raw))
    if evaluation.kept.samples:
        paths["overlays"] = out.root / "overlays"
    if localization and evaluation.kept.best:
        tiles = [
            boxed_overlay(evaluation, evaluation.rows[i], raw, f"{label}: ", true_class=True)
            for label, kept in (("best", evaluation.kept.best), ("worst", evaluation.kept.worst))
            for i, raw in kept
        ]
        figure = grid(tiles, columns=len(evaluation.kept.best), tile_size=160)
        paths["best_worst"] = write_png(out.claim("best_worst.png"), figure)
    if gallery:
        paths["gallery"] = write_evaluation_gallery(out)
    return paths


def _write_per_image(
    evaluation: Evaluation, out: OutputFolder, thumbnails: Mapping[Path, Path], overlays: Mapping[int, Path]
) -> Path:
    """``per_image.csv``: the path, the metrics' columns, the gallery's; each image's thumbnail
    written as its row is made (those of ``thumbnails``: stems by relative path)."""
    names = evaluation.class_names
    fields = ["path", *evaluation.fields, *GALLERY_FIELDS]
    table = []
    for index, row in enumerate(evaluation.rows):
        stem = thumbnails.get(Path(row["relative_path"]))
        thumbnail_file = write_thumbnail_of(out, row, stem, evaluation.window) if stem else ""
        overlay = overlays[index].as_posix() if index in overlays else ""
        entry = {key: row[key] for key in ["path", *evaluation.fields]}
        entry["true_class"], entry["predicted_class"] = names[row["true_class"]], names[row["predicted_class"]]
        table.append({**entry, **gallery_columns(row, names, thumbnail_file, overlay)})
    return write_csv(out.claim("per_image.csv"), table, fields)


def _report(evaluation: Evaluation) -> dict:
    summary = evaluation.summary
    report = {"metrics": summary, "class_names": list(evaluation.class_names), "per_class": evaluation.per_class}
    if "threshold" in summary:
        report["threshold"] = {"value": summary["threshold"], "source": summary.get("threshold_source", "given")}
    if evaluation.maps:
        report["maps"] = evaluation.maps
    report["skipped"] = evaluation.skipped
    report["boxes_without_image"] = evaluation.boxes_without_image
    return report


def format_curve(curve: list[dict], key: str = "gt_known_loc") -> str:
    """The per-threshold accuracy ``key`` at thresholds 0.0, 0.1, ..., 0.9 as two text lines.

    Example:
        >>> print(format_curve(evaluation.threshold_curve))
    """
    points = curve[::CURVE_STEP]
    thresholds = " ".join(f"{p['threshold']:>5.1f}" for p in points)
    values = " ".join(f"{p[key]:>5.2f}" for p in points)
    return f"  threshold    {thresholds}\n  {key:<12} {values}"


def format_summary(summary: dict) -> str:
    """The headline metrics as an aligned text table.

    Example:
        >>> print(format_summary(evaluation.summary))
    """
    labels = {**summary_labels(), **FaithfulnessScores.labels}
    lines = []
    for key, label in labels.items():
        if key in summary:
            value = summary[key]
            shown = f"{value:.4f}" if isinstance(value, float) else for_terminal(str(value))
            lines.append(f"  {label:<28} {shown}")
    return "\n".join(lines)

"""Evaluate room: boxes from maps, localization metrics, dataset evaluation and reports."""

from cam_keras.evaluate.annotations import read_boxes
from cam_keras.evaluate.boxes import box_from_map, component_boxes, iou
from cam_keras.evaluate.dataset import (
    Evaluation,
    calibrate_threshold,
    evaluate_classification,
    evaluate_faithfulness,
    evaluate_localization,
)
from cam_keras.evaluate.faithfulness import FaithfulnessScores, faithfulness, perturbation_curves
from cam_keras.evaluate.metrics import ClassificationMetrics, LocalizationMetrics, average_precision
from cam_keras.evaluate.report import format_summary, write_evaluation

__all__ = [
    "ClassificationMetrics",
    "Evaluation",
    "FaithfulnessScores",
    "LocalizationMetrics",
    "average_precision",
    "box_from_map",
    "calibrate_threshold",
    "component_boxes",
    "evaluate_classification",
    "evaluate_faithfulness",
    "evaluate_localization",
    "faithfulness",
    "format_summary",
    "iou",
    "perturbation_curves",
    "read_boxes",
    "write_evaluation",
]

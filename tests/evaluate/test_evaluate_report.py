"""The printed summary and per_class.csv take their keys from the metrics that make them, not
from lists of their own in evaluate/report.py."""

import dataclasses

from cam_keras.evaluate.faithfulness import FaithfulnessScores
from cam_keras.evaluate.metrics import ClassificationMetrics
from cam_keras.evaluate.report import format_summary


def test_every_faithfulness_score_is_printed_under_its_label():
    names = [field.name for field in dataclasses.fields(FaithfulnessScores)]
    assert list(FaithfulnessScores.labels) == names
    printed = format_summary(FaithfulnessScores(0.125, 0.25, 0.375, 0.5).as_dict()).splitlines()
    assert [line.split()[-1] for line in printed] == ["0.1250", "0.2500", "0.3750", "0.5000"]
    assert all(label in line for label, line in zip(FaithfulnessScores.labels.values(), printed))


def test_per_class_rows_have_exactly_the_per_class_fields():
    metrics = ClassificationMetrics(("cat", "dog", "eel"))
    metrics.update(0, [1, 0])
    metrics.update(1, [1, 2])
    rows = metrics.per_class()
    assert [tuple(row) for row in rows] == [ClassificationMetrics.per_class_fields] * 3
    assert rows[2] == {"class": "eel", "images": 0, "predicted": 0, "precision": None, "recall": None}
    assert rows[1]["precision"] == 0.5 and rows[1]["recall"] == 1.0

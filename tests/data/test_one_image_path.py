"""Issue 24: one image path. Every caller feeds a model the same pixels of a file: explaining
in a notebook, a heatmap job, evaluation, training snapshots and the training pipeline.

The oracle is Pillow called by hand (no cam-keras code): photos larger than the 16 px model
input with a non-square aspect (40x24 and 24x40, small enough that no reduced decode is
involved), resized with the box or padding each resize policy means, worked out on paper.
The model (the resize policy saved with it, as training saves it) then predicts on those
pixels with ``model.predict``.
"""

import csv
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

import cam_keras
from cam_keras.cam import CAM
from cam_keras.data.class_folders import scan_class_folders
from cam_keras.data.pipeline import make_dataset
from cam_keras.evaluate import evaluate_classification
from cam_keras.jobs import HeatmapOptions, write_heatmaps
from cam_keras.models.info import attach_info, model_info
from cam_keras.train.loop import snapshot_images

SIDE = 16
CLASSES = ("left", "right")
# (width, height) of each class's photos, and the file type: a landscape JPEG, a portrait PNG
PHOTOS = [((40, 24), "jpg"), ((24, 40), "png")]


def by_hand(path, policy: str) -> np.ndarray:
    """What a 16x16 model must see of a 40x24 or 24x40 photo, with Pillow alone.

    crop: the scale is 16/24, so the centre 24x24 is shown, from 8 px in on the long side.
    pad: the scale is 16/40, so the photo becomes 16x10 (9.6 rounded), 3 px of black above
    and below (or left and right)."""
    image = Image.open(path).convert("RGB")
    landscape = image.width > image.height
    if policy == "squash":
        return np.asarray(image.resize((SIDE, SIDE), Image.Resampling.BILINEAR))
    if policy == "crop":
        box = (8, 0, 32, 24) if landscape else (0, 8, 24, 32)
        return np.asarray(image.resize((SIDE, SIDE), Image.Resampling.BILINEAR, box=box))
    inside = np.asarray(image.resize((16, 10) if landscape else (10, 16), Image.Resampling.BILINEAR))
    padded = np.zeros((SIDE, SIDE, 3), np.uint8)
    if landscape:
        padded[3:13] = inside
    else:
        padded[:, 3:13] = inside
    return padded


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """``DATA/<class>/<n>.<jpg|png>``: random photos, two per class."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(24)
    for name in CLASSES:
        (root / name).mkdir()
        for index, ((width, height), suffix) in enumerate(PHOTOS):
            pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{index}.{suffix}", quality=90)
    return root


def model_trained_with(policy: str):
    """A tiny CAM model whose saved resize policy is ``policy`` (as fine_tune saves it)."""
    model = cam_keras.build_model("small_cnn", class_names=CLASSES, input_size=SIDE, base_channels=4)
    attach_info(model, replace(model_info(model), resize=policy))
    return model


def fed_batches(explainer):
    """Every batch ``explainer.explain_batch`` is given, recorded."""
    seen, original = [], explainer.explain_batch

    def explain_batch(batch, *args, **kwargs):
        seen.append(np.asarray(batch).copy())
        return original(batch, *args, **kwargs)

    explainer.explain_batch = explain_batch
    return seen


@pytest.mark.parametrize("policy", ["squash", "crop", "pad"])
def test_every_caller_feeds_the_model_the_pixels_pillow_gives_by_hand(photos, tmp_path, policy):
    paths = sorted(photos.rglob("*.*"))
    expected = np.stack([by_hand(path, policy) for path in paths]).astype(np.float32)
    model = model_trained_with(policy)
    logits = model.predict(expected, verbose=0)  # the small CNN ends in logits
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

    explanation = cam_keras.explain(model, paths)  # the notebook API, on file paths
    np.testing.assert_allclose(explanation.logits, logits, rtol=1e-5, atol=1e-6)

    report = write_heatmaps(
        CAM(model), paths, tmp_path / "maps", HeatmapOptions(workers=0, batch_size=3, report_top=2), progress=False
    )
    with open(report.table, newline="", encoding="utf-8") as table:
        rows = {row["path"]: row for row in csv.DictReader(table)}
    from_table = [[float(rows[str(path)][f"top{rank}_prob"]) for rank in (1, 2)] for path in paths]
    np.testing.assert_allclose(from_table, -np.sort(-probabilities, axis=1), atol=2e-6)

    explainer = CAM(model)
    seen = fed_batches(explainer)
    evaluation = evaluate_classification(explainer, photos, batch_size=3, progress=False)
    fed = {row["path"]: image for row, image in zip(evaluation.rows, np.concatenate(seen))}
    np.testing.assert_array_equal(np.stack([fed[str(path)] for path in paths]), expected)

    files = scan_class_folders(photos)
    by_file = dict(zip(map(str, paths), expected))
    in_training = np.concatenate(
        [x.numpy() for x, _, _ in make_dataset(files, (SIDE, SIDE), 4, training=False, policy=policy)]
    )
    np.testing.assert_array_equal(in_training, np.stack([by_file[str(path)] for path in files.paths]))
    snapshots = snapshot_images(files, 4, (SIDE, SIDE), policy)  # round robin over the classes
    np.testing.assert_array_equal(snapshots, np.stack([by_file[str(files.paths[i])] for i in (0, 2, 1, 3)]))

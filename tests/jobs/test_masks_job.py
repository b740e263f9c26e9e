"""A masks job on a real tiny model and class folders: label masks that match the maps, through
the heatmap job's shards, resume and merge; thresholds calibrated on ground-truth masks."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from cam_keras import CAM
from cam_keras.data.images import load_image
from cam_keras.errors import DatasetError, UsageError
from cam_keras.jobs import merge_shards
from cam_keras.jobs.masks import mask_options, write_masks
from cam_keras.jobs.shards import Shard
from cam_keras.render.masks import UNSURE, MaskRule, label_mask, peak_labels, write_label_png

RULE = MaskRule(foreground=0.5, background=0.2)


@pytest.fixture(scope="module")
def data(shapes_dir, tmp_path_factory):
    """Six images of each of two class folders, with their black-and-white object masks."""
    root = tmp_path_factory.mktemp("masks-data")
    for name in ("circle", "square"):
        (root / "images" / name).mkdir(parents=True)
        (root / "truth" / name).mkdir(parents=True)
        for path in sorted((shapes_dir / name).glob("*.png"))[:6]:
            shutil.copy(path, root / "images" / name / path.name)
            shutil.copy(shapes_dir.parent / "masks" / name / path.name, root / "truth" / name / path.name)
    return root


def expected_masks(model, images, rule):
    """Each image's label mask computed from the notebook API's maps of its folder class, and
    the pixels too close to a threshold for two resize implementations to agree on."""
    explainer, expected = CAM(model), {}
    explanation = explainer([load_image(path) for path in images], classes=[path.parent.name for path in images])
    for index, path in enumerate(images):
        label = explainer.class_names.index(path.parent.name) + 1
        maps = explanation.maps_at(index)
        peak, _ = peak_labels(maps, [label])
        near = (np.abs(peak - rule.foreground) < 1e-3) | (np.abs(peak - rule.background) < 1e-3)
        expected[path] = (label_mask(maps, [label], rule), near)
    return expected


def read_png(path):
    with Image.open(path) as image:
        assert image.mode == "P"
        return np.asarray(image)


def test_sharded_resumed_merged_masks_match_the_maps(tiny_model, data, tmp_path):
    out = tmp_path / "out"
    options = mask_options(RULE, folder_classes=True, workers=0, batch_size=4)
    explainer = CAM(tiny_model)
    for index in (1, 2):
        report = write_masks(explainer, [data / "images"], out, options, shard=Shard(index, 2), progress=False)
        assert report.succeeded == 6 and report.finished
    images = sorted((data / "images").rglob("*.png"))
    expected = expected_masks(tiny_model, images, RULE)
    for path in images:
        mask = read_png(out / path.parent.name / path.name)
        want, near = expected[path]
        assert mask.shape == (32, 32)
        np.testing.assert_array_equal(mask[~near], want[~near])
        assert set(np.unique(mask).tolist()) <= {0, UNSURE, ("circle", "square").index(path.parent.name) + 1}
    assert any((read_png(out / p.parent.name / p.name) == UNSURE).any() for p in images)  # the band is there

    lost = out / "circle" / images[0].name
    before = lost.read_bytes()
    lost.unlink()
    again = write_masks(explainer, [data / "images"], out, options, shard=Shard(1, 2), resume=True, progress=False)
    assert (again.succeeded, again.already_done) == (1, 5)
    assert lost.read_bytes() == before

    merged = merge_shards(out)
    assert merged["succeeded"] == 12
    report = json.loads((out / "report.json").read_text())
    assert report["masks"]["legend"] == {
        "0": "background",
        "1": "circle",
        "2": "square",
        "3": "triangle",
        "255": "unsure",
    }
    assert (report["masks"]["foreground"], report["masks"]["background"]) == (0.5, 0.2)
    assert report["job"]["masks"] == {"foreground": 0.5, "background": 0.2, "min_probability": None}
    rows = (out / "predictions.csv").read_text().splitlines()
    assert len(rows) == 13 and rows[1].split(",")[1] == "circle/" + images[0].name


def test_resume_with_other_thresholds_is_refused(tiny_model, data, tmp_path):
    options = mask_options(RULE, folder_classes=True, workers=0)
    write_masks(CAM(tiny_model), [data / "images"], tmp_path / "out", options, progress=False)
    other = mask_options(MaskRule(0.6, 0.2), folder_classes=True, workers=0)
    with pytest.raises(UsageError, match="masks.foreground: 0.5"):
        write_masks(CAM(tiny_model), [data / "images"], tmp_path / "out", other, resume=True, progress=False)


def test_calibration_recovers_the_threshold_of_known_masks(tiny_model, data, tmp_path):
    # ground truth made from the maps themselves at 0.6: the calibrated masks must be those
    truth = tmp_path / "truth"
    images = sorted((data / "images").rglob("*.png"))
    made = expected_masks(tiny_model, images, MaskRule(0.6, 0.6))
    for path in images:
        (truth / path.parent.name).mkdir(parents=True, exist_ok=True)
        write_label_png(truth / path.parent.name / path.name, made[path][0])
    options = mask_options(RULE, folder_classes=True, workers=0)
    report = write_masks(
        CAM(tiny_model), [data / "images"], tmp_path / "out", options, ground_truth=truth, progress=False
    )
    chosen = report.notes["masks"]
    assert chosen["thresholds"]["masks"] == 12 and chosen["thresholds"]["miou"] == pytest.approx(1.0, abs=1e-3)
    assert 0.5 < chosen["foreground"] <= 0.6 and chosen["background"] == 0.2
    for path in images:  # the band below the chosen foreground is the only difference
        mask, (want, near) = read_png(tmp_path / "out" / path.parent.name / path.name), made[path]
        agree = (mask == want) | (mask == UNSURE) & (want == 0) | near
        assert agree.all()
    written = json.loads((tmp_path / "out" / "report.json").read_text())
    assert written["masks"]["thresholds"]["ground_truth"] == str(truth)


def test_calibration_on_object_masks_of_class_folders(tiny_model, data, tmp_path):
    options = mask_options(RULE, folder_classes=True, workers=0)
    report = write_masks(
        CAM(tiny_model), [data / "images"], tmp_path / "out", options, ground_truth=data / "truth", progress=False
    )
    chosen = report.notes["masks"]
    assert 0.0 < chosen["thresholds"]["miou"] <= 1.0 and chosen["background"] <= chosen["foreground"]


def test_calibration_errors_name_the_fix(tiny_model, data, tmp_path):
    predicted = mask_options(RULE, workers=0)
    with pytest.raises(UsageError, match="black-and-white mask does not say its class"):
        write_masks(CAM(tiny_model), [data / "images"], tmp_path / "a", predicted, ground_truth=data / "truth")
    with pytest.raises(DatasetError, match="no mask matches any input image"):
        write_masks(CAM(tiny_model), [data / "images"], tmp_path / "b", predicted, ground_truth=tmp_path)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_predicted_classes_below_the_probability_are_left_out(tiny_model, data, tmp_path):
    everything = mask_options(MaskRule(0.5, 0.2, min_probability=1.0), top_k=3, workers=0)
    write_masks(CAM(tiny_model), [data / "images"], tmp_path / "out", everything, progress=False)
    for path in (tmp_path / "out").rglob("*.png"):
        assert not read_png(path).any()  # no class reaches probability 1: all background


def test_a_heatmap_request_without_a_rule_gets_the_default_one(tiny_model, data, tmp_path):
    from cam_keras.data.sources import ImageSource
    from cam_keras.jobs.masks import run_masks
    from cam_keras.jobs.request import HeatmapOptions, HeatmapRequest

    options = HeatmapOptions(folder_classes=True, workers=0, array_format=None)
    request = HeatmapRequest(ImageSource([data / "images"]), tmp_path / "out", options, progress=False)
    report = run_masks(CAM(tiny_model), request, ground_truth=data / "truth")
    assert report.succeeded == 12 and report.notes["masks"]["background"] == MaskRule().background
    with Image.open(next((tmp_path / "out").rglob("*.png"))) as mask:
        assert mask.mode == "P"

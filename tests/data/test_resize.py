"""The resize policy a model was trained with travels with it and is applied wherever images
meet it: training, snapshots, explain, heatmaps and evaluation see the same pixels of a file,
and maps are placed back where the model input lies on the picture.

Oracles are independent of cam-keras' resize code: pictures whose crop or pad is a pure numpy
slice or pad (scale 1), and a hand-built model whose CAM map is a channel of its input.
"""

import logging

import keras
import numpy as np
import pytest
from PIL import Image

import cam_keras
from cam_keras.cam import CAM
from cam_keras.cli import main
from cam_keras.data.class_folders import scan_class_folders
from cam_keras.data.pipeline import make_dataset
from cam_keras.data.resize import Window, fit_image, fit_window
from cam_keras.evaluate import evaluate_classification, evaluate_localization
from cam_keras.evaluate.report import SMALLEST_OVERLAY, boxed_overlay
from cam_keras.jobs import HeatmapOptions, write_heatmaps
from cam_keras.models.info import ModelInfo, attach_info
from cam_keras.train import TrainConfig, fine_tune
from cam_keras.train.loop import snapshot_images

SIDE = 32
WIDE = (32, 64)  # crop to 32x32 is the numpy slice [:, 16:48] (scale 1)
FLAT = (16, 32)  # pad to 32x32 is rows 8..24 of black (scale 1)


def by_hand(pixels: np.ndarray, policy: str) -> np.ndarray:
    """What the model must see of a WIDE (crop) or FLAT (pad) picture, in numpy alone."""
    if policy == "crop":
        assert pixels.shape[:2] == WIDE
        return pixels[:, 16:48]
    assert pixels.shape[:2] == FLAT
    return np.pad(pixels, ((8, 8), (0, 0), (0, 0)))


@pytest.fixture(scope="session")
def odd_shapes(tmp_path_factory):
    """Two classes of WIDE and FLAT PNGs (left half bright in class ``left``)."""
    root = tmp_path_factory.mktemp("odd_shapes")
    rng = np.random.default_rng(5)
    for name in ("left", "right"):
        (root / name).mkdir()
        for index in range(6):
            shape = WIDE if index % 2 else FLAT
            pixels = rng.integers(0, 120, (*shape, 3), dtype=np.uint8)
            half = slice(0, shape[1] // 2) if name == "left" else slice(shape[1] // 2, None)
            pixels[:, half] += 100
            Image.fromarray(pixels).save(root / name / f"{name}_{index}.png")
    return root


@pytest.fixture(scope="session")
def trained(odd_shapes, tmp_path_factory):
    """``{policy: model file}`` trained one epoch by the real fine_tune under crop and pad."""
    files = {}
    for policy in ("crop", "pad"):
        run = tmp_path_factory.mktemp(f"run_{policy}") / "run"
        config = TrainConfig(
            input_size=SIDE,
            width=8,
            batch_size=4,
            finetune_epochs=1,
            snapshot_images=0,
            resize=policy,
            val_fraction=0.34,
        )
        fine_tune(odd_shapes, run, config, verbose=0)
        files[policy] = run / "model.keras"
    return files


def recorded_batches(explainer):
    """Wrap ``explainer.explain_batch`` so every batch it is fed is recorded."""
    seen = []
    original = explainer.explain_batch

    def explain_batch(batch, *args, **kwargs):
        seen.append(np.asarray(batch, np.float32).copy())
        return original(batch, *args, **kwargs)

    explainer.explain_batch = explain_batch
    return seen


def files_of(root, shape):
    return sorted(p for p in root.rglob("*.png") if Image.open(p).size == shape[::-1])


@pytest.mark.parametrize("policy, shape", [("crop", WIDE), ("pad", FLAT)])
def test_training_pipeline_and_snapshots_fit_pictures_as_by_hand(odd_shapes, policy, shape):
    files = scan_class_folders(odd_shapes)
    chosen = [i for i, path in enumerate(files.paths) if Image.open(path).size == shape[::-1]]
    subset = files.subset(chosen)
    fed = np.concatenate(
        [x.numpy() for x, _, _ in make_dataset(subset, (SIDE, SIDE), 8, training=False, policy=policy)]
    )
    expected = np.stack([by_hand(np.asarray(Image.open(path)), policy) for path in subset.paths]).astype(np.float32)
    np.testing.assert_array_equal(fed, expected)
    np.testing.assert_array_equal(snapshot_images(subset, 2, (SIDE, SIDE), policy), expected[[0, len(expected) // 2]])


@pytest.mark.slow  # two real fine_tune runs: 17 s on an idle 2-core machine, 70 s on a busy one
@pytest.mark.parametrize("policy, shape", [("crop", WIDE), ("pad", FLAT)])
def test_a_trained_model_is_explained_on_the_pixels_it_was_trained_on(trained, odd_shapes, tmp_path, policy, shape):
    model = cam_keras.load_model(trained[policy])
    assert cam_keras.model_info(model).resize == policy
    assert cam_keras.model_info(cam_keras.load_model(trained[policy].with_name("best.keras"))).resize == policy
    paths = files_of(odd_shapes, shape)
    expected = np.stack([by_hand(np.asarray(Image.open(p)), policy) for p in paths]).astype(np.float32)

    explainer = CAM(model)  # no resize given: the model's own policy
    seen = recorded_batches(explainer)
    explanation = explainer(paths)
    np.testing.assert_array_equal(seen[0], expected)
    np.testing.assert_allclose(explanation.logits, model.predict(expected, verbose=0), rtol=1e-5, atol=1e-5)

    seen.clear()
    write_heatmaps(explainer, paths, tmp_path / "maps", HeatmapOptions(workers=0, batch_size=8), progress=False)
    np.testing.assert_array_equal(seen[0], expected)

    seen.clear()
    evaluation = evaluate_classification(explainer, odd_shapes, batch_size=32, progress=False)
    fed = np.concatenate(seen)
    order = [evaluation.rows.index(next(r for r in evaluation.rows if r["path"] == str(p))) for p in paths]
    np.testing.assert_array_equal(fed[order], expected)

    logits = cam_keras.explain(trained[policy], paths).logits  # the Python API from the file
    np.testing.assert_allclose(logits, explanation.logits, rtol=1e-5, atol=1e-5)


def channel_model(resize=None):
    """A CAM model whose class-0 map is the red channel of its input (1x1 conv picks it)."""
    inputs = keras.Input((SIDE, SIDE, 3))
    features = keras.layers.Conv2D(1, 1, use_bias=False, name="features")(inputs)
    logits = keras.layers.Dense(2, name="logits")(keras.layers.GlobalAveragePooling2D()(features))
    model = keras.Model(inputs, logits, name="red_channel")
    model.get_layer("features").set_weights([np.array([1.0, 0.0, 0.0], np.float32).reshape(1, 1, 3, 1)])
    model.get_layer("logits").set_weights([np.array([[1.0, -1.0]], np.float32), np.zeros(2, np.float32)])
    attach_info(model, ModelInfo(class_names=("red", "not red"), resize=resize))
    return model


def unit(values):
    values = values.astype(np.float32)
    return (values - values.min()) / (values.max() - values.min())


def test_crop_maps_cover_the_centre_and_leave_the_margins_without_heat():
    picture = np.random.default_rng(1).integers(0, 255, (*WIDE, 3), dtype=np.uint8)
    explanation = CAM(channel_model("crop"))(picture, classes=0)
    placed = explanation.maps_at(0)
    assert placed.shape == (1, *WIDE)
    np.testing.assert_allclose(placed[0, :, 16:48], unit(picture[:, 16:48, 0]), atol=1e-6)
    assert not placed[0, :, :16].any() and not placed[0, :, 48:].any()
    drawn = explanation.overlay(0)
    np.testing.assert_array_equal(drawn[:, :16], picture[:, :16])  # cut away: the photo as it is
    np.testing.assert_array_equal(drawn[:, 48:], picture[:, 48:])
    assert np.abs(drawn[:, 16:48].astype(int) - picture[:, 16:48]).mean() > 20  # heat drawn there
    window = explanation.arrays(0)["window"]
    np.testing.assert_allclose(window, [0, 0.25, 1, 0.5])


def test_pad_maps_drop_the_padding_and_cover_the_whole_picture():
    picture = np.random.default_rng(2).integers(0, 255, (*FLAT, 3), dtype=np.uint8)
    explanation = CAM(channel_model("pad"))(picture, classes=0)
    np.testing.assert_allclose(explanation.maps_at(0)[0], unit(picture[..., 0]), atol=1e-6)
    doubled = explanation.maps_at(0, (32, 64))[0]  # at another size: still the picture, all of it
    assert doubled.shape == (32, 64) and doubled.min() == 0 and doubled.max() == 1


def test_heatmap_overlays_place_crop_maps_on_the_centre(tmp_path):
    picture = np.random.default_rng(3).integers(0, 255, (*WIDE, 3), dtype=np.uint8)
    Image.fromarray(picture).save(tmp_path / "wide.png")
    write_heatmaps(
        CAM(channel_model("crop")),
        [tmp_path / "wide.png"],
        tmp_path / "out",
        HeatmapOptions(workers=0, classes=0, max_side=64),
        progress=False,
    )
    drawn = np.asarray(Image.open(tmp_path / "out" / "wide.png"))[-WIDE[0] :, : WIDE[1]]  # below the caption
    np.testing.assert_array_equal(drawn[:, :16], picture[:, :16])
    np.testing.assert_array_equal(drawn[:, 48:], picture[:, 48:])
    with np.load(tmp_path / "out" / "wide.npz") as arrays:
        np.testing.assert_allclose(arrays["window"], [0, 0.25, 1, 0.5])
        np.testing.assert_allclose(arrays["raw_maps"][0], picture[:, 16:48, 0], atol=1e-3)


def test_evaluate_finds_boxes_in_the_centre_a_crop_model_saw(tmp_path):
    """A bright patch in the cut-away margin is invisible to a crop model: its box is the
    central object's, which a squash would have lost to the margin."""
    picture = np.full((*WIDE, 3), 10, np.uint8)
    picture[2:14, 0:12, 0] = 255  # in the left margin, larger and brighter than the object
    picture[12:20, 28:36, 0] = 200  # the object, in the centre
    (tmp_path / "data" / "red").mkdir(parents=True)
    Image.fromarray(picture).save(tmp_path / "data" / "red" / "x.png")
    (tmp_path / "data" / "boxes.csv").write_text("path,xmin,ymin,xmax,ymax\nred/x.png,28,12,36,20\n")
    crop = evaluate_localization(CAM(channel_model("crop")), tmp_path / "data", threshold=0.5, progress=False)
    squash = evaluate_localization(CAM(channel_model()), tmp_path / "data", threshold=0.5, progress=False)
    assert crop.summary["gt_known_loc"] == 1.0 and squash.summary["gt_known_loc"] == 0.0
    xmin, _, xmax, _ = crop.rows[0]["predicted_class_map_box"]
    assert 16 <= xmin and xmax <= 48
    row, raw = crop.kept.samples[0]
    size = (SMALLEST_OVERLAY * WIDE[0] // WIDE[1], SMALLEST_OVERLAY)  # a small image is drawn larger
    drawn = boxed_overlay(crop, crop.rows[row], raw)[-size[0] :]  # the report's picture, below its caption
    shown = fit_image(picture, size)
    margin = 16 * SMALLEST_OVERLAY // WIDE[1]
    np.testing.assert_array_equal(drawn[:, :margin], shown[:, :margin])  # the margin the model never saw: no heat


def test_a_model_that_does_not_say_is_squashed_and_says_so_once(caplog):
    model = channel_model()
    assert "squash" in str(cam_keras.describe(model)) and "assumed" in str(cam_keras.describe(model))
    with caplog.at_level(logging.WARNING):
        CAM(model)(np.zeros((SIDE, SIDE, 3)))  # the aspect of the input: nothing to say
        assert "does not record how it was trained" not in caplog.text
        CAM(model)(np.zeros((*WIDE, 3)))
        CAM(model)(np.zeros((*WIDE, 3)))
    assert caplog.text.count("does not record how it was trained") == 1 and "pass resize crop or pad" in caplog.text
    with caplog.at_level(logging.WARNING):
        caplog.clear()
        CAM(channel_model("crop"))(np.zeros((*WIDE, 3)))
        CAM(model, resize="pad")(np.zeros((*WIDE, 3)))
    assert "does not record" not in caplog.text


def test_the_user_choice_overrides_the_saved_policy(tmp_path):
    picture = np.random.default_rng(4).integers(0, 255, (*FLAT, 3), dtype=np.uint8)
    model = channel_model("crop")
    explainer = CAM(model, resize="pad")
    seen = recorded_batches(explainer)
    explainer(picture)
    np.testing.assert_array_equal(seen[0][0], by_hand(picture, "pad"))
    file = cam_keras.save_model(model, tmp_path / "m.keras")
    assert "crop" in str(cam_keras.describe(file)) and "saved with the model" in str(cam_keras.describe(file))
    chosen = str(cam_keras.describe(file, resize="pad"))
    assert "pad" in chosen and "chosen (resize)" in chosen


def test_heatmap_and_inspect_cli_take_resize_and_resume_refuses_another(tmp_path, capsys):
    model_file = cam_keras.save_model(channel_model("crop"), tmp_path / "m.keras")
    Image.fromarray(np.full((*FLAT, 3), 90, np.uint8)).save(tmp_path / "flat.png")
    assert main(["inspect", "--model", str(model_file)]) == 0
    assert "crop" in capsys.readouterr().out
    base = [
        "heatmap",
        "--model",
        str(model_file),
        str(tmp_path / "flat.png"),
        "--out",
        str(tmp_path / "out"),
        "--quiet",
    ]
    assert main([*base, "--resize", "pad", "--workers", "0"]) == 0
    with np.load(tmp_path / "out" / "flat.npz") as arrays:
        np.testing.assert_allclose(arrays["window"], [-0.5, 0, 2, 1])
    assert main([*base, "--resume"]) == 2
    assert "model.resize: 'pad'" in capsys.readouterr().err


@pytest.mark.parametrize("policy", ["squash", "crop", "pad"])
def test_windows_say_where_fit_image_puts_the_picture(policy):
    picture = np.repeat(np.tile(np.arange(40, dtype=np.uint8) * 6, (12, 1))[..., None], 3, axis=-1)  # a ramp
    fitted = fit_image(picture, (20, 20), policy)
    window = fit_window((12, 40), (20, 20), policy)
    top, bottom, left, right = window.region((12, 40))
    if policy == "squash":
        assert window == Window() and (top, bottom, left, right) == (0, 12, 0, 40)
    elif policy == "crop":  # the centre 12x12 of the picture fills the 20x20 input
        assert (top, bottom, left, right) == (0, 12, 14, 26)
        np.testing.assert_allclose(fitted, fit_image(picture[:, 14:26], (20, 20)), atol=3)
    else:  # 20x6 of picture between 7 rows of black above and below
        assert (top, bottom, left, right) == (0, 12, 0, 40)
        assert not fitted[:7].any() and not fitted[13:].any() and fitted[7:13].any()

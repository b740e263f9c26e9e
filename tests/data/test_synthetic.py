"""The synthetic localization dataset: deterministic files, tight boxes, class textures."""

import csv

import numpy as np
import pytest
from PIL import Image

from cam_keras.data.synthetic import TEXTURES, SyntheticSpec, make_example, write_synthetic_dataset

CLEAN = dict(image_size=48, distractors=(0, 0), noise=0.0)


def _clean_example(shape: str, fill: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    image, mask, _ = make_example(shape, SyntheticSpec(fill=fill, **CLEAN), np.random.default_rng(seed))
    return image, mask


def test_same_seed_same_files_and_boxes_are_the_masks_extent(tmp_path):
    spec = SyntheticSpec(classes=("circle", "cross"), image_size=32, fill="texture")
    first = write_synthetic_dataset(tmp_path / "a", train_per_class=3, test_per_class=2, spec=spec, seed=5)
    second = write_synthetic_dataset(tmp_path / "b", train_per_class=3, test_per_class=2, spec=spec, seed=5)
    rows = list(csv.DictReader((first / "test" / "boxes.csv").open()))
    assert len(rows) == 4
    for row in rows:
        a = np.asarray(Image.open(first / "test" / row["path"]))
        b = np.asarray(Image.open(second / "test" / row["path"]))
        np.testing.assert_array_equal(a, b)
        ys, xs = np.nonzero(np.asarray(Image.open(first / "masks" / "test" / row["path"])))
        assert (int(row["xmin"]), int(row["ymin"]), int(row["xmax"]), int(row["ymax"])) == (
            xs.min(),
            ys.min(),
            xs.max() + 1,
            ys.max() + 1,
        )
    train_image = np.asarray(Image.open(first / "train" / rows[0]["path"]))
    assert not np.array_equal(train_image, np.asarray(Image.open(first / "test" / rows[0]["path"])))


def test_a_calibration_split_is_written_only_when_asked_and_holds_other_images(tmp_path):
    spec = SyntheticSpec(classes=("circle", "cross"), image_size=32)
    plain = write_synthetic_dataset(tmp_path / "a", train_per_class=2, test_per_class=2, spec=spec, seed=5)
    assert not (plain / "calibration").exists()
    root = write_synthetic_dataset(
        tmp_path / "b", train_per_class=2, test_per_class=2, spec=spec, seed=5, calibration_per_class=3
    )
    rows = list(csv.DictReader((root / "calibration" / "boxes.csv").open()))
    assert len(rows) == 6 and all((root / "masks" / "calibration" / row["path"]).is_file() for row in rows)
    pixels = {
        split: {np.asarray(Image.open(path)).tobytes() for path in (root / split).rglob("*.png")}
        for split in ("train", "calibration", "test")
    }
    assert not pixels["calibration"] & (pixels["train"] | pixels["test"])
    # the other splits are the files a dataset without calibration split has
    for path in (plain / "test").rglob("*.png"):
        assert path.read_bytes() == (root / "test" / path.relative_to(plain / "test")).read_bytes()


def test_flat_fill_paints_the_object_in_one_color():
    image, mask = _clean_example("square", "flat")
    assert len(np.unique(image[mask], axis=0)) == 1


@pytest.mark.parametrize("shape", ["circle", "square", "triangle", "cross", "ring", "star"])
def test_texture_fill_is_two_tones_of_one_color(shape):
    image, mask = _clean_example(shape, "texture")
    tones = np.unique(image[mask], axis=0).astype(np.float32)
    assert len(tones) == 2
    dark, bright = sorted(tones, key=lambda tone: tone.sum())
    np.testing.assert_allclose(dark, 0.45 * bright, atol=1.0)


@pytest.mark.parametrize("shape, constant_axis", [("square", 1), ("star", 0)])
def test_stripes_run_along_rows_and_columns_along_columns(shape, constant_axis):
    assert TEXTURES[shape] in ("stripes", "columns")
    image, mask = _clean_example(shape, "texture", seed=3)
    ys, xs = np.nonzero(mask)
    inside = image[ys.min() + 2 : ys.max() - 1, xs.min() + 2 : xs.max() - 1].astype(np.int32).sum(axis=-1)
    inside_mask = mask[ys.min() + 2 : ys.max() - 1, xs.min() + 2 : xs.max() - 1]
    lines = inside if constant_axis == 1 else inside.T
    line_masks = inside_mask if constant_axis == 1 else inside_mask.T
    varying = [len(np.unique(line[keep])) for line, keep in zip(lines, line_masks) if keep.sum() > 1]
    assert varying and max(varying) == 1
    assert len(np.unique(inside[inside_mask])) == 2


def test_unknown_fill_is_an_error_naming_the_choices():
    with pytest.raises(ValueError, match="flat.*texture"):
        SyntheticSpec(fill="plaid")

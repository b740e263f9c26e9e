import logging
import shutil

import numpy as np
import pytest

from cam_keras.data.class_folders import scan_class_folders
from cam_keras.data.overlap import shared_images
from cam_keras.data.pipeline import make_dataset
from cam_keras.data.resize import fit_image
from cam_keras.data.split import class_weights, stratified_split
from cam_keras.errors import DatasetError


def test_classes_come_from_sorted_folder_names(shapes_dir):
    files = scan_class_folders(shapes_dir)
    assert files.class_names == ("circle", "square")
    assert files.class_counts().tolist() == [24, 24]


def test_bad_files_are_skipped_with_one_warning_naming_them(dataset_copy, caplog):
    (dataset_copy / "circle" / "zero.png").write_bytes(b"")
    (dataset_copy / "square" / "fake.jpg").write_text("not really a jpeg")
    (dataset_copy / "square" / ".DS_Store").write_bytes(b"\x00\x01")
    (dataset_copy / "square" / "readme.txt").write_text("ignored: not an image name")
    with caplog.at_level(logging.WARNING):
        files = scan_class_folders(dataset_copy)
    assert files.class_counts().tolist() == [24, 24]
    warnings = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(warnings) == 1
    assert "zero.png" in warnings[0] and "fake.jpg" in warnings[0] and "DS_Store" not in warnings[0]


def test_empty_class_folder_is_an_error_naming_it(dataset_copy):
    (dataset_copy / "triangle").mkdir()
    with pytest.raises(DatasetError, match="triangle"):
        scan_class_folders(dataset_copy)


def test_empty_class_folder_can_be_skipped(dataset_copy, caplog):
    (dataset_copy / "triangle").mkdir()
    with caplog.at_level(logging.WARNING):
        files = scan_class_folders(dataset_copy, skip_empty=True)
    assert "triangle" in caplog.text
    assert files.class_counts().tolist() == [24, 24] and "triangle" not in files.class_names
    given = scan_class_folders(dataset_copy, class_names=("circle", "square", "triangle"), skip_empty=True)
    assert given.class_counts().tolist() == [24, 24, 0]  # labels keep indexing the given (model) classes


def test_single_class_is_an_error(tmp_path, shapes_dir):
    shutil.copytree(shapes_dir / "circle", tmp_path / "only" / "circle")
    with pytest.raises(DatasetError, match="at least two class folders"):
        scan_class_folders(tmp_path / "only")


def test_images_at_the_top_level_are_counted_in_the_refusal(tmp_path, shapes_dir):
    flat = tmp_path / "flat"
    shutil.copytree(shapes_dir / "circle", flat)
    with pytest.raises(DatasetError, match="no class subfolder with readable images; expected one subfolder per class"):
        scan_class_folders(flat)
    with pytest.raises(DatasetError, match="24 image\\(s\\) sit directly in .*: move each class's images"):
        scan_class_folders(flat)
    shutil.copytree(shapes_dir / "square", flat / "square")
    with pytest.raises(DatasetError, match="found 1 usable class; .* 24 image\\(s\\) sit directly in"):
        scan_class_folders(flat)


def test_a_given_class_list_may_have_one_class(tmp_path, shapes_dir):
    shutil.copytree(shapes_dir / "square", tmp_path / "val" / "square")
    files = scan_class_folders(tmp_path / "val", class_names=("square",))
    assert files.class_counts().tolist() == [24] and set(files.labels) == {0}


def test_validation_classes_must_match_training(tmp_path, shapes_dir):
    shutil.copytree(shapes_dir / "circle", tmp_path / "val" / "circle")
    with pytest.raises(DatasetError, match="square"):
        scan_class_folders(tmp_path / "val", class_names=("circle", "square"))


def test_split_is_stratified_and_reproducible(shapes_dir):
    files = scan_class_folders(shapes_dir)
    train, val = stratified_split(files, 0.25, seed=3)
    again_train, again_val = stratified_split(files, 0.25, seed=3)
    assert val.paths == again_val.paths and train.paths == again_train.paths
    assert val.class_counts().tolist() == [6, 6]
    assert not set(train.paths) & set(val.paths)
    assert stratified_split(files, 0.25, seed=4)[1].paths != val.paths


def test_pipeline_yields_batches_at_model_size(shapes_dir):
    files = scan_class_folders(shapes_dir)
    dataset = make_dataset(files, (16, 20), 8, training=True)
    assert dataset.cardinality().numpy() == 6  # known length: Keras counts steps exactly
    images, labels, weights = next(iter(dataset))
    assert images.shape == (8, 16, 20, 3) and images.dtype.name == "float32"
    np.testing.assert_array_equal(weights.numpy(), 1.0)
    assert 0.0 <= float(images.numpy().min()) and float(images.numpy().max()) <= 255.0
    assert set(labels.numpy().tolist()) <= {0, 1}


def test_validation_pipeline_is_deterministic_and_complete(shapes_dir):
    files = scan_class_folders(shapes_dir)
    first = np.concatenate([y.numpy() for _, y, _ in make_dataset(files, (32, 32), 10, training=False)])
    second = np.concatenate([y.numpy() for _, y, _ in make_dataset(files, (32, 32), 10, training=False)])
    np.testing.assert_array_equal(first, second)
    assert len(first) == 48


def test_file_broken_after_scan_gets_zero_weight_not_a_crash(dataset_copy, caplog):
    files = scan_class_folders(dataset_copy)
    (dataset_copy / "circle" / "circle_00000.png").write_bytes(b"\x89PNG\r\n\x1a\n broken now")
    with caplog.at_level(logging.WARNING):
        weights = np.concatenate([w.numpy() for _, _, w in make_dataset(files, (32, 32), 16, training=False)])
    assert weights.tolist() == [0.0] + [1.0] * 47
    assert "circle_00000.png" in caplog.text


@pytest.mark.parametrize("policy, corner", [("squash", 200), ("crop", 200), ("pad", 0)])
def test_resize_policies(policy, corner):
    wide = np.full((10, 40, 3), 200, np.uint8)
    fitted = fit_image(wide, (20, 20), policy)
    assert fitted.shape == (20, 20, 3)
    assert fitted[0, 0, 0] == corner


def test_class_weights_balance_counts_and_reach_the_samples(shapes_dir):
    files = scan_class_folders(shapes_dir)
    unbalanced = files.subset(list(range(24)) + list(range(24, 32)))
    weights = class_weights(unbalanced)
    assert weights[1] / weights[0] == pytest.approx(3.0)
    batches = list(make_dataset(unbalanced, (8, 8), 32, training=False, weights_by_class=weights))
    labels = np.concatenate([y.numpy() for _, y, _ in batches])
    samples = np.concatenate([w.numpy() for _, _, w in batches])
    np.testing.assert_allclose(samples, [weights[int(label)] for label in labels])


def test_shared_images_finds_the_same_file_links_and_copies_only(tmp_path, shapes_dir):
    first, second, third = sorted((shapes_dir / "circle").iterdir())[:3]
    held = tmp_path / "held"
    held.mkdir()
    shutil.copy(first, held / "copy.png")
    (held / "link.png").symlink_to(second)
    shutil.copy(third, held / "same_size_other.png")
    with open(held / "same_size_other.png", "r+b") as handle:  # same size, one byte changed
        handle.seek(-1, 2)
        last = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([last[0] ^ 1]))
    (held / "other.png").write_bytes(b"not one of them")
    used = [first, second, third]
    held_out = sorted(str(p) for p in held.iterdir())
    assert shared_images(held_out, used) == [str(held / "copy.png"), str(held / "link.png")]
    assert shared_images([str(first)], used) == [str(first)]
    assert shared_images(held_out, []) == []

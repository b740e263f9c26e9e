"""Deletion and insertion curves of a trained model: known areas, the full image's score at
their ends, and a true map that beats a random one."""

import numpy as np
import pytest

from cam_keras import CAM
from cam_keras.evaluate import faithfulness, perturbation_curves
from cam_keras.evaluate.faithfulness import area_under_curve


def test_auc_of_known_curves():
    np.testing.assert_allclose(area_under_curve(np.array([[1.0, 1.0, 1.0], [1.0, 0.5, 0.0]])), [1.0, 0.5])


@pytest.mark.slow  # 4 s of the quick run on 2 cores
def test_deletion_of_the_true_map_beats_a_random_map(trained_run, colors_dir):
    explainer = CAM(trained_run.model)
    from cam_keras.data.class_folders import scan_class_folders
    from cam_keras.data.images import load_image

    files = scan_class_folders(colors_dir)
    images = np.stack([load_image(p) for p in files.paths]).astype(np.float32)
    labels = np.array(files.labels)
    maps = explainer.explain_batch(images, labels.tolist())["maps"][:, 0]
    random_maps = np.random.default_rng(0).random(maps.shape)
    true_scores = faithfulness(trained_run.model, images, maps, labels)
    random_scores = faithfulness(trained_run.model, images, random_maps, labels)
    assert true_scores.deletion_auc < random_scores.deletion_auc
    assert true_scores.insertion_auc > random_scores.insertion_auc
    again = faithfulness(trained_run.model, images, maps, labels)
    assert again == true_scores  # deterministic


def test_curves_start_at_the_full_image_score(trained_run, colors_dir):
    from cam_keras.data.images import load_image

    image = load_image(colors_dir / "blue" / "000.png").astype(np.float32)[None]
    deletion, insertion = perturbation_curves(trained_run.model, image, np.ones((1, 32, 32)), np.array([0]), steps=4)
    full = float(np.asarray(trained_run.model(image))[0, 0])
    probability = np.exp(full) / np.exp(np.asarray(trained_run.model(image))[0]).sum()
    assert deletion.shape == insertion.shape == (1, 5)
    assert deletion[0, 0] == pytest.approx(probability, rel=1e-4)
    assert insertion[0, -1] == pytest.approx(probability, rel=1e-4)

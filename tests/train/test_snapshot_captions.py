"""Training snapshots say each image's true class, so right and wrong maps can be told apart."""

from __future__ import annotations

import numpy as np
from sample_images import CLASS_NAMES

from cam_keras.render import pictures
from cam_keras.train.callbacks import CamSnapshots


def test_snapshot_captions_name_the_true_class_and_whether_the_prediction_is_right(
    tiny_model, images, tmp_path, monkeypatch
):
    predicted = [CLASS_NAMES[i] for i in np.argmax(tiny_model.predict(images, verbose=0), axis=1)]
    truths = [predicted[0], *(name for name in CLASS_NAMES if name != predicted[1])][:2]  # one right, one wrong
    captions = []
    monkeypatch.setattr(pictures, "caption", lambda picture, text, size: captions.append(text) or picture)
    snapshots = CamSnapshots(images[:2], tmp_path, true_classes=truths)
    snapshots.set_model(tiny_model)
    snapshots.on_train_begin()
    assert snapshots.snapshot("epoch_001", 1).is_file()
    assert [text.split("  cam  ")[1] for text in captions] == ["right", f"wrong: true {truths[1]}"]
    assert [text.split()[0] for text in captions] == predicted[:2]

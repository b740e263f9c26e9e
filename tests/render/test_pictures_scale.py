"""A map of a class the model rules out must not look as hot as the predicted class's by default."""

from __future__ import annotations

import numpy as np
import pytest

import cam_keras
from cam_keras.render import pictures
from cam_keras.render.pictures import Style


@pytest.fixture(scope="module")
def sure_model():
    """Two classes whose CAM weights are opposite: class 0 near probability 1, class 1 near 0."""
    model = cam_keras.build_model("small_cnn", class_names=("yes", "no"), input_size=16, base_channels=4)
    dense = model.get_layer("cam_logits")
    weights = np.abs(np.random.default_rng(0).normal(size=dense.kernel.shape[0])).astype(np.float32)
    dense.kernel.assign(np.stack([weights, -weights], axis=1) * 2000.0)
    dense.bias.assign(np.zeros(2, np.float32))
    return model


def _redness(picture: np.ndarray) -> int:
    """How red the reddest pixel is beyond its green: grey pixels and black text give 0."""
    return int((picture[..., 0].astype(int) - picture[..., 1].astype(int)).max())


def test_a_near_zero_probability_map_is_drawn_cold_by_default(sure_model):
    image = np.full((16, 16, 3), 128, np.float32)
    image[4:10, 5:12] = 250.0  # a bright patch on grey: the maps vary, the picture has no colour of its own
    explanation = cam_keras.CAM(sure_model)(image, "all")
    assert explanation.probabilities[0, 1] < 1e-3
    for style, weak_is_cold in [(None, True), (Style(normalize="per-map"), False)]:
        row = explanation.captioned_overlays(0, style)
        half = row.shape[1] // 2
        strong, weak = _redness(row[:, :half]), _redness(row[:, half:])
        assert strong > 40
        assert (weak < 20) is weak_is_cold, (style, strong, weak)


def test_captions_of_several_maps_name_their_scale(sure_model, monkeypatch):
    explanation = cam_keras.CAM(sure_model)(np.full((16, 16, 3), 128, np.float32), "all")
    captions = []
    monkeypatch.setattr(pictures, "caption", lambda picture, text, size: captions.append(text) or picture)
    explanation.captioned_overlays(0)
    explanation.captioned_overlays(0, Style(normalize="per-map"))
    assert [text.rsplit("  ", 1)[1] for text in captions] == ["shared scale"] * 2 + ["per-map scale"] * 2

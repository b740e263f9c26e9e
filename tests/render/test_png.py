"""The overlay PNG encoder, read back by an independent decoder (Pillow)."""

import io

import numpy as np
import pytest
from PIL import Image

from cam_keras.render.png import encode_png


@pytest.mark.parametrize(
    "shape", [(37, 53, 3), (37, 53, 4), (37, 53), (37, 53, 1), (1, 1, 3), (1, 200, 3), (200, 1, 4)]
)
def test_png_round_trips_exactly_through_pillow(shape):
    image = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    image[: shape[0] // 2] = 255  # flat and noisy parts: wrap-around of the filter at 0 and 255
    decoded = np.asarray(Image.open(io.BytesIO(encode_png(image))))
    np.testing.assert_array_equal(decoded, image.reshape(decoded.shape))


def test_png_of_a_smooth_picture_is_compressed():
    ramp = np.broadcast_to(np.linspace(0, 255, 256, dtype=np.uint8)[None, :, None], (256, 256, 3))
    assert len(encode_png(np.ascontiguousarray(ramp))) < ramp.nbytes / 20


@pytest.mark.parametrize(
    "bad", [np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 2), np.uint8), np.zeros((0, 4, 3), np.uint8)]
)
def test_png_refuses_what_it_cannot_encode(bad):
    with pytest.raises(ValueError, match="encode_png takes uint8"):
        encode_png(bad)

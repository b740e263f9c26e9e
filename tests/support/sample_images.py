"""Sample inputs for the tests: random pixels and the image files made of them."""

import numpy as np
from PIL import Image

SIZE = 32
CLASS_NAMES = ("circle", "square", "triangle")  # the classes of the shared tiny model (conftest.py)


def pixels(count=3, size=SIZE, channels=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (count, size, size, channels)).astype(np.float32)


def write_images(folder, images):
    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        Image.fromarray(image.astype(np.uint8).squeeze()).save(folder / f"im{index}.png")
    return folder

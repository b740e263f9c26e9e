"""Data room: the one image decoder, image discovery, datasets."""

from cam_keras.data.images import find_images, load_image

__all__ = ["find_images", "load_image"]

"""Data room: the one image decoder and image discovery (``images``), the one decode -> batch
iterator (``batches``), class-per-folder scans (``class_folders``), stratified splits and class
weights (``split``), resizing (``resize``),
augmentation (``augmentation``), the tf.data pipeline (``pipeline``), and a synthetic dataset
(``synthetic``). Only TensorFlow-free names are imported here, so ``cam_keras.data.synthetic``
stays cheap to import for the command line."""

from cam_keras.data.images import find_images, load_image

__all__ = ["find_images", "load_image"]

"""Class-per-folder datasets (``ROOT/<class>/<image>``) as tf.data pipelines.

Files are scanned once: hidden and non-image files are ignored, unreadable images are
skipped with one warning that names them all; a file that breaks after the scan is logged
and weighted 0, never a crash halfway through an epoch. Decoding goes through the one decoder
(:func:`cam_keras.data.images.load_image`) in parallel, so grayscale, RGBA, CMYK, 16-bit
and EXIF-rotated files all become the same RGB input.
"""

from __future__ import annotations

import concurrent.futures as futures
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps

from cam_keras.choices import AUGMENTATIONS, RESIZE_POLICIES
from cam_keras.data.images import find_images, load_image
from cam_keras.errors import DatasetError, ImageError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabeledFiles:
    """Image paths with integer labels into ``class_names``."""

    paths: tuple[str, ...]
    labels: tuple[int, ...]
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def class_counts(self) -> np.ndarray:
        return np.bincount(np.array(self.labels, dtype=np.int64), minlength=len(self.class_names))

    def subset(self, indices: Sequence[int]) -> LabeledFiles:
        return LabeledFiles(
            tuple(self.paths[i] for i in indices), tuple(self.labels[i] for i in indices), self.class_names
        )


def _readable(path: Path) -> str | None:
    """``None`` if Pillow can parse the file's structure, else the reason it cannot."""
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as image:
            image.verify()
        return None
    except Exception as error:  # Pillow raises many types for broken files.
        return f"not a readable image ({error})"


def scan_class_folders(
    root: str | os.PathLike, class_names: Sequence[str] | None = None, skip_empty: bool = False
) -> LabeledFiles:
    """Find ``ROOT/<class>/**/<image>`` files.

    Args:
        root: dataset folder; each visible subfolder is a class (sorted by name).
        class_names: expected classes in model order (e.g. a validation folder must match
            the training classes); ``None`` takes them from the folder names.
        skip_empty: warn about class folders without readable images instead of failing;
            without ``class_names`` they are left out of the returned classes.

    Raises:
        DatasetError: naming the missing root, an empty or missing class folder, or a
            dataset with fewer than two classes.

    Example:
        >>> files = scan_class_folders("photos/")
        >>> files.class_names, files.class_counts()
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found (expected ROOT/<class>/<image>)")
    folders = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    names = tuple(class_names) if class_names is not None else tuple(folders)
    missing = [name for name in names if name not in folders]
    if missing:
        raise DatasetError(f"{root}: no folder for class(es) {', '.join(missing)}; classes must match {list(names)}")
    per_class = {name: find_images([root / name]) for name in names}
    every = [path for paths in per_class.values() for path in paths]
    with futures.ThreadPoolExecutor(8) as pool:
        problems = dict(zip(every, pool.map(_readable, every)))
    bad = {path: reason for path, reason in problems.items() if reason}
    if bad:
        listing = "\n".join(f"  {path}: {reason}" for path, reason in bad.items())
        logger.warning("skipping %d unreadable file(s):\n%s", len(bad), listing)
    good = {name: [p for p in per_class[name] if p not in bad] for name in names}
    empty = [name for name in names if not good[name]]
    if empty and not skip_empty:
        raise DatasetError(
            f"{root}: class folder(s) with no readable images: {', '.join(empty)}; add images, remove the "
            "folder(s), or pass skip_empty (--skip-empty-classes)"
        )
    if empty:
        logger.warning("%s: class folder(s) with no readable images: %s", root, ", ".join(empty))
    if len(names) - len(empty) < 2:
        raise DatasetError(
            f"{root}: found {len(names) - len(empty)} usable class(es); a classifier needs at least two class folders"
        )
    if class_names is None:  # classes from folders: a skipped one is no class (and no model output)
        names = tuple(name for name in names if good[name])
    paths = tuple(str(path) for name in names for path in good[name])
    labels = tuple(label for label, name in enumerate(names) for _ in good[name])
    return LabeledFiles(paths, labels, names)


def stratified_split(files: LabeledFiles, fraction: float, seed: int = 0) -> tuple[LabeledFiles, LabeledFiles]:
    """Split into (train, validation) with ``fraction`` of every class in validation
    (at least one image per class with two or more); the same seed gives the same split.

    Example:
        >>> train, validation = stratified_split(files, 0.2, seed=0)
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    labels = np.array(files.labels)
    train, validation = [], []
    for label in range(len(files.class_names)):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        count = int(round(fraction * len(members)))
        count = min(max(count, 1 if len(members) > 1 else 0), len(members) - 1) if len(members) else 0
        validation += members[:count].tolist()
        train += members[count:].tolist()
    return files.subset(sorted(train)), files.subset(sorted(validation))


def fit_image(image: np.ndarray, size: tuple[int, int], policy: str = "squash") -> np.ndarray:
    """Resize ``(h, w, 3)`` uint8 to ``size``: ``squash`` (ignore aspect), ``crop`` (fill
    then center-crop) or ``pad`` (fit inside, pad with black).

    Example:
        >>> fit_image(np.zeros((10, 40, 3), np.uint8), (32, 32), "pad").shape
        (32, 32, 3)
    """
    target = (size[1], size[0])
    picture = Image.fromarray(image)
    if policy == "squash":
        picture = picture.resize(target, Image.Resampling.BILINEAR)
    elif policy == "crop":
        picture = ImageOps.fit(picture, target, Image.Resampling.BILINEAR)
    elif policy == "pad":
        picture = ImageOps.pad(picture, target, Image.Resampling.BILINEAR, color=(0, 0, 0))
    else:
        raise ValueError(f"resize policy must be one of {RESIZE_POLICIES}, got {policy!r}")
    return np.asarray(picture)


def _decoder(size: tuple[int, int], policy: str):
    def decode(path: bytes) -> tuple[np.ndarray, bool]:
        try:
            return fit_image(load_image(path.decode(), at_least=size), size, policy).astype(np.float32), True
        except ImageError as error:
            logger.warning("skipped during training: %s", error)
            return np.zeros((*size, 3), np.float32), False

    return decode


def augment(image: tf.Tensor, level: str = "standard") -> tf.Tensor:
    """Augment one ``(H, W, 3)`` float image in [0, 255]: ``flip`` is a random horizontal
    flip; ``standard`` adds a random shift-and-crop (up to 1/8 of the side) and small
    brightness/contrast jitter; ``none`` returns the image.

    Example:
        >>> augment(tf.zeros((64, 64, 3)), "flip").shape
        TensorShape([64, 64, 3])
    """
    if level not in AUGMENTATIONS:
        raise ValueError(f"augmentation must be one of {AUGMENTATIONS}, not {level!r}")
    if level == "none":
        return image
    image = tf.image.random_flip_left_right(image)
    if level == "flip":
        return image
    height, width = image.shape[0], image.shape[1]
    pad_h, pad_w = height // 8, width // 8
    image = tf.image.pad_to_bounding_box(image, pad_h, pad_w, height + 2 * pad_h, width + 2 * pad_w)
    image = tf.image.random_crop(image, (height, width, 3))
    image = tf.image.random_brightness(image, 0.1 * 255.0)
    image = tf.image.random_contrast(image, 0.85, 1.15)
    return tf.clip_by_value(image, 0.0, 255.0)


def make_dataset(
    files: LabeledFiles,
    image_size: tuple[int, int],
    batch_size: int,
    *,
    training: bool,
    policy: str = "squash",
    augmentation: str = "standard",
    cache: bool = False,
    seed: int = 0,
    weights_by_class: dict[int, float] | None = None,
) -> tf.data.Dataset:
    """A batched ``(images (B, H, W, 3) float32 in [0, 255], labels (B,) int32,
    sample weights (B,) float32)`` pipeline with a known number of batches.

    Training pipelines shuffle every epoch and apply ``augmentation`` (see :func:`augment`);
    both decode in parallel, keep a deterministic order (a seeded run repeats exactly, up to
    the CPU kernels' own nondeterminism) and prefetch.
    A file that fails to decode here (it changed after the scan) is logged and gets weight
    0, so it never counts, and the epoch length stays known. ``weights_by_class`` (see
    :func:`class_weights`) multiplies each sample's weight by its class weight.

    Example:
        >>> images, labels, weights = next(iter(make_dataset(files, (64, 64), 32, training=True)))
        >>> images.shape, labels.shape, weights.shape
        (TensorShape([32, 64, 64, 3]), TensorShape([32]), TensorShape([32]))
    """
    decode = _decoder(tuple(image_size), policy)
    per_class = np.ones(len(files.class_names), np.float32)
    for label, weight in (weights_by_class or {}).items():
        per_class[label] = weight

    def load(path, label):
        image, ok = tf.numpy_function(decode, [path], (tf.float32, tf.bool), stateful=False)
        image.set_shape((*image_size, 3))
        ok.set_shape(())
        weight = tf.where(ok, tf.gather(per_class, label), 0.0)
        return image, label, weight

    def augmented(image, label, weight):
        return augment(image, augmentation), label, weight

    dataset = tf.data.Dataset.from_tensor_slices((list(files.paths), np.array(files.labels, np.int32)))
    if training and not cache:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache:  # shuffle after the cache, or every epoch would replay the first one's order
        dataset = dataset.cache()
        if training:
            dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    if training and augmentation != "none":
        dataset = dataset.map(augmented, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def class_weights(files: LabeledFiles) -> dict[int, float]:
    """``total / (classes * count)`` per class, for :func:`make_dataset`'s ``weights_by_class``.

    Example:
        >>> class_weights(files)
        {0: 0.75, 1: 1.5}
    """
    counts = files.class_counts()
    return {label: float(len(files) / (len(counts) * count)) for label, count in enumerate(counts) if count}

"""The few names a notebook needs: from a model (or its file) to a displayed map in one line."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from cam_keras.cam import Explanation, make_explainer
from cam_keras.cam.augmentation import MapAugmentation
from cam_keras.cam.inputs import ImageLike
from cam_keras.cam.targets import ClassSpec
from cam_keras.errors import ModelError, Spelling, UsageError, library_spelling
from cam_keras.evaluate.gallery import TABLE as EVALUATION_TABLE
from cam_keras.evaluate.gallery import evaluation_gallery
from cam_keras.gallery.page import GalleryItem, write_gallery_files
from cam_keras.jobs.gallery import job_gallery
from cam_keras.models import load_model
from cam_keras.models.contract import PreprocessChoice, configure_model
from cam_keras.models.describe import ModelReport, inspect_model
from cam_keras.outdir import OutputFolder
from cam_keras.render.pictures import Style
from cam_keras.render.thumbnails import thumbnail, thumbnail_name, write_thumbnail

ModelLike = keras.Model | str | os.PathLike


def open_model(
    model: ModelLike,
    *,
    output: str | None = None,
    class_names: Sequence[str] | None = None,
    preprocess: PreprocessChoice = None,
    input_size: int | tuple[int, int] | None = None,
    resize: str | None = None,
    safe_mode: bool = True,
) -> keras.Model:
    """A model (or a ``.keras`` / ``.h5`` file, loaded with ``safe_mode``) with the choices of
    :func:`cam_keras.models.contract.configure_model` applied.

    Example:
        >>> model = cam_keras.open_model("mnist.h5", class_names=list("0123456789"), preprocess="unit")
    """
    if not isinstance(model, keras.Model):
        model = load_model(model, safe_mode=safe_mode)
    return configure_model(
        model, output=output, class_names=class_names, preprocess=preprocess, input_size=input_size, resize=resize
    )


def explain(
    model: ModelLike,
    images: ImageLike | Sequence[ImageLike],
    classes: ClassSpec = None,
    *,
    top_k: int = 1,
    method: str = "auto",
    target_layer: str | None = None,
    preprocess: PreprocessChoice = None,
    input_size: int | tuple[int, int] | None = None,
    resize: str | None = None,
    output: str | None = None,
    class_names: Sequence[str] | None = None,
    safe_mode: bool = True,
    augmentation: MapAugmentation | None = None,
) -> Explanation:
    """Class maps for ``images`` from a model or a ``.keras`` / ``.h5`` file.

    ``method="auto"`` uses CAM when the model has a CAM head, else Grad-CAM; see
    :func:`cam_keras.make_explainer` for the others. ``preprocess``, ``input_size``,
    ``resize`` (how pictures are fitted to the input: ``squash``, ``crop`` or ``pad``; by
    default as the model was trained), ``output``, ``class_names`` and ``safe_mode`` are as in
    :func:`open_model`; see what was detected with :func:`cam_keras.inspect_model`.
    ``augmentation`` averages the maps of other scales and mirrors
    (:class:`~cam_keras.cam.augmentation.MapAugmentation`, one more forward pass per view).

    Example:
        >>> cam_keras.explain("run/model.keras", ["cat.jpg", "dog.jpg"]).show()
    """
    model = open_model(
        model,
        output=output,
        class_names=class_names,
        preprocess=preprocess,
        input_size=input_size,
        resize=resize,
        safe_mode=safe_mode,
    )
    return make_explainer(model, method, target_layer, augmentation=augmentation)(images, classes, top_k=top_k)


def describe(model: ModelLike, spelling: Spelling = library_spelling, **choices) -> ModelReport:
    """What cam-keras understands about ``model`` (a model or a file), with the choices of
    :func:`open_model` applied; ``print`` it. Same as ``cam-keras inspect``, which names
    options by ``spelling`` (see :func:`cam_keras.errors.name_options`).

    What the model itself cannot do (a :class:`ModelError`: two inputs, several outputs
    without ``output``...) is reported after what can be read; a choice that cannot be
    applied (a wrong ``output``, as many ``class_names`` as there are no classes...) raises
    its :class:`UsageError`, as :func:`explain` does.

    Example:
        >>> print(cam_keras.describe("model.keras"))
    """
    if not isinstance(model, keras.Model):
        model = load_model(model, safe_mode=choices.pop("safe_mode", True))
    try:
        model = open_model(model, **choices)
    except ModelError:
        pass  # the model's own problem: inspect_model reports it, after what can be read
    return inspect_model(model, spelling)


def write_gallery(source: str | os.PathLike | Explanation, out: str | os.PathLike | None = None) -> Path:
    """Write ``gallery.html`` (and its ``gallery-data.js``) and return the page: for ``source``
    a folder, into it (the output folder of a finished heatmap job, merged if sharded, or of an
    evaluation); for ``source`` an :class:`Explanation`, into the output folder ``out`` with
    its overlays (:meth:`Explanation.save`) and thumbnails.

    Example:
        >>> cam_keras.write_gallery("maps/")  # then open maps/gallery.html in a browser
        >>> cam_keras.write_gallery(cam_keras.explain(model, images), "explained/")
    """
    if isinstance(source, Explanation):
        if out is None:
            raise UsageError("write_gallery(explanation, out): give the folder to write the gallery in")
        return _explanation_gallery(source, Path(out))
    folder = Path(source)
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder; give the output folder of a heatmap job or of an evaluation")
    if (folder / EVALUATION_TABLE).is_file():
        return evaluation_gallery(folder)
    return job_gallery(folder)


def _explanation_gallery(explanation: Explanation, out: Path, stem: str = "image") -> Path:
    """Save ``explanation``'s overlays in ``out``, a thumbnail of each, and the page over them."""
    explanation.save(out, stem)
    items = []
    with OutputFolder(out, overwrite=True, option_name="out") as folder:
        for index in range(len(explanation)):
            name = f"{stem}_{index}"
            picture = np.clip(explanation.images[index], 0, 255).astype(np.uint8)
            small = thumbnail(picture, explanation.raw_maps[index], Style(), explanation.placement(index))
            write_thumbnail(folder.claim(thumbnail_name(name)), small)
            top = explanation.top_predictions(index)
            items.append(
                GalleryItem(
                    name=name,
                    path="",
                    thumbnail=thumbnail_name(name),
                    overlay=f"{name}.png",
                    classes=[explanation.class_names.index(label) for label, _ in top],
                    probabilities=[probability for _, probability in top],
                )
            )
        title = f"cam-keras gallery: {len(items)} images ({explanation.method})"
        return write_gallery_files(folder, title, explanation.class_names, items)

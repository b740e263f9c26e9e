"""The few names a notebook needs: from a model (or its file) to a displayed map in one line."""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras

from cam_keras.cam import Explanation, make_explainer
from cam_keras.cam.inputs import ImageLike
from cam_keras.cam.targets import ClassSpec
from cam_keras.errors import ModelError, Spelling, library_spelling
from cam_keras.models import load_model
from cam_keras.models.contract import PreprocessChoice, configure_model
from cam_keras.models.describe import ModelReport, inspect_model

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
) -> Explanation:
    """Class maps for ``images`` from a model or a ``.keras`` / ``.h5`` file.

    ``method="auto"`` uses CAM when the model has a CAM head, else Grad-CAM; see
    :func:`cam_keras.make_explainer` for the others. ``preprocess``, ``input_size``,
    ``resize`` (how pictures are fitted to the input: ``squash``, ``crop`` or ``pad``; by
    default as the model was trained), ``output``, ``class_names`` and ``safe_mode`` are as in
    :func:`open_model`; see what was detected with :func:`cam_keras.inspect_model`.

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
    return make_explainer(model, method, target_layer)(images, classes, top_k=top_k)


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

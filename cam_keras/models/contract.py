"""What cam-keras understood about a model: its input and output contracts and class names.

Every explainer reads the model through :func:`model_contract`; :func:`configure_model`
applies the user's choices (output, class names, preprocessing, input size) once, up front.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import keras
import numpy as np

from cam_keras.errors import UsageError, option
from cam_keras.models.graph import producer_names
from cam_keras.models.info import attach_info, loaded_from, mark_loaded_from, model_info
from cam_keras.models.inputs import InputContract, read_input
from cam_keras.models.outputs import OutputContract, read_output

_ATTRIBUTE = "_cam_keras_inputs"
PreprocessChoice = str | Callable[[np.ndarray], np.ndarray] | None


@dataclass(frozen=True)
class ModelContract:
    """How images go in and what comes out.

    Attributes:
        inputs: channels, size and preprocessing of the image input.
        outputs: what the output means and where its logits are.
        class_names: one name per explained class (two for a single-unit binary output).
    """

    inputs: InputContract
    outputs: OutputContract
    class_names: tuple[str, ...]


def model_contract(model: keras.Model) -> ModelContract:
    """The model's contract: the input side as set by :func:`configure_model` (or read with
    defaults and kept on the model), the output side and class names as they are now.

    Example:
        >>> model_contract(model).outputs.kind
        'logits'
    """
    outputs = read_output(model)
    inputs = getattr(model, _ATTRIBUTE, None)
    if inputs is None:
        inputs = read_input(model)
        setattr(model, _ATTRIBUTE, inputs)
    return ModelContract(inputs, outputs, model_info(model).class_names)


def configure_model(
    model: keras.Model,
    *,
    output: str | None = None,
    class_names: Sequence[str] | None = None,
    preprocess: PreprocessChoice = None,
    input_size: int | tuple[int, int] | None = None,
    resize: str | None = None,
) -> keras.Model:
    """Apply the user's choices and return the model to explain.

    Args:
        output: name of the output (its layer) to explain, for models with several outputs.
        class_names: one name a class, for models that carry none.
        preprocess: see :func:`cam_keras.models.inputs.read_input`; ``None`` detects it.
        input_size: side or ``(height, width)`` for a dynamic-size model.
        resize: how pictures are fitted to the input size, ``squash``, ``crop`` or ``pad``;
            ``None`` takes the policy the model was trained with, else squash.

    Returns:
        ``model``, or a model of its inputs and the chosen ``output``.

    Example:
        >>> model = configure_model(model, class_names=["cat", "dog"], preprocess="torch")
    """
    if output is not None:
        model = select_output(model, output)
    if class_names is not None:
        attach_info(model, replace(model_info(model), class_names=tuple(class_names)))
    read_output(model)  # refuse a model whose output cannot be explained before anything else
    setattr(model, _ATTRIBUTE, read_input(model, preprocess, input_size, resize))
    return model


def select_output(model: keras.Model, name: str) -> keras.Model:
    """A model of ``model``'s inputs and its output called ``name`` (the output layer's name).

    Raises:
        UsageError: no such output (a wrong ``output``, not a problem of the model), listing the outputs.
    """
    names = producer_names(model.outputs)
    if name not in names:
        raise UsageError(
            f"{option('output')} {name}: model {model.name!r} has no output {name!r}; "
            f"its outputs are: {', '.join(names)}"
        )
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    selected = keras.Model(inputs, model.outputs[names.index(name)], name=f"{model.name}_{name}")
    mark_loaded_from(selected, loaded_from(model))
    return selected

"""``inspect``: what cam-keras understood about a model, or why it cannot explain it."""

from __future__ import annotations

from dataclasses import dataclass, field

import keras

from cam_keras.errors import (
    CamKerasError,
    HeadNotFoundError,
    Spelling,
    library_spelling,
    name_options,
    option,
    raw_message,
)
from cam_keras.models.contract import model_contract
from cam_keras.models.graph import producer_names
from cam_keras.models.head import find_cam_head
from cam_keras.models.taps import resolve_target_layer
from cam_keras.models.tokens import token_grid
from cam_keras.safe_text import for_terminal

_KIND = {
    "softmax": "softmax probabilities; maps explain the pre-softmax logits",
    "logits": "logits (no activation); probabilities are their softmax",
    "sigmoid": "sigmoid, multi-label: one independent probability per class",
    "binary": "one unit: explained as two classes (negative, positive) with logits [-z, z] "
    "and probabilities [1 - sigmoid(z), sigmoid(z)]",
}


@dataclass
class ModelReport:
    """What :func:`inspect_model` found, one ``(topic, finding)`` row each; ``problems`` lists
    why the model cannot be explained as it is (empty when it can). Printed, every finding is
    escaped: names from the file (classes, layers) cannot draw on the terminal or forge a line."""

    rows: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        width = max(len(topic) for topic, _ in self.rows)
        lines = [f"{topic:<{width}}  {for_terminal(finding)}" for topic, finding in self.rows]
        return "\n".join(lines + [f"cannot explain: {for_terminal(problem)}" for problem in self.problems])


def inspect_model(model: keras.Model, spelling: Spelling = library_spelling) -> ModelReport:
    """Input shape and channels, preprocessing and where it came from, output type, class
    names, the CAM head (feature layer, Dense layer) or why there is none, and the method
    ``auto`` uses. Pass a model prepared by :func:`cam_keras.models.contract.configure_model`
    to see the effect of your choices. Options are named as ``spelling`` names them (by
    default by their Python names).

    Example:
        >>> print(inspect_model(keras.applications.VGG19(weights=None)))
        model          vgg19
        input          (None, 224, 224, 3): 3 channels, fixed 224x224
        ...
    """
    report = ModelReport([("model", model.name)])
    for topic, tensors in (("inputs", model.inputs), ("outputs", model.outputs)):
        names = producer_names(tensors)
        report.rows.append((topic, ", ".join(f"{name} {tuple(t.shape)}" for name, t in zip(names, tensors))))
    try:
        contract = model_contract(model)
    except CamKerasError as error:
        report.problems.append(name_options(raw_message(error), spelling))
        return report
    inputs, outputs = contract.inputs, contract.outputs
    height, width = inputs.size
    dynamic = name_options(f"dynamic, run at {height}x{width} ({option('input_size')})", spelling)
    size = dynamic if inputs.dynamic else f"fixed {height}x{width}"
    report.rows += [
        (
            "channels",
            f"{inputs.channels} ({ {1: 'grayscale', 3: 'RGB', 4: 'four channels'}[inputs.channels] }), {size}",
        ),
        ("preprocessing", f"{inputs.preprocessing.name}: {inputs.preprocessing.description} [{inputs.source}]"),
        ("resize", f"{inputs.resize} (how pictures of another aspect are fitted) [{inputs.resize_source}]"),
        ("output", f"{outputs.kind}: {_KIND[outputs.kind]} [{outputs.source}]"),
        (
            "classes",
            f"{len(contract.class_names)}: {', '.join(contract.class_names[:10])}"
            + (", ..." if len(contract.class_names) > 10 else ""),
        ),
    ]
    try:
        head = find_cam_head(model)
    except HeadNotFoundError as error:
        reason = name_options(raw_message(error), spelling)
        report.rows += [("CAM head", f"none: {reason}"), ("method auto", f"gradcam at {_gradient_target(model)}")]
    else:
        report.rows += [
            ("CAM head", str(head)),
            ("method auto", "cam (exact: mean of the map + bias = logit)"),
        ]
    return report


def _gradient_target(model: keras.Model) -> str:
    """Where Grad-CAM maps by default, and on which grid for a transformer's tokens."""
    try:
        tap = resolve_target_layer(model)
    except ValueError as error:
        return f"no default layer ({error})"
    try:  # a layer inside another layer's call (keras-hub's encoders) has no symbolic tensors
        tensor = tap.layer.input if tap.where == "input" else tap.layer.output
    except (AttributeError, ValueError):
        tensor = None
    tensor = tensor[0] if isinstance(tensor, (list, tuple)) else tensor
    where = f"the query tokens of {tap.layer.name!r}" if tap.where == "input" else f"{tap.layer.name!r}"
    grid = (
        token_grid(tensor.shape[1], tuple(model.inputs[0].shape[1:3]))
        if tensor is not None and len(tensor.shape) == 3
        else None
    )
    return f"{where}{f' ({grid})' if grid else ''}"

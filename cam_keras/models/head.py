"""Find a model's GAP -> Dense head by walking its graph, nested models included.

The feature map CAM needs is whatever tensor enters GlobalAveragePooling2D: it is found from
the graph, never guessed from layer names.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from cam_keras.errors import HeadNotFoundError
from cam_keras.models.graph import GraphCursor, output_activation, single_or_list

_IDENTITY_AT_INFERENCE = (
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.ActivityRegularization,
)
GRADIENT_HINT = (
    "Plain CAM needs GlobalAveragePooling2D followed by one Dense layer. For this model use a "
    "gradient-based method: cam_keras.GradCAM(model) or `cam-keras heatmap --method gradcam`."
)


@dataclass(frozen=True)
class CamHead:
    """The parts of a GAP + Dense classifier that CAM uses.

    Attributes:
        dense: the Dense layer producing logits; kernel ``(channels, classes)``.
        feature_model: maps the model's inputs to the GAP input ``(batch, h, w, channels)``.
        feature_layer: path of the layer producing the GAP input (``"conv5_block3_out"``, or
            ``"resnet50/conv5_block3_out"`` inside a nested model).
        output_activation: name of the activation after the logits (``"softmax"``, ``"linear"``).
    """

    dense: keras.layers.Dense
    feature_model: keras.Model
    feature_layer: str
    output_activation: str


def _describe(layer: keras.layers.Layer) -> str:
    return f"{layer.name!r} ({type(layer).__name__})"


def _step(cursor: GraphCursor, what: str) -> tuple[keras.layers.Layer, GraphCursor]:
    found = cursor.producer()
    if found is None:
        raise HeadNotFoundError(f"reached the model input while looking for {what}. {GRADIENT_HINT}")
    return found


def find_cam_head(model: keras.Model) -> CamHead:
    """Locate ``features -> GlobalAveragePooling2D -> [Dropout] -> Dense [-> softmax]``.

    Raises:
        HeadNotFoundError: naming the layer found where GAP or Dense was expected.

    Example:
        >>> head = find_cam_head(model)
        >>> head.feature_layer, head.feature_model.output_shape
        ('conv5_block3_out', (None, 7, 7, 2048))
    """
    if len(model.outputs) != 1:
        raise HeadNotFoundError(f"model {model.name!r} has {len(model.outputs)} outputs; CAM needs one")
    layer, cursor = _step(GraphCursor(model.outputs[0]), "the output Dense layer")
    activation = "linear"
    while output_activation(layer) is not None:
        activation = output_activation(layer)
        layer, cursor = _step(cursor.input_cursor(), "the output Dense layer")
    if not isinstance(layer, keras.layers.Dense):
        raise HeadNotFoundError(
            f"model {model.name!r} ends in {_describe(layer)}, not a Dense layer. {GRADIENT_HINT}"
        )
    dense = layer
    if keras.activations.serialize(dense.activation) != "linear":
        activation = keras.activations.serialize(dense.activation)

    layer, cursor = _step(cursor.input_cursor(), "GlobalAveragePooling2D")
    while isinstance(layer, _IDENTITY_AT_INFERENCE):
        layer, cursor = _step(cursor.input_cursor(), "GlobalAveragePooling2D")
    if not isinstance(layer, keras.layers.GlobalAveragePooling2D) or layer.keepdims:
        raise HeadNotFoundError(
            f"Dense {dense.name!r} is fed by {_describe(layer)}, not GlobalAveragePooling2D. "
            + GRADIENT_HINT
        )
    if layer.data_format != "channels_last":
        raise HeadNotFoundError(f"GAP layer {layer.name!r} is channels_first; cam-keras needs channels_last")

    features = cursor.input_cursor()
    feature_model = keras.Model(single_or_list(model.inputs), features.lift(), name="cam_features")
    return CamHead(dense, feature_model, features.layer_path, activation)

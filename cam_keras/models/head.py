"""Find a model's GAP -> Dense head by walking its graph, nested models included.

The feature map CAM needs is whatever tensor enters GlobalAveragePooling2D: it is found from
the graph, never guessed from layer names. Models nested inside other models (transfer-learning
style ``Model(inputs, head(backbone(x)))``) are descended into, and the feature tensor is lifted
back to the outer graph, so building the feature extractor never fails with "Graph disconnected".
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from cam_keras.errors import HeadNotFoundError

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
class GraphCursor:
    """A tensor inside a (possibly nested) functional graph.

    ``scopes`` lists, outermost first, each nested model entered and the node at which the
    enclosing graph called it.
    """

    tensor: keras.KerasTensor
    scopes: tuple[tuple[keras.Model, object], ...] = ()

    def producer(self) -> tuple[keras.layers.Layer, "GraphCursor"] | None:
        """The layer that computes this tensor, entering nested models and leaving their
        inputs as needed; ``None`` once the outermost model input is reached."""
        cursor = self
        while True:
            operation, node_index, tensor_index = cursor.tensor._keras_history
            if isinstance(operation, keras.layers.InputLayer):
                if not cursor.scopes:
                    return None
                nested, node = cursor.scopes[-1]
                position = [id(t) for t in nested.inputs].index(id(cursor.tensor))
                cursor = GraphCursor(node.input_tensors[position], cursor.scopes[:-1])
            elif isinstance(operation, keras.Model):
                node = operation._inbound_nodes[node_index]
                inner = operation.outputs[tensor_index]
                cursor = GraphCursor(inner, (*cursor.scopes, (operation, node)))
            else:
                return operation, cursor

    def input_cursor(self) -> "GraphCursor":
        """Cursor on the first input of the layer that produced this tensor."""
        operation, node_index, _ = self.tensor._keras_history
        node = operation._inbound_nodes[node_index]
        return GraphCursor(node.input_tensors[0], self.scopes)

    def lift(self) -> keras.KerasTensor:
        """The same tensor expressed in the outermost graph."""
        tensor = self.tensor
        for nested, node in reversed(self.scopes):
            tensor = keras.Model(single_or_list(nested.inputs), tensor)(
                single_or_list(node.input_tensors)
            )
        return tensor

    @property
    def layer_path(self) -> str:
        """``outer_model/inner_layer`` name of the layer producing this tensor."""
        found = self.producer()
        if found is None:
            return self.tensor.name
        layer, cursor = found
        return "/".join([*(nested.name for nested, _ in cursor.scopes), layer.name])


def single_or_list(tensors: list) -> object:
    """Keras models built from one input expect a tensor, not a one-element list."""
    return tensors[0] if len(tensors) == 1 else list(tensors)


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


def _output_activation(layer: keras.layers.Layer) -> str | None:
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    if isinstance(layer, keras.layers.Activation):
        return keras.activations.serialize(layer.activation)
    return None


def _step(cursor: GraphCursor, what: str) -> tuple[keras.layers.Layer, GraphCursor]:
    found = cursor.producer()
    if found is None:
        raise HeadNotFoundError(f"reached the model input while looking for {what}. {GRADIENT_HINT}")
    return found


def find_cam_head(model: keras.Model) -> CamHead:
    """Locate ``features -> GlobalAveragePooling2D -> [Dropout] -> Dense [-> softmax]``.

    Raises:
        HeadNotFoundError: naming the layer found where GAP or Dense was expected.
    """
    if len(model.outputs) != 1:
        raise HeadNotFoundError(f"model {model.name!r} has {len(model.outputs)} outputs; CAM needs one")
    layer, cursor = _step(GraphCursor(model.outputs[0]), "the output Dense layer")
    activation = "linear"
    while _output_activation(layer) is not None:
        activation = _output_activation(layer)
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

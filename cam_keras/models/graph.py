"""Walk functional Keras graphs, nested models included, and lift tensors to the outer graph.

Models nested inside other models (transfer-learning style ``Model(inputs, head(backbone(x)))``)
are descended into, and a tensor found inside is re-expressed in the outermost graph, so a
feature extractor built from it never fails with "Graph disconnected".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import keras

from cam_keras.compat import inbound_node, keras_history, producer
from cam_keras.models.tokens import token_grid


def producer_names(tensors: list) -> list[str]:
    """Names of the layers producing ``tensors`` (an input's is its ``InputLayer`` name)."""
    return [producer(tensor).name for tensor in tensors]


def single_or_list(tensors: list) -> object:
    """Keras models built from one input expect a tensor, not a one-element list."""
    return tensors[0] if len(tensors) == 1 else list(tensors)


@dataclass(frozen=True)
class GraphCursor:
    """A tensor inside a (possibly nested) functional graph.

    ``scopes`` lists, outermost first, each nested model entered and the node at which the
    enclosing graph called it.
    """

    tensor: keras.KerasTensor
    scopes: tuple[tuple[keras.Model, object], ...] = ()

    def producer(self) -> tuple[keras.layers.Layer, GraphCursor] | None:
        """The layer that computes this tensor, entering nested models and leaving their
        inputs as needed; ``None`` once the outermost model input is reached."""
        cursor = self
        while True:
            operation, node_index, tensor_index = keras_history(cursor.tensor)
            if isinstance(operation, keras.layers.InputLayer):
                if not cursor.scopes:
                    return None
                nested, node = cursor.scopes[-1]
                position = [id(t) for t in nested.inputs].index(id(cursor.tensor))
                cursor = GraphCursor(node.input_tensors[position], cursor.scopes[:-1])
            elif isinstance(operation, keras.Model):
                node = inbound_node(operation, node_index)
                inner = operation.outputs[tensor_index]
                cursor = GraphCursor(inner, (*cursor.scopes, (operation, node)))
            else:
                return operation, cursor

    def input_cursor(self) -> GraphCursor:
        """Cursor on the first input of the layer that produced this tensor."""
        return self.input_cursors()[0]

    def input_cursors(self) -> list[GraphCursor]:
        """Cursors on every input of the layer that produced this tensor."""
        operation, node_index, _ = keras_history(self.tensor)
        node = inbound_node(operation, node_index)
        return [GraphCursor(tensor, self.scopes) for tensor in node.input_tensors]

    def lift(self) -> keras.KerasTensor:
        """The same tensor expressed in the outermost graph."""
        tensor = self.tensor
        for nested, node in reversed(self.scopes):
            tensor = keras.Model(single_or_list(nested.inputs), tensor)(single_or_list(node.input_tensors))
        return tensor

    @property
    def layer_path(self) -> str:
        """``outer_model/inner_layer`` name of the layer producing this tensor."""
        found = self.producer()
        if found is None:
            return self.tensor.name
        layer, cursor = found
        return "/".join([*(nested.name for nested, _ in cursor.scopes), layer.name])


def find_layer(model: keras.Model, name: str) -> GraphCursor:
    """Cursor on the output of the layer called ``name`` (``"conv5_block3_out"``), searched
    in nested models too, or given as a path (``"resnet50/conv5_block3_out"``).

    Raises:
        ValueError: no such layer, listing where it looked.

    Example:
        >>> find_layer(model, "resnet50/conv5_block3_out").lift().shape
        (None, 7, 7, 2048)
    """
    parts = name.split("/")
    found = _search(model, parts[-1], tuple(parts[:-1]), ())
    if found is None:
        raise ValueError(f"model {model.name!r} has no layer {name!r} (nested models searched too)")
    return found


def _search(model: keras.Model, name: str, path: tuple[str, ...], scopes: tuple) -> GraphCursor | None:
    for layer in model.layers:
        if layer.name == name and not path:
            return GraphCursor(layer.output, scopes)
        if isinstance(layer, keras.Model) and (not path or path[0] == layer.name):
            node = inbound_node(layer, -1)
            found = _search(layer, name, path[1:], (*scopes, (layer, node)))
            if found is not None:
                return found
    return None


def is_feature_map(tensor: keras.KerasTensor, input_size: tuple[int | None, int | None]) -> bool:
    """A 4-D map ``(batch, h, w, channels)``, or tokens ``(batch, n, d)`` on a patch grid."""
    rank = len(tensor.shape)
    return rank == 4 or (rank == 3 and token_grid(tensor.shape[1], input_size) is not None)


def last_feature_map(model: keras.Model) -> tuple[GraphCursor, keras.layers.Layer | None]:
    """Cursor on the last feature map (see :func:`is_feature_map`) on the path from the output
    back to the input (following first inputs), e.g. the GAP input of a classifier or a
    transformer's last tokens, and the layer on that path that reads it (``None`` for the output).

    Raises:
        ValueError: the model has no feature map on that path.

    Example:
        >>> last_feature_map(model)[0].layer_path
        'resnet50/conv5_block3_out'
    """
    size = tuple(model.inputs[0].shape[1:3])
    cursor, reader = GraphCursor(model.outputs[0]), None
    while not is_feature_map(cursor.tensor, size):
        found = cursor.producer()
        if found is None:
            raise ValueError(
                f"model {model.name!r} has no 4-D feature map or patch tokens before its output; pass target_layer"
            )
        reader, cursor = found[0], found[1].input_cursor()
    return cursor, reader


def nearest_upstream(cursor: GraphCursor, wanted: Callable[[keras.layers.Layer], bool]) -> GraphCursor | None:
    """Cursor on the output of the ``wanted`` layer closest upstream of ``cursor`` (breadth
    first over every input, nested models included), or ``None``."""
    queue, seen = deque([cursor]), set()
    while queue:
        found = queue.popleft().producer()
        if found is None or id(found[1].tensor) in seen:
            continue
        seen.add(id(found[1].tensor))
        if wanted(found[0]):
            return found[1]
        queue.extend(found[1].input_cursors())
    return None

"""Finer feature maps for built backbones: dilate instead of stride, or cut earlier.

A backbone's output stride (input side / feature-map side; 32 for ResNet50 or VGG19 without
their last pool, 4 for ``small_cnn``) sets how coarse its CAM is. Two ways make it finer while
keeping every pretrained weight:

* **Dilation** (Chen et al., "DeepLab", TPAMI 2018; Yu & Koltun, ICLR 2016): every layer
  that would take the stride past the target keeps stride 1, and every later spatial kernel is
  dilated by the stride it lost, so each unit sees what it saw before on a denser grid. Weights
  keep their shapes, so they carry over. Costs (stride ratio)^2 more work after the cut point.
* **An earlier cut** (Choe et al., CVPR 2020, wsolevaluation: Inception cut at ``Mixed_6e``),
  for backbones whose valid-padded branches cannot be dilated without changing shape: the
  features are taken from the last layer at the target stride that every later layer depends
  on alone. Cheaper, but the deepest stages are dropped.

:func:`with_output_stride` tries dilation and falls back to the cut, and says which it used.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from cam_keras.compat import producer

SPATIAL_KERNELS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
POOLS = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)


@dataclass(frozen=True)
class StrideChange:
    """How a backbone was made finer: ``"dilated"`` or ``"cut at <layer>"``, and the strides."""

    how: str
    before: int
    after: int


def output_stride(model: keras.Model) -> int:
    """Input pixels per feature-map cell: the product of the strides on the way to the output
    (from the graph, not the shapes: valid padding shrinks small inputs' maps further)."""
    return _layer_strides(model)[producer(model.outputs[0]).name]


def _inputs_of(layer: keras.layers.Layer) -> list[keras.KerasTensor]:
    return list(layer.input) if isinstance(layer.input, (list, tuple)) else [layer.input]


def _layer_strides(model: keras.Model) -> dict[str, int]:
    """Each operation's output stride, by name (``model.operations`` is in graph order)."""
    strides = {model.operations[0].name: 1}
    for layer in model.operations[1:]:
        strides[layer.name] = strides[producer(_inputs_of(layer)[0]).name] * _strides(layer)
    return strides


def with_output_stride(model: keras.Model, target: int) -> tuple[keras.Model, StrideChange]:
    """``model`` (image in, feature map out) rebuilt so its feature map has stride ``target``.

    Raises:
        ValueError: ``target`` is not a power of two, is coarser than the model's, or neither
            dilation nor a cut reaches it.
    """
    before = output_stride(model)
    if target < 1 or target & (target - 1):
        raise ValueError(f"output_stride must be a power of two (1, 2, 4, 8, 16...), got {target}")
    if target > before:
        raise ValueError(f"output_stride={target} is coarser than the backbone's own stride {before}")
    if target == before:
        return model, StrideChange("unchanged", before, before)
    dilated = _dilated(model, target)
    if dilated is not None:
        return dilated, StrideChange("dilated", before, target)
    cut = _cut(model, target)
    if cut is None:
        raise ValueError(
            f"output_stride={target}: this backbone can be neither dilated nor cut at stride {target}; "
            f"keep its own stride {before}"
        )
    return keras.Model(model.input, cut.output, name=model.name), StrideChange(f"cut at {cut.name}", before, target)


def _strides(layer: keras.layers.Layer) -> int:
    strides = getattr(layer, "strides", None)
    return 1 if strides is None else int(strides[0])


def _kernel(layer: keras.layers.Layer) -> int:
    size = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None) or (1,)
    return int(size[0])


def _new_configs(model: keras.Model, target: int) -> dict[str, dict]:
    """The changed config of every layer that dilation touches, by layer name."""
    strides = _layer_strides(model)
    changed: dict[str, dict] = {}
    for layer in model.operations[1:]:
        stride_in = strides[layer.name] // _strides(layer)
        dilation = max(1, stride_in // target)
        config = layer.get_config()
        if _strides(layer) > 1 and stride_in * _strides(layer) > target:
            config["strides"] = (1, 1)
            if isinstance(layer, POOLS):
                config["padding"] = "same"  # a stride-1 pool keeps the map's size
            changed[layer.name] = config
        if isinstance(layer, SPATIAL_KERNELS) and _kernel(layer) > 1 and dilation > 1:
            config["dilation_rate"] = tuple(dilation * rate for rate in layer.dilation_rate)
            changed[layer.name] = config
    for layer in model.layers[1:]:
        if isinstance(layer, keras.layers.ZeroPadding2D):
            padding = _padding_for(model, layer, changed)
            if padding is not None:
                changed[layer.name] = {**layer.get_config(), "padding": padding}
    return changed


def _padding_for(model: keras.Model, pad: keras.layers.Layer, changed: dict[str, dict]) -> tuple | None:
    """Symmetric "same" padding for the changed valid-padded layer this pad feeds, if any."""
    consumers = [layer for layer in model.layers if _consumes(layer, pad)]
    if len(consumers) != 1 or consumers[0].name not in changed:
        return None
    consumer = consumers[0]
    if getattr(consumer, "padding", "valid") != "valid":
        return None
    config = changed[consumer.name]
    rate = int(config.get("dilation_rate", (1, 1))[0])
    total = rate * (_kernel(consumer) - 1)
    return ((total // 2, total - total // 2), (total // 2, total - total // 2))


def _consumes(layer: keras.layers.Layer, source: keras.layers.Layer) -> bool:
    return any(producer(tensor) is source for tensor in _inputs_of(layer))


def _dilated(model: keras.Model, target: int) -> keras.Model | None:
    """``model`` rebuilt with dilation instead of stride past ``target``, or ``None`` if the
    rebuilt graph does not fit together or misses the target (valid-padded branches)."""
    changed = _new_configs(model, target)

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        return layer.__class__.from_config(changed.get(layer.name) or layer.get_config())

    try:
        rebuilt = keras.models.clone_model(model, input_tensors=model.input, clone_function=clone)
    except ValueError:
        return None
    if rebuilt.outputs[0].shape[1:3] != _dilated_shape(model, target):
        return None  # valid-padded branches shrank the map: its cells no longer tile the image
    originals = {layer.name: layer for layer in model.layers}
    for layer in rebuilt.layers:
        layer.set_weights(originals[layer.name].get_weights())
    return rebuilt


def _dilated_shape(model: keras.Model, target: int) -> tuple[int, int]:
    """The feature map's size once dilated: ``ratio`` times the original's, as for "same" padding."""
    ratio = output_stride(model) // target
    height, width = model.outputs[0].shape[1:3]
    return (height * ratio, width * ratio)


def _cut(model: keras.Model, target: int) -> keras.layers.Layer | None:
    """The last layer at stride ``target`` whose output alone feeds everything after it."""
    strides = _layer_strides(model)
    layers = model.operations
    position = {layer.name: index for index, layer in enumerate(layers)}
    # earliest[i]: the earliest layer any layer at or after i reads from
    earliest = [len(layers)] * (len(layers) + 1)
    for index in range(len(layers) - 1, 0, -1):
        layer = layers[index]
        reads = min(position[producer(tensor).name] for tensor in _inputs_of(layer))
        earliest[index] = min(earliest[index + 1], reads)
    for index in range(len(layers) - 2, 0, -1):
        layer = layers[index]
        single = not isinstance(layer.output, (list, tuple))
        if single and strides[layer.name] == target and earliest[index + 1] >= index:
            return layer
    return None

"""Run a model built for one input size at another (multi-scale maps).

A Keras 3 functional model refuses inputs of another spatial size than its ``Input`` even when
every layer could take them (convolutions, pooling, global pooling): its ``input_spec`` says
the size. Lifting that check for the duration of a call lets such a model run at any size;
layers that truly need the size (``Flatten`` -> ``Dense``, position embeddings) still fail.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras

from cam_keras.compat import sublayers


@contextlib.contextmanager
def any_input_size(model: keras.Model) -> Iterator[None]:
    """Inside the block, ``model`` and the models nested in it accept inputs of any spatial
    size; their size checks come back after it (``input_spec`` is a public layer attribute)."""
    models = [model, *(layer for layer in sublayers(model) if isinstance(layer, keras.Model))]
    saved = [(each, each.input_spec) for each in models]
    for each, _ in saved:
        each.input_spec = None
    try:
        yield
    finally:
        for each, spec in saved:
            each.input_spec = spec

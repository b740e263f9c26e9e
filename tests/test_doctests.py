"""Docstring examples that are real run as doctests (the others name a user's model or files
and are marked ``+SKIP``)."""

import doctest
import importlib

import pytest

REAL_EXAMPLES = (
    "cam_keras.cam.activations",
    "cam_keras.cam.augmentation",
    "cam_keras.cam.gradients",
    "cam_keras.cam.maps",
    "cam_keras.cam.methods",
    "cam_keras.cam.postprocessing",
    "cam_keras.cam.targets",
    "cam_keras.cam.views",
    "cam_keras.data.augmentation",
    "cam_keras.data.resize",
    "cam_keras.jobs.identity",
    "cam_keras.models.tokens",
    "cam_keras.render.sizing",
)


@pytest.mark.parametrize("module", REAL_EXAMPLES)
def test_docstring_examples_run(module):
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(importlib.import_module(module), optionflags=flags)
    assert result.attempted > 0 and result.failed == 0

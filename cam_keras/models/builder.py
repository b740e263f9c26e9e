"""Build CAM-ready classifiers: backbone -> GlobalAveragePooling2D -> one Dense layer (logits)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from cam_keras.compat import producer
from cam_keras.models.backbones import SMALL_CNN, application_features, small_cnn
from cam_keras.models.info import ModelInfo, attach_info
from cam_keras.models.stride import with_output_stride

GAP_NAME = "cam_gap"
LOGITS_NAME = "cam_logits"
HEAD_CONV_NAME = "cam_head_conv"
DROPOUT_NAME = "cam_dropout"
HEAD_LAYER_NAMES = frozenset({HEAD_CONV_NAME, GAP_NAME, DROPOUT_NAME, LOGITS_NAME})


def build_model(
    backbone: str,
    num_classes: int | None = None,
    input_size: int | tuple[int, int] = 224,
    *,
    weights: str | None = None,
    class_names: Sequence[str] | None = None,
    drop_last_pool: bool = False,
    output_stride: int | None = None,
    head_conv: int | None = None,
    dropout: float = 0.0,
    base_channels: int = 32,
) -> keras.Model:
    """Build a classifier whose head is GAP followed by exactly one Dense layer.

    The model maps raw RGB images ``(batch, height, width, 3)`` in [0, 255] to logits
    ``(batch, num_classes)`` (float32, no softmax). The tensor entering GAP is the CAM feature
    map; its layer is recorded in ``cam_keras.model_info(model).feature_layer``.

    Args:
        backbone: ``"small_cnn"`` or any ``keras.applications`` name (``"resnet50"``,
            ``"inception_v3"``, ``"vgg19"``, ...); see :func:`available_backbones`.
        num_classes: number of outputs; defaults to ``len(class_names)``.
        input_size: side length or ``(height, width)`` of the model input.
        weights: ``None`` (random), ``"imagenet"`` or a path to a local no-top weights file.
        class_names: one name per class, saved with the model (default ``class_0``...).
        drop_last_pool: cut a trailing pooling layer of the backbone (VGG's ``block5_pool``),
            doubling map resolution at the cost of a 4x larger feature map.
        output_stride: input pixels per feature-map cell, a power of two finer than the
            backbone's own (32 for most ``keras.applications``, 4 for ``small_cnn``): later
            strides become dilations, keeping every weight (Chen et al., DeepLab), or, where
            valid-padded branches cannot be dilated (InceptionV3 at 16), the backbone is cut
            at the last layer of that stride (Choe et al., CVPR 2020). ``None`` keeps the
            backbone's stride. Each halving costs about 4x the work of the layers after it.
        head_conv: if set, add a 3x3 convolution with this many filters and ReLU before GAP,
            as the paper did for GoogLeNet; finer maps after fine-tuning, more parameters.
        dropout: dropout rate between GAP and Dense (identity at inference, CAM unaffected).
        base_channels: channels of the first ``small_cnn`` stage; later stages have 2x and 4x
            (ignored for other backbones).

    Example:
        >>> model = build_model("small_cnn", num_classes=3, input_size=64)
        >>> model.output.shape
        (None, 3)
    """
    if class_names is None:
        if num_classes is None:
            raise ValueError("pass num_classes or class_names")
        class_names = [f"class_{index}" for index in range(num_classes)]
    if num_classes is not None and num_classes != len(class_names):
        raise ValueError(f"num_classes={num_classes} but {len(class_names)} class_names")
    height, width = (input_size, input_size) if isinstance(input_size, int) else input_size

    inputs = keras.Input((height, width, 3), name="image")
    if backbone == SMALL_CNN:
        features = small_cnn(inputs, base_channels=base_channels)
    else:
        features = application_features(backbone, inputs, weights)
    if output_stride is not None:
        features = with_output_stride(keras.Model(inputs, features), output_stride)[0].outputs[0]
    if drop_last_pool:
        features = _input_of_trailing_pool(features)
    if head_conv:
        features = keras.layers.Conv2D(head_conv, 3, padding="same", activation="relu", name=HEAD_CONV_NAME)(features)

    pooled = keras.layers.GlobalAveragePooling2D(name=GAP_NAME)(features)
    if dropout:
        pooled = keras.layers.Dropout(dropout, name=DROPOUT_NAME)(pooled)
    logits = keras.layers.Dense(len(class_names), dtype="float32", name=LOGITS_NAME)(pooled)
    model = keras.Model(inputs, logits, name=f"{backbone}_cam")
    attach_info(
        model,
        ModelInfo(
            class_names=tuple(class_names),
            backbone=backbone,
            feature_layer=producer(features).name,
        ),
    )
    return model


def _input_of_trailing_pool(features: keras.KerasTensor) -> keras.KerasTensor:
    layer = producer(features)
    if not isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        raise ValueError(
            f"drop_last_pool: the backbone ends in {layer.name!r} ({type(layer).__name__}), "
            "not a pooling layer; use head_conv for finer maps instead"
        )
    return layer.input

"""Heads from the wild: class convolutions, affine layers after pooling, vision transformers.

Every CAM head is checked against the model's own logits (the model's layers up to the final
softmax, called on the same pixels): mean of the raw map + bias = logit. Gradient maps on
transformer tokens are checked against a hand-written tf.GradientTape.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from oracles import reference_gradcam, reference_gradcam_plus_plus, reference_layercam, reference_xgradcam

import cam_keras
from cam_keras import CAM, GradCAM
from cam_keras.errors import HeadNotFoundError
from cam_keras.models.tokens import TokenGrid, token_grid

SIZE = 16
CLASSES = 3


def pixels(count=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (count, SIZE, SIZE, 3)).astype(np.float32)


def randomize(model, seed=0):
    """Random non-trivial weights everywhere (BN statistics, LN gamma/beta, biases included)."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        shape = tuple(weight.shape)
        if "variance" in weight.path:
            weight.assign(rng.uniform(0.5, 2.0, shape))
        else:
            weight.assign(rng.normal(0, 0.5, shape) + (1.0 if "gamma" in weight.path else 0.0))
    return model


def convolutions(x, filters=6, dtype=None):
    x = keras.layers.Rescaling(1 / 255, dtype=dtype)(x)
    x = keras.layers.Conv2D(filters, 3, activation="relu", name="conv1", dtype=dtype)(x)
    return keras.layers.Conv2D(filters, 3, padding="same", name="conv2", dtype=dtype)(x)


def with_logits(inputs, logits, activation="softmax"):
    """(model ending in ``activation``, model of the same layers ending at the logits)."""
    outputs = (
        keras.layers.Activation(activation, name="probabilities", dtype="float32")(logits) if activation else logits
    )
    return randomize(keras.Model(inputs, outputs)), keras.Model(inputs, logits)


def class_conv_head(relu):
    """NiN / SqueezeNet / mini-Xception: one channel per class, pooled into the logits."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(CLASSES, 1, name="class_conv")(convolutions(inputs))
    x = keras.layers.BatchNormalization(name="class_bn")(x)
    if relu:
        x = keras.layers.ReLU(name="class_relu")(x)
    return with_logits(inputs, keras.layers.GlobalAveragePooling2D(name="gap")(x))


def affine_head(*steps, units=CLASSES, activation="softmax", dtype=None):
    """GAP -> steps -> Dense(units): steps are layer names below."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D(name="gap", dtype=dtype)(convolutions(inputs, dtype=dtype))
    make = {
        "bn": lambda: keras.layers.BatchNormalization(name="bn", dtype=dtype),
        "ln": lambda: keras.layers.LayerNormalization(name="ln", dtype=dtype),
        "ln2": lambda: keras.layers.LayerNormalization(name="ln2", epsilon=1e-3, dtype=dtype),
        "dense": lambda: keras.layers.Dense(5, name="linear", dtype=dtype),
        "dropout": lambda: keras.layers.Dropout(0.5),
        "rescale": lambda: keras.layers.Rescaling(2.0, offset=-0.5, name="rescale", dtype=dtype),
    }
    for step in steps:
        x = make[step]()(x)
    return with_logits(inputs, keras.layers.Dense(units, name="head", dtype=dtype)(x), activation)


def nested_head():
    """A nested backbone (transfer-learning style) under GAP -> LayerNormalization -> Dense."""
    inner = keras.Input((SIZE, SIZE, 3))
    backbone = keras.Model(inner, convolutions(inner), name="backbone")
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(backbone(inputs))
    x = keras.layers.LayerNormalization(name="ln")(x)
    return with_logits(inputs, keras.layers.Dense(CLASSES, name="head")(x))


HEADS = {
    "class conv": lambda: class_conv_head(relu=False),
    "class conv, BN, ReLU": lambda: class_conv_head(relu=True),
    "GAP BN Dense": lambda: affine_head("bn"),
    "GAP LN Dense (ConvNeXt)": lambda: affine_head("ln"),
    "GAP Dense Dropout Dense": lambda: affine_head("dense", "dropout"),
    "GAP rescale BN Dense LN Dense": lambda: affine_head("rescale", "bn", "dense", "ln2", activation=None),
    "GAP LN Dense LN Dense": lambda: affine_head("ln", "dense", "ln2"),
    "binary GAP BN Dense(1)": lambda: affine_head("bn", units=1, activation="sigmoid"),
    "nested backbone, GAP LN Dense": nested_head,
    "mixed precision GAP BN LN Dense": lambda: affine_head("bn", "ln", dtype="mixed_float16"),
}


@pytest.fixture(scope="module", params=list(HEADS), ids=list(HEADS))
def head_model(request):
    return request.param, *HEADS[request.param]()


def test_every_affine_head_gives_an_exact_cam(head_model):
    name, model, logits_model = head_model
    images = pixels()
    explanation = CAM(model, include_bias=True)(images, classes="all", upsample=False)
    assert explanation.method == "cam" and cam_keras.make_explainer(model).method == "cam"
    logits = logits_model(images, training=False).numpy().astype(np.float64)  # the model's own, float32 or 16
    logits = np.concatenate([-logits, logits], axis=1) if logits.shape[1] == 1 else logits
    tolerance = 2e-2 if "mixed" in name else 1e-4
    np.testing.assert_allclose(explanation.raw_maps.mean(axis=(2, 3)), logits, rtol=tolerance, atol=tolerance)
    expected = model(images, training=False).numpy().astype(np.float64)
    if model.outputs[0] is logits_model.outputs[0]:  # no activation: probabilities are the softmax
        expected = tf.nn.softmax(expected).numpy()
    expected = np.concatenate([1 - expected, expected], axis=1) if expected.shape[1] == 1 else expected
    np.testing.assert_allclose(explanation.probabilities, expected, rtol=tolerance, atol=1e-5 + tolerance / 10)
    assert explanation.raw_maps.std(axis=(2, 3)).max(axis=1).min() > 1e-4  # real maps, not constants


def test_class_conv_maps_are_the_class_channels_and_the_bias_is_zero():
    model, logits_model = class_conv_head(relu=True)
    images = pixels()
    cam = CAM(model)
    assert cam.head.feature_path == "class_relu" and cam.head.dense is None
    explanation = cam(images, classes="all", upsample=False)
    channels = keras.Model(model.inputs, model.get_layer("class_relu").output).predict(images, verbose=0)
    np.testing.assert_allclose(explanation.raw_maps, np.transpose(channels, (0, 3, 1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(  # no bias: the mean of the map is the logit (ReLU before GAP included)
        explanation.raw_maps.mean(axis=(2, 3)), logits_model.predict(images, verbose=0), rtol=1e-5, atol=1e-5
    )
    assert "class channels 'class_relu' -> GlobalAveragePooling2D" in str(cam_keras.describe(model))


def test_layer_normalization_is_folded_with_the_pooled_statistics():
    """M_c(x) = sum_k (f_k(x) - mean_j f_j(x)) gamma_k W_kc / sqrt(var(p) + eps), p = mean_x f(x),
    and the bias beta @ W + b: written out in numpy from the layers' weights."""
    model, _ = affine_head("ln", activation=None)
    images = pixels()
    explanation = CAM(model)(images, classes="all", upsample=False)
    features = keras.Model(model.inputs, model.get_layer("gap").input).predict(images, verbose=0).astype(np.float64)
    gamma, beta = (w.numpy() for w in model.get_layer("ln").weights)
    kernel, bias = (w.numpy() for w in model.get_layer("head").weights)
    pooled = features.mean(axis=(1, 2))
    scale = 1 / np.sqrt(pooled.var(axis=1) + model.get_layer("ln").epsilon)
    centered = features - features.mean(axis=3, keepdims=True)
    expected = np.einsum("bhwk,kc->bchw", centered * gamma, kernel) * scale[:, None, None, None]
    np.testing.assert_allclose(explanation.raw_maps, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        expected.mean(axis=(2, 3)) + beta @ kernel + bias, model.predict(images, verbose=0), rtol=1e-4, atol=1e-4
    )


def test_batch_normalization_is_folded_with_its_moving_statistics_not_the_batch():
    model, logits_model = affine_head("bn", activation=None)
    images = pixels(4)
    explanation = CAM(model, include_bias=True)(images, classes="all", upsample=False)
    inference = logits_model.predict(images, verbose=0)
    np.testing.assert_allclose(explanation.raw_maps.mean(axis=(2, 3)), inference, rtol=1e-4, atol=1e-4)
    training = model(images / 1.0, training=True).numpy()  # batch statistics: not what is explained
    assert np.abs(training - inference).max() > 1e-2


def test_inspect_says_which_head_and_how_it_was_folded():
    report = str(cam_keras.describe(affine_head("bn")[0]))
    assert "CAM head" in report and "features 'conv2' -> GlobalAveragePooling2D -> BatchNormalization 'bn' " in report
    assert "-> Dense 'head' (3), folded into one kernel (exact)" in report
    assert "method auto    cam" in report
    report = str(cam_keras.describe(affine_head("ln")[0]))
    assert "folded into one kernel and the per-image LayerNormalization scale (exact)" in report


def test_a_nonlinear_layer_after_pooling_still_points_to_gradcam():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(convolutions(inputs))
    x = keras.layers.Dense(5, activation="relu", name="hidden")(x)
    model = keras.Model(inputs, keras.layers.Dense(CLASSES)(x))
    with pytest.raises(HeadNotFoundError, match=r"'hidden' \(Dense, relu\), neither global average pooling.*GradCAM"):
        CAM(model)
    assert cam_keras.make_explainer(model).method == "gradcam"


# ---------------------------------------------------------------- vision transformers

PATCH, WIDTH = 4, 8
GRID = SIZE // PATCH


class Patches(keras.layers.Layer):
    """The keras.io ViT recipe's patch extraction: (batch, patches, patch * patch * 3)."""

    def call(self, images):
        patches = keras.ops.image.extract_patches(images, PATCH)
        return keras.ops.reshape(patches, (-1, GRID * GRID, PATCH * PATCH * 3))


class PatchEncoder(keras.layers.Layer):
    """The recipe's PatchEncoder: a projection (unless the patches are embedded already) plus a
    learned position embedding."""

    def __init__(self, count, project=True, **kwargs):
        super().__init__(**kwargs)
        self.projection = keras.layers.Dense(WIDTH) if project else None
        self.position = keras.layers.Embedding(count, WIDTH)

    def call(self, patches):
        projected = self.projection(patches) if self.projection else patches
        return projected + self.position(keras.ops.arange(keras.ops.shape(patches)[1]))


class ClassToken(keras.layers.Layer):
    """A learned class token prepended to the patch tokens."""

    def build(self, shape):
        self.token = self.add_weight(shape=(1, 1, WIDTH), initializer="random_normal")

    def call(self, tokens):
        return keras.ops.concatenate([keras.ops.tile(self.token, (keras.ops.shape(tokens)[0], 1, 1)), tokens], 1)


def build_vit(readout, patches="conv", blocks=2, class_token=None):
    """A tiny ViT as keras.io's "Image classification with Vision Transformer" builds it; returns
    the model and its last block's layers (for a hand-written reference)."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    if patches == "conv":
        x = keras.layers.Conv2D(WIDTH, PATCH, strides=PATCH, name="patch_embedding")(x)
        x = PatchEncoder(GRID * GRID, project=False)(keras.layers.Reshape((GRID * GRID, WIDTH))(x))
    else:
        x = PatchEncoder(GRID * GRID, name="patch_embedding")(Patches()(x))  # Dense projection
    if class_token or (class_token is None and readout == "token"):
        x = ClassToken()(x)
    for index in range(blocks):
        layers = {
            "ln1": keras.layers.LayerNormalization(epsilon=1e-6, name=f"block{index}_ln1"),
            "mha": keras.layers.MultiHeadAttention(2, WIDTH // 2, name=f"block{index}_attention"),
            "ln2": keras.layers.LayerNormalization(epsilon=1e-6, name=f"block{index}_ln2"),
            "mlp1": keras.layers.Dense(2 * WIDTH, activation="gelu", name=f"block{index}_mlp1"),
            "mlp2": keras.layers.Dense(WIDTH, name=f"block{index}_mlp2"),
        }
        x1 = layers["ln1"](x)
        x2 = keras.layers.Add()([layers["mha"](x1, x1), x])
        x = keras.layers.Add(name=f"block{index}_out")([layers["mlp2"](layers["mlp1"](layers["ln2"](x2))), x2])
    final = keras.layers.LayerNormalization(epsilon=1e-6, name="final_ln")
    x = final(x)
    x = keras.layers.GlobalAveragePooling1D()(x) if readout == "gap" else x[:, 0]
    model = keras.Model(inputs, keras.layers.Dense(CLASSES, name="head")(keras.layers.Dropout(0.1)(x)))
    return randomize(model, seed=1), layers, final


@pytest.fixture(scope="module", params=["conv", "recipe"])
def gap_vit(request):
    return build_vit("gap", request.param)[0]


@pytest.fixture(scope="module")
def token_vit():
    return build_vit("token")


def test_token_grid_finds_the_patch_grid_and_the_class_token():
    assert token_grid(16, (SIZE, SIZE)) == TokenGrid(0, 4, 4)
    assert token_grid(197, (224, 224)) == TokenGrid(1, 14, 14)  # a class token, 16-pixel patches
    assert token_grid(8 * 4 + 5, (64, 32)) == TokenGrid(5, 8, 4)  # class and four register tokens
    assert token_grid(10, (None, None)) == TokenGrid(1, 3, 3)  # dynamic input: a square


def test_gap_vit_gets_an_exact_cam_on_the_last_blocks_tokens(gap_vit):
    images = pixels()
    cam = CAM(gap_vit, include_bias=True)
    assert cam.head.feature_path == "final_ln"  # the last block's tokens, not the patch embedding
    explanation = cam(images, classes="all", upsample=False)
    assert explanation.raw_maps.shape == (3, CLASSES, GRID, GRID)
    np.testing.assert_allclose(
        explanation.raw_maps.mean(axis=(2, 3)), gap_vit.predict(images, verbose=0), rtol=1e-4, atol=1e-4
    )
    tokens = keras.Model(gap_vit.inputs, gap_vit.get_layer("final_ln").output).predict(images, verbose=0)  # (b, 16, d)
    kernel, bias = (w.numpy() for w in gap_vit.get_layer("head").weights)
    expected = (tokens @ kernel).reshape(3, GRID, GRID, CLASSES).transpose(0, 3, 1, 2) + bias[:, None, None]
    np.testing.assert_allclose(explanation.raw_maps, expected, rtol=1e-4, atol=1e-5)
    report = str(cam_keras.describe(gap_vit))
    assert "features 'final_ln' -> 16 tokens as a 4x4 patch grid -> GlobalAveragePooling1D -> Dense 'head'" in report


def test_average_over_patch_and_class_tokens_is_not_taken_for_an_exact_cam():
    model, _, _ = build_vit("gap", blocks=1, class_token=True)
    with pytest.raises(HeadNotFoundError, match=r"averages 17 tokens, not exactly a patch grid \(17 tokens as a 4x4"):
        CAM(model)
    explainer = cam_keras.make_explainer(model)
    assert explainer.method == "gradcam" and explainer(pixels(), upsample=False).raw_maps.shape == (3, 1, GRID, GRID)


def last_block_tape(model, layers, final, images, class_index):
    """Activations and gradients by hand on the query tokens of the last attention: the last
    block written out under a GradientTape, the class token dropped, the 16 patch tokens as a
    4x4 grid (row by row)."""
    block_input = keras.Model(model.inputs, layers["ln1"].input)(images)
    with tf.GradientTape() as tape:
        query = layers["ln1"](block_input)
        tape.watch(query)
        x2 = layers["mha"](query, query) + block_input
        x = layers["mlp2"](layers["mlp1"](layers["ln2"](x2))) + x2
        score = model.get_layer("head")(final(x)[:, 0])[:, class_index]
    gradients = tape.gradient(score, query)[:, 1:].numpy().reshape(-1, GRID, GRID, WIDTH)
    return query[:, 1:].numpy().reshape(-1, GRID, GRID, WIDTH).astype(np.float64), gradients.astype(np.float64)


def test_class_token_vit_gets_gradcam_on_the_tokens_before_the_last_attention(token_vit):
    model, layers, final = token_vit
    with pytest.raises(HeadNotFoundError):
        CAM(model)
    explainer = cam_keras.make_explainer(model)
    assert explainer.method == "gradcam" and explainer.target_layer_name == "block1_attention"
    assert "gradcam at the query tokens of 'block1_attention' (17 tokens as a 4x4 patch grid, the first 1 dropped" in (
        str(cam_keras.describe(model))
    )


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "xgradcam", "layercam"])
def test_gradient_methods_on_tokens_match_a_hand_written_tape(token_vit, method):

    references = {
        "gradcam": reference_gradcam,
        "gradcam++": reference_gradcam_plus_plus,
        "xgradcam": reference_xgradcam,
        "layercam": reference_layercam,
    }
    model, layers, final = token_vit
    images = pixels(seed=3)
    explanation = cam_keras.make_explainer(model, method)(images, classes=2, upsample=False)
    assert explanation.raw_maps.shape == (3, 1, GRID, GRID)  # the patch grid, not the patch embedding's
    reference = references[method](*last_block_tape(model, layers, final, images, 2))
    assert reference.std() > 1e-6
    np.testing.assert_allclose(explanation.raw_maps[:, 0], reference, rtol=1e-3, atol=1e-5 * reference.max())


def test_a_token_layer_can_be_named_as_target_layer(token_vit):
    model, _, _ = token_vit
    explanation = GradCAM(model, target_layer="block0_out")(pixels(), upsample=False)
    assert explanation.raw_maps.shape == (3, 1, GRID, GRID) and explanation.raw_maps.std() > 0


@pytest.mark.slow
def test_keras_hub_vit_maps_its_last_attention_query_on_the_patch_grid():
    keras_hub = pytest.importorskip("keras_hub")
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(SIZE, SIZE, 3), patch_size=PATCH, num_layers=2, num_heads=2, hidden_dim=WIDTH, mlp_dim=16
    )
    model = randomize(keras_hub.models.ViTImageClassifier(backbone=backbone, num_classes=CLASSES, pooling="token"))
    explainer = cam_keras.make_explainer(model)
    assert explainer.method == "gradcam" and explainer.target.where == "input"
    blocks = [layer for layer in backbone.get_layer("vit_encoder")._flatten_layers() if layer.name == "mha"]
    assert explainer.target.layer is blocks[-1]
    explanation = explainer(pixels(), upsample=False)
    assert explanation.raw_maps.shape == (3, 1, GRID, GRID) and explanation.raw_maps.std(axis=(2, 3)).min() > 0


def test_gradient_methods_work_on_a_float16_layer():
    """Gradients are taken of the tensor the model computed (float16 here), not of a float32 copy."""
    model, _ = affine_head(activation=None, dtype="mixed_float16")
    images = pixels()
    gradcam = GradCAM(model, "conv2")(images, classes="all", upsample=False).raw_maps
    cam = CAM(model)(images, classes="all", upsample=False).raw_maps
    assert gradcam.std() > 0
    np.testing.assert_allclose(gradcam * cam.shape[2] * cam.shape[3], np.maximum(cam, 0), rtol=2e-2, atol=2e-2)


def test_a_model_of_vectors_is_refused_as_not_images_not_with_a_crash():
    """Review: a 2-D input reached the token grid, which unpacked it as (height, width)."""
    inputs = keras.Input((10,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(4)(inputs)))
    assert token_grid(16, (10,)) is None
    with pytest.raises(cam_keras.errors.ModelError, match=r"takes input of shape \(None, 10\), not images"):
        cam_keras.make_explainer(model)


def test_an_attention_called_with_keywords_is_tapped_at_its_query():
    """Review: a layer called with keywords only was tapped at its first keyword, so an
    attention called as ``mha(value=v, query=q)`` was mapped on its values."""
    query, value = keras.Input((4, 6), name="q"), keras.Input((4, 6), name="v")
    attention = keras.layers.MultiHeadAttention(2, 3, name="mha")
    model = keras.Model([query, value], attention(value=value, query=query))
    from cam_keras.models.taps import Tap, capture

    q, v = pixels(1)[:, :4, :6, 0], pixels(1, seed=1)[:, :4, :6, 0]
    with capture({"mha": Tap(attention, "input")}) as recorded:
        model([q, v])
    np.testing.assert_allclose(np.asarray(recorded["mha"]), q)

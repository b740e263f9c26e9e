"""Every map method against an independent reference at a layer where the gradient varies
over space (conv5_relu of the small CNN: three layers, GAP and Dense above it), computed by a
hand-written tf.GradientTape on the model split there, and the methods' shared contract."""

import numpy as np
import pytest
import tensorflow as tf
from oracles import (
    reference_gradcam,
    reference_gradcam_plus_plus,
    reference_layercam,
    reference_xgradcam,
    weighted_sum,
)

import cam_keras
from cam_keras import (
    CAM,
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    LayerCAM,
    MapAugmentation,
    ScoreCAM,
    XGradCAM,
    make_explainer,
)
from cam_keras.cam.methods import METHODS, method_class
from cam_keras.errors import UsageError

LAYER = "conv5_relu"


def split_reference(model, images, classes, layer=LAYER):
    """Activations A (batch, h, w, k), logits and dy_c/dA for one class per image, from the
    model's layers applied one by one (the small CNN is a chain) under a hand-written tape."""
    layers = model.layers[1:]
    cut = [each.name for each in layers].index(layer) + 1
    x = tf.constant(images)
    for each in layers[:cut]:
        x = each(x, training=False)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = x
        for each in layers[cut:]:
            logits = each(logits, training=False)
        score = tf.gather(logits, classes, batch_dims=1)
    gradients = tape.gradient(score, x)
    return x.numpy().astype(np.float64), logits.numpy(), gradients.numpy().astype(np.float64)


@pytest.mark.parametrize(
    "method, reference",
    [
        (GradCAM, reference_gradcam),
        (GradCAMPlusPlus, reference_gradcam_plus_plus),
        (XGradCAM, reference_xgradcam),
        (LayerCAM, reference_layercam),
    ],
)
def test_gradient_methods_match_a_split_model_tape_at_an_inner_layer(tiny_model, images, method, reference):
    classes = np.array([[0], [2], [1], [2]])
    a, logits, g = split_reference(tiny_model, images, classes)
    assert g.std(axis=(1, 2)).max() > 1e-3, "the gradient must vary over space for this test to mean something"
    explanation = method(tiny_model, target_layer=LAYER)(images, classes.tolist())
    np.testing.assert_allclose(explanation.logits, logits, rtol=1e-4, atol=1e-5)
    expected = reference(a, g)
    assert expected.max() > 0
    np.testing.assert_allclose(explanation.raw_maps[:, 0], expected, rtol=1e-3, atol=1e-5 * expected.max())


def test_scorecam_matches_masked_forward_passes_at_an_inner_layer(tiny_model, images):
    a, _, _ = split_reference(tiny_model, images[:2], np.zeros((2, 1), np.int64))
    explanation = ScoreCAM(tiny_model, target_layer=LAYER, mask_batch_size=12)(images[:2], classes="triangle")
    upsampled = tf.image.resize(a.astype(np.float32), (32, 32)).numpy().astype(np.float64)
    low, high = upsampled.min(axis=(1, 2), keepdims=True), upsampled.max(axis=(1, 2), keepdims=True)
    masks = np.where(high > low, (upsampled - low) / np.where(high > low, high - low, 1), 0.0)
    for b in range(2):
        masked = images[b][None] * np.moveaxis(masks[b], -1, 0)[..., None]
        scores = tiny_model(masked.astype(np.float32)).numpy().astype(np.float64)[:, 2]
        weights = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        expected = weighted_sum(a[b : b + 1], weights[None])[0]
        np.testing.assert_allclose(explanation.raw_maps[b, 0], expected, rtol=1e-3, atol=1e-6)


def test_eigencam_is_the_projection_on_the_first_singular_vector(tiny_model, images):
    a, _, _ = split_reference(tiny_model, images, np.zeros((4, 1), np.int64))
    explanation = EigenCAM(tiny_model, target_layer=LAYER)(images, top_k=2)
    for b in range(4):
        flat = a[b].reshape(-1, a.shape[-1])
        projection = flat @ np.linalg.svd(flat, full_matrices=False)[2][0]
        expected = (projection * np.sign(projection.sum())).reshape(a.shape[1:3])
        for target in range(2):  # the map does not depend on the class
            tolerance = 1e-4 * abs(expected).max()
            np.testing.assert_allclose(explanation.raw_maps[b, target], expected, rtol=1e-3, atol=tolerance)


def test_eigencam_of_rank_one_activations_recovers_the_spatial_pattern():
    import keras

    pattern = np.linspace(0.0, 1.0, 16).reshape(1, 4, 4, 1)
    inputs = keras.Input((4, 4, 3))
    features = keras.layers.Conv2D(5, 1, use_bias=False, name="mix")(inputs)  # rank one: pattern x kernel row
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(features)))
    explanation = EigenCAM(model)(np.repeat(pattern * 255.0, 3, axis=-1).astype(np.float32), upsample=False)
    np.testing.assert_allclose(explanation.maps[0, 0], pattern[0, :, :, 0], atol=1e-5)


def test_target_function_of_the_logits_gives_the_map_of_its_gradient(tiny_model, images):
    cam = CAM(tiny_model)(images, classes="all")
    hw = cam.raw_maps.shape[2] * cam.raw_maps.shape[3]
    explanation = GradCAM(tiny_model)(images, lambda logits: logits[:, 0] - logits[:, 2])
    expected = np.maximum(cam.raw_maps[:, 0] - cam.raw_maps[:, 2], 0) / hw  # Grad-CAM is linear in the score
    np.testing.assert_allclose(explanation.raw_maps[:, 0], expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(explanation.class_indices, [[-1]] * 4)
    assert explanation.labels(0) == ["target 0"] and explanation.label_text(0) == "target 0  gradcam"


def test_several_target_functions_and_scorecam_accept_them(tiny_model, images):
    targets = [lambda logits: logits[:, 1], lambda logits: -logits[:, 1]]
    grad = GradCAM(tiny_model)(images, targets)
    by_class = GradCAM(tiny_model)(images, classes=1)
    np.testing.assert_allclose(grad.raw_maps[:, 0], by_class.raw_maps[:, 0], rtol=1e-5, atol=1e-7)
    score_by_function = ScoreCAM(tiny_model)(images[:1], targets[0])
    score_by_class = ScoreCAM(tiny_model)(images[:1], classes=1)
    np.testing.assert_allclose(score_by_function.raw_maps, score_by_class.raw_maps, rtol=1e-5, atol=1e-7)


def test_cam_refuses_target_functions_naming_the_alternative(tiny_model, images):
    with pytest.raises(UsageError, match="GradCAM"):
        CAM(tiny_model)(images, lambda logits: logits[:, 0])


def test_given_classes_plus_the_top_predictions_in_one_pass(tiny_model, images):
    labels = [2, 0, 1, 1]
    explainer = GradCAM(tiny_model)
    both = explainer.explain_batch(images, labels, plus_top_k=2)
    ranked = np.argsort(-tiny_model(images).numpy(), axis=1)[:, :2]
    np.testing.assert_array_equal(both["class_indices"], np.column_stack([labels, ranked]))
    alone = explainer.explain_batch(images, both["class_indices"].tolist())
    np.testing.assert_allclose(both["raw_maps"], alone["raw_maps"], rtol=1e-5, atol=1e-7)
    with pytest.raises(UsageError, match="plus_top_k"):
        explainer.explain_batch(images, plus_top_k=2)


@pytest.mark.parametrize("method", [GradCAM, ScoreCAM, EigenCAM])
def test_flip_augmentation_is_shared_by_every_method(tiny_model, images, method):
    averaged = method(tiny_model, LAYER, augmentation=MapAugmentation(flip=True))(images[:2], top_k=2)
    plain = method(tiny_model, LAYER)
    classes = averaged.class_indices.tolist()
    direct = plain(images[:2], classes).raw_maps
    mirrored = plain(images[:2, :, ::-1].copy(), classes).raw_maps[..., ::-1]
    np.testing.assert_allclose(averaged.raw_maps, (direct + mirrored) / 2, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(averaged.logits, tiny_model(images[:2]).numpy(), rtol=1e-4, atol=1e-5)


def test_forward_pass_gives_activations_logits_and_probabilities(tiny_model, images):
    forward = XGradCAM(tiny_model, LAYER).forward(tf.constant(images))
    a, logits, _ = split_reference(tiny_model, images, np.zeros((4, 1), np.int64))
    np.testing.assert_allclose(forward.activations.numpy(), a, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(forward.logits.numpy(), logits, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(forward.probabilities.numpy(), tf.nn.softmax(logits).numpy(), rtol=1e-4, atol=1e-6)


def test_auto_with_an_inner_target_layer_uses_gradcam_at_that_layer(tiny_model, images):
    explainer = make_explainer(tiny_model, "auto", "conv5_relu")
    assert isinstance(explainer, GradCAM) and explainer.target_layer_name == "conv5_relu"
    assert explainer(images).raw_maps.shape == (4, 1, 8, 8)
    at_gap_input = make_explainer(tiny_model, "auto", cam_keras.model_info(tiny_model).feature_layer)
    assert isinstance(at_gap_input, CAM)
    with pytest.raises(UsageError, match="use a gradient method"):
        CAM(tiny_model, target_layer="conv5_relu")


@pytest.mark.slow  # 2 s of the quick run on 2 cores
def test_every_registered_method_is_exported_and_explains(tiny_model, images):
    for name in METHODS:
        cls = method_class(name)
        assert cls.method == name
        assert getattr(cam_keras, cls.__name__) is cls is getattr(cam_keras.cam, cls.__name__)
        explanation = make_explainer(tiny_model, name)(images[:1], top_k=1)
        assert explanation.method == name and np.isfinite(explanation.raw_maps).all()
    with pytest.raises(UsageError, match="unknown method 'magic'; choose auto or one of cam, gradcam"):
        make_explainer(tiny_model, "magic")


def test_scorecam_has_no_gradient_base():
    from cam_keras.cam.gradients import GradientCAM

    assert not issubclass(ScoreCAM, GradientCAM) and not issubclass(EigenCAM, GradientCAM)


def test_classes_of_one_image_side_by_side(tiny_model, images):
    explanation = CAM(tiny_model)(images[0], classes=["triangle", "circle"])
    np.testing.assert_array_equal(explanation.class_indices, [[2, 0]])
    assert explanation.labels(0) == ["triangle", "circle"]


def test_top_k_beyond_the_number_of_classes_maps_every_class_ranked(tiny_model, images):
    explanation = CAM(tiny_model)(images, top_k=5)
    np.testing.assert_array_equal(explanation.class_indices, np.argsort(-tiny_model(images).numpy(), axis=1))


def test_repeated_requests_of_one_kind_trace_once(tiny_model, images):
    explainer = GradCAM(tiny_model)
    for _ in range(3):
        explainer.explain_batch(images, top_k=2)
    assert explainer._traced.experimental_get_tracing_count() == 1
    for labels in ([0, 1, 2, 0], [2, 2, 1, 0]):
        explainer.explain_batch(images, labels, plus_top_k=1)
    assert explainer._traced.experimental_get_tracing_count() == 2

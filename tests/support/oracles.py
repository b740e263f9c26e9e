"""Independent oracles the tests compare cam-keras against: maps computed by hand (a split
model under a hand-written tf.GradientTape, the papers' formulas in numpy) and the identities an
exact CAM must satisfy. They share no code with cam_keras's map methods."""

import keras
import numpy as np
import tensorflow as tf

import cam_keras


def assert_cam_identity(model, explanation, bias=True):
    """Mean of each raw map + its class bias (the output Dense's; ``bias=False``: maps that
    include the bias) = its logit, and the logits are the model's own."""
    chosen = explanation.class_indices
    means = explanation.raw_maps.mean(axis=(2, 3)) + (dense_bias(model)[chosen] if bias else 0.0)
    np.testing.assert_allclose(means, np.take_along_axis(explanation.logits, chosen, axis=1), rtol=1e-4, atol=1e-4)


def dense_bias(model):
    """The last Dense layer's bias, found by hand; a one-unit (sigmoid) output as the bias of
    its two classes, ``[-b, b]``."""
    dense = last_dense(model)
    bias = np.asarray(dense.bias, np.float32) if dense.use_bias else np.zeros(dense.units, np.float32)
    return np.concatenate([-bias, bias]) if dense.units == 1 else bias


def last_dense(model):
    """The model's last Dense layer, nested models searched (found by hand, not by cam-keras)."""
    for layer in reversed(model.layers):
        found = last_dense(layer) if isinstance(layer, keras.Model) else None
        if found is not None or isinstance(layer, keras.layers.Dense):
            return found or layer
    return None


def gradcam_reference(model, feature_tensor, images, class_index):
    """Grad-CAM by hand: d(pre-activation logit)/d(features) with a split model and GradientTape."""
    dense = last_dense(model)
    split = keras.Model(model.inputs, [feature_tensor, dense.input])
    with tf.GradientTape() as tape:
        features, pooled = split(images)
        logits = tf.matmul(pooled, dense.kernel) + dense.bias
        score = logits[:, 0] if dense.units == 1 else logits[:, class_index]
        score = -score if dense.units == 1 and class_index == 0 else score
    gradients = tape.gradient(score, features)
    weights = tf.reduce_mean(gradients, axis=[1, 2], keepdims=True)
    return tf.nn.relu(tf.reduce_sum(weights * features, axis=-1)).numpy()


def assert_matches_reference(actual, expected):
    """Equal maps, and correlated >= 0.99 wherever the reference map varies."""
    np.testing.assert_allclose(actual, expected, rtol=1e-3, atol=1e-4 * max(np.abs(expected).max(), 1e-6))
    varying = [i for i in range(len(expected)) if expected[i].std() > 1e-3 * np.abs(expected).max()]
    assert varying, "the reference maps are constant: the test would prove nothing"
    for i in varying:
        assert np.corrcoef(actual[i].ravel(), expected[i].ravel())[0, 1] >= 0.99


def assert_exact_cam(model, pixels: np.ndarray, probabilities: np.ndarray, **choices) -> None:
    """Each raw map with its (folded) bias averages to a logit, and the softmax of those logits
    is the other framework's probabilities: an oracle that shares nothing with the folding.
    ``choices`` are :func:`cam_keras.open_model`'s."""
    cam = cam_keras.CAM(cam_keras.open_model(model, **choices), include_bias=True)
    maps = cam(pixels, classes="all", upsample=False).raw_maps
    logits = maps.mean(axis=(2, 3), dtype=np.float64)
    softmax = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(softmax / softmax.sum(axis=1, keepdims=True), probabilities, rtol=1e-4, atol=1e-4)


def weighted_sum(activations, weights):
    """ReLU(sum_k weights[b, k] * A[b, :, :, k]) for weights (batch, k) or (batch, h, w, k)."""
    weights = weights[:, None, None, :] if weights.ndim == 2 else weights
    return np.maximum((activations * weights).sum(-1), 0)


def reference_gradcam(a, g):
    return weighted_sum(a, g.mean(axis=(1, 2)))


def reference_gradcam_plus_plus(a, g):
    # Chattopadhay et al., eq. 19 with exp(score): alpha = g^2 / (2 g^2 + sum(A) g^3)
    totals = a.sum(axis=(1, 2), keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(g != 0, g**2 / (2 * g**2 + totals * g**3), 0.0)
    return weighted_sum(a, (alpha * np.maximum(g, 0)).sum(axis=(1, 2)))


def reference_xgradcam(a, g):
    # Fu et al., eq. 8: alpha_k = sum_xy A_k(x, y) / sum(A_k) * G_k(x, y)
    return weighted_sum(a, (a * g).sum(axis=(1, 2)) / (a.sum(axis=(1, 2)) + 1e-7))


def reference_layercam(a, g):
    return weighted_sum(a, np.maximum(g, 0))

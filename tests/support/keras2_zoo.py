"""Write a zoo of model files with real Keras 2 (``tf_keras``), the way the Keras 2 guides saved
them, and each model's own ``predict`` on fixed pixels.

Run as a script in a separate process (``python tests/support/keras2_zoo.py OUT [NAME...]``), so the
files are written by Keras 2 alone, as on a machine that never had Keras 3. Writes ``OUT/<name>.<ext>`` (a folder for a
SavedModel) and ``OUT/<name>.npz`` with ``pixels`` (raw [0, 255]) and ``probabilities``.
Nothing here imports cam_keras.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tf_keras as k2  # noqa: E402

L = k2.layers


@k2.saving.register_keras_serializable(package="zoo")
class Doubling(L.Layer):
    """A custom layer, registered the Keras 2 way."""

    def call(self, inputs):
        return inputs * 2.0


def _small_features(inputs, channels=8):
    x = L.Conv2D(channels, 3, padding="same", activation="relu")(inputs)
    return L.Conv2D(channels, 3, padding="same", activation="relu")(x)


def sequential():
    return k2.Sequential(
        [
            L.InputLayer(input_shape=(16, 16, 3)),
            L.Rescaling(1 / 255.0),
            L.Conv2D(8, 3, padding="same"),
            L.BatchNormalization(),
            L.ReLU(),
            L.GlobalAveragePooling2D(),
            L.Dense(3, activation="softmax"),
        ]
    )


def functional_head(head: str):
    """GAP then one of the Keras 2 guides' heads: BN, LN or Dropout before the Dense."""
    inputs = k2.Input((16, 16, 3))
    x = L.GlobalAveragePooling2D()(_small_features(L.Rescaling(1 / 127.5, offset=-1)(inputs)))
    x = {"bn": L.BatchNormalization(), "ln": L.LayerNormalization(), "dropout": L.Dropout(0.3)}[head](x)
    return k2.Model(inputs, L.Dense(4, activation="softmax")(x))


def custom_layer():
    inputs = k2.Input((16, 16, 3))
    x = L.GlobalAveragePooling2D()(_small_features(Doubling()(L.Rescaling(1 / 255.0)(inputs))))
    return k2.Model(inputs, L.Dense(2, activation="softmax")(x))


def mixed_precision():
    """Mixed float16 layers, float32 logits, as the Keras 2 mixed precision guide builds them."""
    k2.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = k2.Input((16, 16, 3))
        x = L.GlobalAveragePooling2D()(_small_features(L.Rescaling(1 / 255.0)(inputs)))
        return k2.Model(inputs, L.Dense(2, activation="softmax", dtype="float32")(x))
    finally:
        k2.mixed_precision.set_global_policy("float32")


#: application constructor, its module (preprocess_input), input side, extra constructor arguments
APPLICATIONS = {
    "mobilenetv2": ("MobileNetV2", "mobilenet_v2", 32, {"alpha": 0.35}),
    "efficientnetb0": ("EfficientNetB0", "efficientnet", 32, {}),
    "resnet50": ("ResNet50", "resnet50", 32, {}),
    "vgg16": ("VGG16", "vgg16", 32, {}),
    "inceptionv3": ("InceptionV3", "inception_v3", 75, {}),
}


def application(name: str):
    """The Keras 2 transfer-learning recipe: a nested keras.applications backbone, then GAP ->
    Dropout -> Dense, the backbone's preprocess_input outside the model."""
    constructor, _, side, extra = APPLICATIONS[name]
    base = getattr(k2.applications, constructor)(include_top=False, weights=None, input_shape=(side, side, 3), **extra)
    inputs = k2.Input((side, side, 3))
    x = L.Dropout(0.2)(L.GlobalAveragePooling2D()(base(inputs, training=False)))
    return k2.Model(inputs, L.Dense(3, activation="softmax")(x))


def _compiled(model, optimizer, metrics):
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=metrics)
    return model


#: name -> (builder, file extension or "" for a SavedModel folder, compile arguments or None)
ZOO = {
    "sequential_adam_lr": (sequential, ".h5", (lambda: k2.optimizers.legacy.Adam(lr=1e-4), ["accuracy"])),
    "sequential_keras": (sequential, ".keras", None),
    "head_bn_mse": (lambda: functional_head("bn"), ".h5", (lambda: "adam", ["mse"])),
    "head_ln": (lambda: functional_head("ln"), ".keras", (lambda: "rmsprop", ["accuracy"])),
    "head_dropout_savedmodel": (lambda: functional_head("dropout"), "", (lambda: "adam", ["accuracy"])),
    "custom_layer": (custom_layer, ".h5", None),
    "mixed_precision_keras": (mixed_precision, ".keras", None),
    **{
        f"app_{name}": (lambda name=name: application(name), ".h5", (lambda: "adam", ["accuracy"]))
        for name in APPLICATIONS
    },
    "app_mobilenetv2_keras": (lambda: application("mobilenetv2"), ".keras", None),
}


def write(out: str, name: str) -> None:
    """Build, randomize the BN statistics, save and predict one zoo model."""
    builder, extension, compiled = ZOO[name]
    k2.utils.set_random_seed(0)
    model = builder()
    if compiled is not None:
        _compiled(model, compiled[0](), compiled[1])
    rng = np.random.default_rng(0)
    for layer in _all_layers(model):
        if isinstance(layer, L.BatchNormalization):  # non-trivial statistics, as after training
            mean, var = layer.moving_mean, layer.moving_variance
            mean.assign(rng.normal(0, 0.1, mean.shape).astype("float32"))
            var.assign(rng.uniform(0.5, 1.5, var.shape).astype("float32"))
    side = model.input_shape[1]
    pixels = rng.uniform(0, 255, (2, side, side, 3)).astype("float32")
    model.save(os.path.join(out, name + extension), **({"save_format": "tf"} if not extension else {}))
    if name in OLD_TRAINING_CONFIG:
        _write_old_training_config(os.path.join(out, name + extension), *OLD_TRAINING_CONFIG[name])
    application_name = name.removeprefix("app_").removesuffix("_keras")
    if application_name in APPLICATIONS:  # the Keras 2 guides preprocess outside the model
        module = getattr(k2.applications, APPLICATIONS[application_name][1])
        probabilities = model.predict(module.preprocess_input(pixels.copy()), verbose=0)
    else:
        probabilities = model.predict(pixels, verbose=0)
    np.savez(os.path.join(out, name + ".npz"), pixels=pixels, probabilities=probabilities)


#: name -> (optimizer arguments, metrics) as Keras 2.2-2.3 wrote them in an .h5 training_config
OLD_TRAINING_CONFIG = {"sequential_adam_lr": ({"lr": 1e-4, "decay": 0.0}, ["accuracy"]), "head_bn_mse": ({}, ["mse"])}


def _write_old_training_config(path, optimizer_arguments, metrics):
    """Rewrite the file's training configuration the way older Keras 2 releases wrote it."""
    import json

    import h5py

    with h5py.File(path, "r+") as file:
        training = json.loads(file.attrs["training_config"])
        training["optimizer_config"]["config"].update(optimizer_arguments)
        training["optimizer_config"]["config"].pop("learning_rate" if "lr" in optimizer_arguments else "", None)
        training["metrics"] = metrics
        file.attrs["training_config"] = json.dumps(training)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, k2.Model):
            yield from _all_layers(layer)


if __name__ == "__main__":
    out, names = sys.argv[1], sys.argv[2:] or list(ZOO)
    for name in names:
        start = time.perf_counter()
        write(out, name)
        print(f"{name} {time.perf_counter() - start:.1f}s", flush=True)

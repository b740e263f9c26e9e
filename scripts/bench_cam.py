"""CAM and gradient maps against a plain forward pass, side by side in one run.

Prints images/s and the cost of each method relative to a plain tf.function forward pass of
the same model on the same batch (warm-up excluded, median of interleaved repeats).

    python scripts/bench_cam.py                          # ResNet50 at 224, batch 16 and 1
    python scripts/bench_cam.py --backbone small_cnn --size 64
    python scripts/bench_cam.py --tf-keras-vis           # also tf-keras-vis Gradcam(++), if installed
    python scripts/bench_cam.py --methods gradcam --target-layer conv4_block6_out   # an earlier layer
    python scripts/bench_cam.py --heads dense ln        # GAP -> LayerNormalization -> Dense: the folding's cost
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf
from _bench import machine, print_table, time_interleaved, write_json

import cam_keras

#: heads put on the backbone's features for ``--head``: the layers between GAP and the Dense.
HEADS = {
    "dense": lambda: [],
    "bn": lambda: [keras.layers.BatchNormalization()],
    "ln": lambda: [keras.layers.LayerNormalization()],
    "dense-dense": lambda: [keras.layers.Dense(512)],
    "bn-dense-ln": lambda: [
        keras.layers.BatchNormalization(),
        keras.layers.Dense(512),
        keras.layers.LayerNormalization(),
    ],
}


def with_head(model: keras.Model, head: str, classes: int) -> keras.Model:
    """``model``'s features under ``GAP -> HEADS[head] -> Dense(classes)`` (random weights)."""
    features = cam_keras.find_cam_head(model).feature_model
    x = keras.layers.GlobalAveragePooling2D()(features.output)
    for layer in HEADS[head]():
        x = layer(x)
    return keras.Model(features.inputs, keras.layers.Dense(classes)(x), name=f"{model.name}_{head}")


def candidates(
    model, batch: np.ndarray, methods: list[str], xla: bool, tf_keras_vis: bool, target_layer: str | None = None
):
    images = tf.constant(batch)
    forward = tf.function(lambda x: model(x, training=False), jit_compile=xla)
    cam = cam_keras.CAM(model, jit_compile=xla)
    runs = {
        "forward": lambda: forward(images).numpy(),
        "cam top-1, upsampled": lambda: cam.explain_batch(images),
        "cam all classes, raw": lambda: cam.explain_batch(images, "all", upsample=False),
    }
    for method in methods:
        explainer = cam_keras.make_explainer(model, method, target_layer if method != "cam" else None, jit_compile=xla)
        runs[method] = lambda explainer=explainer: explainer.explain_batch(images)
    maps = {}
    if tf_keras_vis:
        runs.update(_tf_keras_vis(model, batch, cam, maps))
    return runs, maps


def _tf_keras_vis(model, batch, cam, maps):
    """tf-keras-vis Gradcam/GradcamPlusPlus on the GAP input, and map correlation with ours.

    Timing uses tf-keras-vis defaults (maps upsampled to the input). Correlation is the mean
    over images (tf-keras-vis scales each image's map separately) of maps at feature resolution
    (``expand_cam=False`` against our raw maps): the two tools
    upsample differently (scipy zoom, corner-aligned, against TF bilinear with half-pixel
    centers), which on 7x7 maps shifts them by up to half a cell. tf-keras-vis is told not
    to seek back to the previous convolution (its default), so both explain the GAP input.
    """
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.utils.scores import CategoricalScore

    classes = np.argmax(model(batch).numpy(), axis=1)
    score = CategoricalScore(classes.tolist())
    layer = cam.head.feature_path.split("/")[-1]
    runs = {}
    for name, cls, ours in [
        ("tf-keras-vis Gradcam", Gradcam, "gradcam"),
        ("tf-keras-vis GradcamPlusPlus", GradcamPlusPlus, "gradcam++"),
    ]:
        tool = cls(model, clone=True)
        runs[name] = lambda tool=tool: tool(score, batch, penultimate_layer=layer, seek_penultimate_conv_layer=False)
        theirs = np.asarray(
            tool(score, batch, penultimate_layer=layer, seek_penultimate_conv_layer=False, expand_cam=False)
        )
        mine = cam_keras.make_explainer(model, ours)(batch, classes.tolist()).raw_maps[:, 0]
        maps[name] = float(np.mean([np.corrcoef(t.ravel(), m.ravel())[0, 1] for t, m in zip(theirs, mine)]))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 1])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--methods", nargs="*", default=["gradcam", "gradcam++", "layercam"])
    parser.add_argument("--xla", action="store_true", help="jit_compile every candidate")
    parser.add_argument("--target-layer", help="target layer of the gradient methods (default: GAP input)")
    parser.add_argument(
        "--tf-keras-vis", action="store_true", help="compare with tf-keras-vis (pip install tf-keras-vis)"
    )
    parser.add_argument(
        "--heads", nargs="+", choices=HEADS, default=["dense"], help="layers between GAP and the Dense, timed together"
    )
    parser.add_argument("--json", help="write results here")
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    model = cam_keras.build_model(args.backbone, num_classes=args.classes, input_size=args.size)
    models = {head: model if head == "dense" else with_head(model, head, args.classes) for head in args.heads}
    results = []
    for batch_size in args.batch_sizes:
        batch = np.random.default_rng(0).uniform(0, 255, (batch_size, args.size, args.size, 3)).astype(np.float32)
        results += _timed_rows(models, batch, args)
    xla = "on" if args.xla else "off"
    print(f"{args.backbone} at {args.size}px, {args.classes} classes, XLA {xla}, {machine()}")
    print_table(results, ["batch", "head", "method", "images_per_s", "x_forward", "corr_with_ours"])
    write_json(args.json, {"machine": machine(), "args": vars(args), "results": results})


def _timed_rows(models: dict, batch: np.ndarray, args: argparse.Namespace) -> list[dict]:
    """Every candidate of every head's model, timed interleaved in one run; each relative to
    its own model's forward pass."""
    runs, correlations = {}, {}
    for head, model in models.items():
        found, correlated = candidates(model, batch, args.methods, args.xla, args.tf_keras_vis, args.target_layer)
        runs.update({(head, name): run for name, run in found.items()})
        correlations.update({(head, name): value for name, value in correlated.items()})
    seconds = time_interleaved(runs, args.repeats)
    return [
        {
            "backbone": args.backbone,
            "head": head,
            "size": args.size,
            "batch": len(batch),
            "method": name,
            "images_per_s": len(batch) / value,
            "x_forward": value / seconds[(head, "forward")],
            "corr_with_ours": correlations.get((head, name)),
        }
        for (head, name), value in seconds.items()
    ]


if __name__ == "__main__":
    main()

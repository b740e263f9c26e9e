"""Fine-tune ResNet50, InceptionV3 or VGG19 with ImageNet weights on your own photos (GPU).

NOT RUN BY THIS PROJECT'S CI: it needs a GPU for reasonable speed and internet access (or
the weights file in ~/.keras/models/) for ImageNet weights. Every call below is covered by
the CPU tests with small inputs and random weights.

    python examples/finetune_gpu.py PHOTOS/ --backbone resnet50 --out runs/resnet50
    python examples/finetune_gpu.py PHOTOS/ --backbone vgg19 --weights /path/vgg19_notop.h5

PHOTOS/ holds one folder of images per class.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import tensorflow as tf

import cam_keras
from cam_keras.train import fine_tune, load_config

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", type=Path)
    parser.add_argument("--backbone", choices=["resnet50", "inception_v3", "vgg19"], default="resnet50")
    parser.add_argument("--weights", default="imagenet", help="imagenet or a local no-top weights file")
    parser.add_argument("--out", type=Path, default=Path("runs/gpu"))
    args = parser.parse_args()

    print("GPUs:", tf.config.list_physical_devices("GPU") or "none (this will be slow)")
    config = load_config(CONFIGS / f"{args.backbone}_gpu.toml", {"weights": args.weights})
    result = fine_tune(args.photos, args.out, config)  # mixed precision, MirroredStrategy on several GPUs
    print(f"validation accuracy {result.val_accuracy:.3f}; model: {result.files['model']}")

    sample = sorted(p for p in args.photos.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:8]
    explanation = cam_keras.explain(result.model, sample, top_k=3)
    explanation.save(args.out / "sample_maps")
    print(f"maps of {len(sample)} photos in {args.out / 'sample_maps'}")


if __name__ == "__main__":
    main()

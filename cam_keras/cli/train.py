"""``cam-keras train``: fine-tune a GAP+Dense classifier on ``DATA_DIR/<class>/<image>``."""

from __future__ import annotations

import argparse
from pathlib import Path

from cam_keras.cli.common import positive_int


def _int_or_text(text: str):
    return int(text) if text.isdigit() else text


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="fine-tune a CAM classifier on a class-per-folder dataset",
        description=(
            "Two phases: the head with the backbone frozen (--head-epochs), then the whole "
            "network (--finetune-epochs). Settings come from --config (TOML), then flags. "
            "Writes RUN/model.keras, best.keras, history.csv, logs/ (TensorBoard) and snapshots/."
        ),
    )
    parser.add_argument("data_dir", type=Path, help="folder with one subfolder of images per class")
    parser.add_argument("--out", type=Path, required=True, help="run folder (must be new unless --resume)")
    parser.add_argument("--config", type=Path, help="TOML file of settings (see configs/)")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    model = parser.add_argument_group("model")
    model.add_argument("--backbone", help="small_cnn or a keras.applications name, e.g. resnet50")
    model.add_argument("--input-size", type=positive_int)
    model.add_argument("--weights", help="imagenet, a local weights file, or omit for random init")
    model.add_argument("--head-conv", type=positive_int, help="filters of an extra 3x3 conv before GAP")
    model.add_argument("--drop-last-pool", action="store_true", default=None, help="cut the backbone's last pooling (finer maps)")
    model.add_argument("--dropout", type=float)
    fit = parser.add_argument_group("training")
    fit.add_argument("--head-epochs", type=int)
    fit.add_argument("--finetune-epochs", type=int)
    fit.add_argument("--head-lr", type=float)
    fit.add_argument("--finetune-lr", type=float)
    fit.add_argument("--unfreeze", type=_int_or_text, help="'all' or the number of top backbone layers to train")
    fit.add_argument("--optimizer", choices=["adam", "adamw", "sgd"])
    fit.add_argument("--label-smoothing", type=float)
    fit.add_argument("--batch-size", type=positive_int)
    fit.add_argument("--early-stopping", type=int, help="patience in epochs (0 = off)")
    fit.add_argument("--reduce-lr", type=int, help="reduce-on-plateau patience in epochs (0 = off)")
    data = parser.add_argument_group("data")
    data.add_argument("--val-fraction", type=float)
    data.add_argument("--val-dir", help="separate validation folder with the same classes")
    data.add_argument("--seed", type=int)
    data.add_argument("--resize", choices=["squash", "crop", "pad"])
    data.add_argument("--augment", choices=["none", "flip", "standard"], help="training augmentation (default standard)")
    data.add_argument("--cache", action="store_true", default=None, help="keep decoded images in memory")
    data.add_argument("--class-weights", action="store_true", default=None, help="weight classes by inverse frequency")
    data.add_argument("--skip-empty-classes", action="store_true", default=None)
    logs = parser.add_argument_group("checkpoints and logs")
    logs.add_argument("--checkpoint-every", type=_int_or_text, help="'epoch' or a number of steps")
    logs.add_argument("--log-every", type=positive_int, help="TensorBoard scalars every N steps")
    logs.add_argument("--snapshot-every-epochs", type=int)
    logs.add_argument("--snapshot-every-steps", type=positive_int)
    logs.add_argument("--snapshot-images", type=int)
    hardware = parser.add_argument_group("hardware")
    hardware.add_argument("--mixed-precision", action="store_true", default=None, help="mixed_float16 (GPUs)")
    hardware.add_argument("--jit-compile", action="store_true", default=None, help="compile train steps with XLA")
    hardware.add_argument(
        "--deterministic", action="store_true", default=None, help="deterministic ops: the same seed trains the same weights"
    )
    hardware.add_argument("--strategy", choices=["auto", "default", "mirrored", "multiworker"])
    parser.set_defaults(run=run)


SETTING_FLAGS = (
    "backbone", "input_size", "weights", "head_conv", "drop_last_pool", "dropout", "head_epochs",
    "finetune_epochs", "head_lr", "finetune_lr", "unfreeze", "optimizer", "label_smoothing", "batch_size",
    "early_stopping", "reduce_lr", "val_fraction", "val_dir", "seed", "resize", "augment", "cache",
    "class_weights", "skip_empty_classes", "checkpoint_every", "log_every", "snapshot_every_epochs",
    "snapshot_every_steps", "snapshot_images", "mixed_precision", "jit_compile", "deterministic", "strategy",
)


def run(args: argparse.Namespace) -> int:
    from cam_keras.train import fine_tune, load_config

    overrides = {name: getattr(args, name) for name in SETTING_FLAGS}
    config = None if args.resume else load_config(args.config, overrides)
    result = fine_tune(args.data_dir, args.out, config, resume=args.resume)
    print(f"classes: {', '.join(result.class_names)}")
    if result.val_accuracy is not None:
        print(f"final validation accuracy: {result.val_accuracy:.4f}")
    for label, path in result.files.items():
        print(f"{label:>9}: {path}")
    print(f"next: cam-keras heatmap --model {result.files['model']} IMAGES --out HEATMAPS")
    return 0

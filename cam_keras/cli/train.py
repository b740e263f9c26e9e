"""``cam-keras train``: fine-tune a GAP+Dense classifier on ``DATA_DIR/<class>/<image>``.

Its setting flags are generated from :class:`cam_keras.train.config.TrainConfig`'s fields: one
flag per setting, with the field's help, valid values and default; values are checked by the
same code as a TOML file's.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from cam_keras.cli.flags import add_dashed, flag, with_flags
from cam_keras.safe_text import for_terminal
from cam_keras.train.config import FIELDS, GROUPS, RESUMABLE

add_dashed(FIELDS)  # training settings: --finetune-epochs ...


def _help(field: dataclasses.Field) -> str:
    """The field's help and default; its choices are in the flag's metavar, so not repeated."""
    default = "off" if field.default is False else "none" if field.default is None else field.default
    resumable = "; --resume may change it" if field.name in RESUMABLE else ""
    return f"{with_flags(field.metadata['help'])} (default: {default}{resumable})".replace("%", "%%")


def _metavar(field: dataclasses.Field) -> str:
    words = field.metadata["choices"]
    kinds = {"int": "N", "int | None": "N", "float": "X", "str | None": "PATH", "str | int": f"{{{','.join(words)}}}|N"}
    return f"{{{','.join(words)}}}" if words and field.type == "str" else kinds.get(str(field.type), "NAME")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="fine-tune a CAM classifier on a class-per-folder dataset",
        description=(
            "Two phases: the head with the backbone frozen (--head-epochs), then the whole "
            "network (--finetune-epochs). Settings come from the defaults, then --config (TOML, "
            "keys named like the flags with _), then flags. Writes RUN/model.keras, best.keras, "
            "history.csv, logs/ (TensorBoard) and snapshots/. A killed run continues with --resume."
        ),
    )
    parser.add_argument("data_dir", type=Path, help="folder with one subfolder of images per class")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="run folder: new, empty, or a run whose start failed (not inside DATA_DIR or --val-dir)",
    )
    parser.add_argument("--config", type=Path, help="TOML file of settings (see configs/)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out on its own dataset; flags marked below may change, others are refused",
    )
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    for name, field in FIELDS.items():
        group = groups[field.metadata["group"]]
        if field.type == "bool":
            group.add_argument(flag(name), action="store_true", default=None, help=_help(field))
        else:
            group.add_argument(flag(name), metavar=_metavar(field), help=_help(field))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cam_keras.train import fine_tune
    from cam_keras.train.config import check_settings, requested_settings

    requested = requested_settings(args.config, {name: getattr(args, name) for name in FIELDS})
    if args.resume:
        result = fine_tune(args.data_dir, args.out, resume=True, changes=requested)
    else:
        config = check_settings(requested, str(args.config) if args.config else "flags")
        result = fine_tune(args.data_dir, args.out, config)
    _print_phases(result, args.out)
    print(f"classes: {for_terminal(', '.join(result.class_names))}")
    if result.learning is not None:
        print(
            f"final validation accuracy: {result.learning['val_accuracy']:.4f} "
            f"(chance: {result.learning['chance_accuracy']:.4f})"
        )
    for label, path in result.files.items():
        print(f"{label:>9}: {for_terminal(str(path))}")
    print(f"next: cam-keras heatmap --model {for_terminal(str(result.files['model']))} IMAGES --out HEATMAPS")
    return 0


def _print_phases(result, run: Path) -> None:
    """Say how the phases ended when they did not simply run every epoch."""
    if result.nothing_to_train:
        print(
            f"{for_terminal(str(run))} had already trained every epoch: nothing to train, model.keras written again "
            "(to train longer: --resume with more --finetune-epochs or --head-epochs)"
        )
    for phase, (trained, planned) in result.stopped_early.items():
        print(
            f"early stopping ended the {phase} phase after {trained} of {planned} epochs "
            "(validation loss stopped improving); the weights of its best epoch were kept"
        )

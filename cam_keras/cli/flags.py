"""The one table from the library's option names to the command line's flags.

The library names an option by its argument or field name (``max_side``, ``overwrite=True``,
see :func:`cam_keras.errors.option`); the command line prints the same messages with its flags
(``--max-side``, ``--overwrite``) through :data:`FLAGS`, and ``train`` builds its setting flags
from it. ``tests/cli/test_flag_names.py`` checks that every name is a real field or argument
and every flag a real option of some subcommand.
"""

from __future__ import annotations

from collections.abc import Iterable

from cam_keras.errors import name_options, raw_message


def dashed(name: str) -> str:
    """``--max-side`` for ``max_side``: the flag of an option the table does not rename."""
    return "--" + name.replace("_", "-")


FLAGS: dict[str, str] = {
    **{
        name: dashed(name)
        for name in (
            # heatmap options and request (jobs/request.py), model choices (api.open_model)
            *("top_k", "colormap", "alpha", "normalize", "colorbar", "size", "max_side", "image_format"),
            *("workers", "out", "overwrite", "resume", "shard", "from_list", "method", "target_layer", "gallery"),
            "output",
            "preprocess",
        )
    },
    "classes": "--class",
    "array_format": "--format",
    "report_top": "--print-top",
    "class_names": "--classes",
    "import_user_code": "--import",
    "safe_mode=False": "--unsafe",
    "run_dir": "--out",  # train.fine_tune's folder
    "out_dir": "--out",  # run_demo's folder
    "masks_dir": "--masks",  # evaluate_localization's masks
    "threshold": "--threshold",  # evaluate_localization's box threshold
    "mask_threshold": "--mask-threshold",  # evaluate_localization's mIoU threshold
    "skip_empty": "--skip-empty-classes",  # data.class_folders
}
"""Library spelling -> flag: an option's name, or ``name=value`` for a flag that sets one value."""


def add_dashed(names: Iterable[str]) -> None:
    """Enter options whose flag is their dashed name, as ``cli/train.py`` does for every training
    setting (``--finetune-epochs``) when the command line loads it: the heatmap command then
    needs nothing of the training package."""
    FLAGS.update({name: dashed(name) for name in names})


def flag(name: str) -> str:
    """The flag of library option ``name`` (``KeyError`` if the command line has none)."""
    return FLAGS[name]


def flag_spelling(name: str, python: str, value: str | None) -> str:
    """How the command line spells an option (see :data:`cam_keras.errors.Spelling`):
    ``--max-side``, ``--overwrite`` for ``overwrite=True``, ``--method gradcam``; an option
    without a flag keeps its Python spelling."""
    if value is not None and f"{name}={value}" in FLAGS:
        return FLAGS[f"{name}={value}"]
    if name not in FLAGS:
        return python
    return FLAGS[name] if value in (None, "True") else f"{FLAGS[name]} {value}"


def with_flags(text: str) -> str:
    """``text`` with every option named by its flag."""
    return name_options(text, flag_spelling)


def error_text(error: BaseException) -> str:
    """An error's message as the command line prints it: options named by their flags."""
    return with_flags(raw_message(error))

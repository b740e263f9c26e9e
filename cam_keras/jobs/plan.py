"""Which images a job still has to explain: its shard's slice of the inputs and, with
``resume``, not those whose outputs are complete; and the order its table keeps."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cam_keras.errors import OutputFolderError, option
from cam_keras.jobs.request import HeatmapOptions
from cam_keras.jobs.shards import TABLE, Shard, job_file
from cam_keras.jobs.table import check_row, complete_rows, row_key
from cam_keras.outdir import OutputFolder


def plan_job(
    items: Sequence[tuple[Path, Path]], out: OutputFolder, options: HeatmapOptions, shard: Shard | None, resume: bool
) -> tuple[list[tuple[Path, Path]], set[str]]:
    """This shard's images and, with ``resume``, the outputs already done (a row in the
    predictions table and every file present; atomic writes make a present file a complete
    one). Returns ``(to do, outputs done)``.

    Raises:
        OutputFolderError: a row of an image done holds a probability that is not one,
            naming the table and its line.
    """
    mine = shard_items(items, shard)
    table = job_file(TABLE, shard, ".csv")
    out.check_free(name for _, stem in mine for name in options.output_files(stem))
    if not resume:
        if shard and not out.overwrite:  # a shard opens a shared folder: it may not redo another job's files
            _refuse_written(out, shard, [table, *(name for _, stem in mine for name in options.output_files(stem))])
        return mine, set()
    files = {options.output_files(stem)[0]: options.output_files(stem) for _, stem in mine}
    done = set()
    for line, row in complete_rows(out.root / table):
        output = row_key(row)
        if output in files and all((out.root / name).is_file() for name in files[output]):
            check_row(row, out.root / table, line)
            done.add(output)
    return [item for item in mine if options.output_files(item[1])[0] not in done], done


def _refuse_written(out: OutputFolder, shard: Shard, names: Sequence[str]) -> None:
    """Refuse a shard started anew (neither resumed nor overwriting) whose table or outputs an
    earlier job in the folder already wrote (this shard before, or a job cut otherwise).

    Raises:
        OutputFolderError: naming the first such file.
    """
    written = next((name for name in names if out.owns(name) and (out.root / name).exists()), None)
    if written is not None:
        raise OutputFolderError(
            f"shard {shard.index}/{shard.count}: {out.root / written} was already written by a job in {out.root}; "
            f"pass {option('resume', True)} to continue this shard or {option('overwrite', True)} to redo it"
        )


def job_order(items: Sequence[tuple[Path, Path]], shard: Shard | None, options: HeatmapOptions) -> dict[str, int]:
    """The position of each output (its table key) in the job's order."""
    return {options.output_files(stem)[0]: index for index, (_, stem) in enumerate(shard_items(items, shard))}


def shard_items(items: Sequence[tuple[Path, Path]], shard: Shard | None) -> list[tuple[Path, Path]]:
    """The items ``shard`` takes (all of them without a shard)."""
    return shard.take(items) if shard else list(items)


def refuse_inputs_inside(items: Sequence[tuple[Path, Path]], out_dir: Path) -> None:
    """Listed inputs inside the output folder, or linked to a file there, could be replaced by
    outputs: refuse them."""
    root = os.path.realpath(out_dir) + os.sep
    inside = next((path for path, _ in items if os.path.realpath(path).startswith(root)), None)
    if inside is not None:
        real = os.path.realpath(inside)
        where = "" if real == os.path.abspath(inside) else f" (a link to {real})"
        raise OutputFolderError(
            f"input {inside}{where} is inside {option('out')} {out_dir}; choose an output folder outside the inputs"
        )

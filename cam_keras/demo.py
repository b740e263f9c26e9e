"""The embedded default job: synthetic shapes -> small CNN -> CAM boxes -> scores, offline.

``run_demo`` writes::

    OUT/data/          the generated dataset (train/calibration/test splits, boxes.csv, masks)
    OUT/run/           the training run (model.keras, history, TensorBoard logs, snapshots)
    OUT/evaluation/    per-image CSV, overlays with boxes, best_worst.png
    OUT/demo_grid.png  test images with their maps, predicted (green) and true (red) boxes
    OUT/report.json    metrics at a threshold calibrated on the held-out calibration split
                       and at the paper's 20% (read from the same pass), plus wall time per stage

``OUT`` is an :class:`~cam_keras.outdir.OutputFolder`: locked while the demo runs, and with
``overwrite`` only the files an earlier demo wrote there (listed in its manifest) are replaced;
the user's own files, even with ``OUT`` the working folder, are never touched. Each stage writes into a temporary
folder inside ``OUT`` and then moves its files into place, so a re-run over an earlier demo
(or a killed one) starts each stage from a clean slate.

Maps are CAMs averaged with the CAM of the mirrored image, with CAM's negative class weights
clamped at 0, by default (:data:`MAPS` and :data:`POSTPROCESSING`: of README's map-quality
table, the combination that beats plain CAM on both data sets at the cost of one more forward
pass; other scales with ``augmentation``); the report also gives plain CAM at its own
calibrated threshold.

The shapes are filled with their class's texture by default (``DemoPlan.fill``), so that the
evidence for a class covers the whole object, as it does for most natural objects. With
``fill="flat"`` only outlines tell the classes apart: CAM then lights up the most
discriminative edges (the sides of a square, say) and boxes get less reliable; that variant
is kept to show CAM's best-known failure mode.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cam_keras.atomic import is_temp_name, temp_name
from cam_keras.cam import CAM
from cam_keras.cam.augmentation import MapAugmentation
from cam_keras.cam.postprocessing import MapPostprocessing
from cam_keras.data.synthetic import SyntheticSpec, write_synthetic_dataset
from cam_keras.errors import OutputFolderError, option
from cam_keras.evaluate import (
    Evaluation,
    calibrate_threshold,
    evaluate_localization,
    format_summary,
    write_evaluation,
)
from cam_keras.evaluate.metrics import PAPER_THRESHOLD
from cam_keras.evaluate.report import boxed_overlay
from cam_keras.outdir import OutputFolder
from cam_keras.records import write_json
from cam_keras.render import grid, write_png
from cam_keras.train import TrainConfig, fine_tune

if TYPE_CHECKING:
    import keras

STAGE_FOLDERS = ("data", "run", "evaluation")  # written whole by one stage each
#: the demo's maps: CAM averaged with the CAM of the mirrored image (one more forward pass) ...
MAPS = MapAugmentation(flip=True)
#: ... summing only the channels that speak for the class (Bae et al., ECCV 2020; no extra cost).
POSTPROCESSING = MapPostprocessing(clamp_negative_weights=True)


@dataclass(frozen=True)
class DemoPlan:
    """Sizes of one demo run."""

    image_size: int = 64
    train_per_class: int = 400
    test_per_class: int = 100
    epochs: int = 10
    width: int = 16
    calibration_per_class: int = 50  # held out: the box threshold is chosen on these
    batch_size: int = 32
    fill: str = "texture"


FULL = DemoPlan()
QUICK = DemoPlan(
    image_size=32, train_per_class=24, test_per_class=8, epochs=2, width=8, batch_size=16, calibration_per_class=4
)


def run_demo(
    out_dir: str | os.PathLike,
    plan: DemoPlan = FULL,
    seed: int = 0,
    verbose: int | None = None,
    overwrite: bool = False,
    augmentation: MapAugmentation = MAPS,
    postprocessing: MapPostprocessing = POSTPROCESSING,
) -> dict:
    """Run the whole demo in ``out_dir`` and return the report; its maps are averaged over the
    views of ``augmentation`` (:class:`~cam_keras.cam.augmentation.MapAugmentation`) and
    post-processed as ``postprocessing`` says (:class:`~cam_keras.cam.postprocessing.MapPostprocessing`). Each
    stage says what it does as it starts (on standard output), and training shows Keras'
    epochs, unless ``verbose=0``.

    ``out_dir`` must be new or empty, unless ``overwrite``: then the files an earlier demo
    wrote there are replaced and nothing else is touched.

    Raises:
        OutputFolderError: the folder is not empty (without ``overwrite``), is in use by
            another cam-keras process, or holds a file the demo did not write inside one of
            its stage folders (``data``, ``run``, ``evaluation``).

    Example:
        >>> report = run_demo("demo_out", QUICK)
        >>> report["top1_loc"], report["threshold"]
    """
    with OutputFolder(out_dir, overwrite=overwrite, option_name="out_dir") as out:
        _check_stage_folders(out)
        _remove_stale_stages(out.root)
        return _run_stages(out, plan, seed, verbose, (augmentation, postprocessing))


def _say(verbose: int | None, text: str) -> None:
    """A stage's start, unless the caller asked for silence (``verbose=0``)."""
    if verbose != 0:
        print(f"demo: {text}", flush=True)


class _Laps:
    """Wall time of each stage, in seconds, measured from the previous lap."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._clock = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(now - self._clock, 2)
        self._clock = now


def _run_stages(
    out: OutputFolder,
    plan: DemoPlan,
    seed: int,
    verbose: int | None,
    maps: tuple[MapAugmentation, MapPostprocessing],
) -> dict:
    lap = _Laps()
    spec = SyntheticSpec(image_size=plan.image_size, fill=plan.fill)
    counts = (
        f"{plan.train_per_class} training, {plan.calibration_per_class} calibration and "
        f"{plan.test_per_class} test images per class"
    )
    _say(verbose, f"generating {counts} ({plan.image_size} px, {plan.fill} shapes) in {out.root / 'data'}")
    with _stage(out, "data") as staging:
        write_synthetic_dataset(
            staging, plan.train_per_class, plan.test_per_class, spec, seed, plan.calibration_per_class
        )
    lap("data")
    _say(verbose, f"training the small CNN for {plan.epochs} epochs in {out.root / 'run'}")
    with _stage(out, "run") as staging:
        result = fine_tune(out.root / "data" / "train", staging, _train_config(plan, seed), verbose=verbose)
    lap("train")
    scores = _score(result.model, out.root / "data", maps, verbose, lap)
    calibrated = scores.calibrated
    with _stage(out, "evaluation") as staging:
        write_evaluation(calibrated, staging)
    shown = calibrated.kept.samples[: 2 * len(spec.classes)]  # round robin: two per class
    tiles = [boxed_overlay(calibrated, calibrated.rows[index], raw) for index, raw in shown]
    write_png(out.claim("demo_grid.png"), grid(tiles, columns=len(spec.classes), tile_size=128))
    lap("render")
    report = {
        **{key: calibrated.summary[key] for key in ("top1_loc", "gt_known_loc", "top1_cls")},
        "threshold": scores.threshold,
        "threshold_source": "calibrated on the held-out calibration split (best GT-known localization)",
        "maps": scores.description,
        "augmentation": maps[0].as_dict(),
        "postprocessing": maps[1].as_dict(),
        "metrics_calibrated_threshold": calibrated.summary,
        "metrics_paper_threshold": calibrated.at_threshold(PAPER_THRESHOLD),
        "metrics_plain_cam_calibrated": scores.plain.summary,
        "timings_s": {**lap.timings, "total": round(sum(lap.timings.values()), 2)},
        "plan": asdict(plan),
        "classes": list(spec.classes),
    }
    write_json(out.claim("report.json"), report)
    return report


@dataclass(frozen=True)
class _Scores:
    description: str  # how the maps were made, in words
    threshold: float  # calibrated on the calibration split
    calibrated: Evaluation  # the test split at ``threshold`` (and every other, in its curve)
    plain: Evaluation  # the test split with plain CAM at its own calibrated threshold


def _score(
    model: keras.Model, data: Path, maps: tuple[MapAugmentation, MapPostprocessing], verbose: int | None, lap: _Laps
) -> _Scores:
    """Calibrate the box threshold on the calibration split and score the test split, with the
    demo's maps and with plain CAM: one pass over each split per kind of map."""
    augmentation, postprocessing = maps
    explainer, plain = CAM(model, augmentation=augmentation), CAM(model)
    description = ", ".join(filter(None, ["CAM", augmentation.describe(), postprocessing.describe()]))
    _say(verbose, f"calibrating the box threshold on the held-out calibration split ({description}; plain CAM)")
    threshold = calibrate_threshold(explainer, data / "calibration", postprocessing=postprocessing)
    plain_threshold = calibrate_threshold(plain, data / "calibration")
    lap("calibrate")
    options = {"masks_dir": data / "masks" / "test", "progress": False}
    _say(verbose, "scoring the held-out test split (the calibrated and the paper's thresholds from one pass)")
    calibrated = evaluate_localization(
        explainer, data / "test", threshold=threshold, postprocessing=postprocessing, **options
    )
    plain_scores = evaluate_localization(  # boxes only: its PxAP and mIoU are not reported
        plain, data / "test", threshold=plain_threshold, samples=0, extremes=0, progress=False
    )
    lap("evaluate")
    return _Scores(description, threshold, calibrated, plain_scores)


def _train_config(plan: DemoPlan, seed: int) -> TrainConfig:
    """The demo's training settings: the small CNN from scratch, deterministic, flips only,
    ending on the epoch with the best validation loss (early stopping's patience is the whole
    run, so it never stops early, and it restores the best weights at the end)."""
    return TrainConfig(
        backbone="small_cnn",
        input_size=plan.image_size,
        width=plan.width,
        finetune_epochs=plan.epochs,
        finetune_lr=1e-3,
        batch_size=plan.batch_size,
        val_fraction=0.1,
        cache=True,
        seed=seed,
        augment="flip",
        deterministic=True,
        early_stopping=plan.epochs,
    )


def _files_under(folder: Path) -> list[Path]:
    """Every file under ``folder``, relative to it (hidden ones too)."""
    return [Path(root, name).relative_to(folder) for root, _, names in os.walk(folder) for name in names]


def _check_stage_folders(out: OutputFolder) -> None:
    """Refuse, before anything is written, a stage folder holding a file the demo did not
    write: the stage would read it (as training data, say) or leave it among its outputs, or
    one a link leads outside ``out`` (the stage removes its earlier files)."""
    for stage in STAGE_FOLDERS:
        files = [Path(stage, relative) for relative in _files_under(out.root / stage)]
        for relative in files:
            if not out.owns(relative):
                raise OutputFolderError(
                    f"{out.root / relative} was not written by cam-keras demo, and the demo rewrites "
                    f"{out.root / stage} as a whole; move the file away or choose another {option('out_dir')}"
                )
        out.check_free(files)


def _remove_stale_stages(root: Path) -> None:
    """Remove the staging folders of a killed demo: only names :func:`_new_staging_folder`
    makes (``.cam-keras-tmp-<8 hex digits>-stage-<stage>``), no user folder."""
    for entry in root.iterdir():
        if _is_staging_name(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)


def _is_staging_name(name: str) -> bool:
    """Whether ``name`` is one :func:`_new_staging_folder` makes."""
    return is_temp_name(name) and name[len(temp_name("")) :] in {f"stage-{stage}" for stage in STAGE_FOLDERS}


def _new_staging_folder(root: Path, stage: str) -> Path:
    """A new, empty folder in ``root`` for ``stage``, under a temporary name (see
    :mod:`cam_keras.atomic`)."""
    while True:
        staging = root / temp_name(f"stage-{stage}")
        with contextlib.suppress(FileExistsError):
            staging.mkdir()
            return staging


@contextlib.contextmanager
def _stage(out: OutputFolder, name: str) -> Iterator[Path]:
    """A temporary folder inside ``out`` for one stage; on success its files replace the
    earlier demo's files under ``out/name`` (those no longer written are removed)."""
    staging = _new_staging_folder(out.root, name)
    try:
        yield staging
        written = set(_files_under(staging))
        for relative in _files_under(out.root / name):
            if relative not in written and out.owns(Path(name, relative)):
                (out.root / name / relative).unlink()
        for relative in sorted(written):
            target = out.claim(Path(name, relative))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / relative, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def describe(report: dict, out_dir: str | os.PathLike) -> str:
    """What to tell the user after a demo run.

    Example:
        >>> print(describe(report, "demo_out"))
    """
    out_dir = Path(out_dir)
    paper = report["metrics_paper_threshold"]
    lines = [
        f"held-out test set ({report['plan']['fill']} shapes), {report['maps']}, "
        f"threshold {report['threshold']:.2f} (calibrated on the held-out calibration split):",
        format_summary(report["metrics_calibrated_threshold"]),
        f"at the paper's 20% threshold: top-1 loc {paper['top1_loc']:.4f}, GT-known loc {paper['gt_known_loc']:.4f}",
        "plain CAM (no flip averaging, no clamping), its own calibrated threshold: "
        f"top-1 loc {report['metrics_plain_cam_calibrated']['top1_loc']:.4f}",
        f"time per stage (s): {report['timings_s']}",
        "",
        f"look at:  {out_dir / 'demo_grid.png'}  (maps with predicted green / true red boxes)",
        f"          {out_dir / 'evaluation' / 'best_worst.png'}",
        f"          {out_dir / 'run' / 'snapshots'}/  (maps sharpening during training)",
        f"report:   {out_dir / 'report.json'}",
        f"model:    {out_dir / 'run' / 'model.keras'}",
    ]
    return "\n".join(lines)

"""Run folders that cannot be corrupted or blocked: outputs outside the inputs, a lock, the
dataset's identity, recovery of runs that never trained, resume rules, settings checked at the
edge, the learning check, and small or partly empty datasets."""

import dataclasses
import json
import re
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

import cam_keras
from cam_keras.cli import build_parser, main
from cam_keras.cli.flags import error_text, flag, flag_spelling
from cam_keras.errors import FolderLockedError, OutputFolderError, RunFolderError, UsageError
from cam_keras.models.learning import learning_check, learning_note, read_training_metadata
from cam_keras.train import TrainConfig, fine_tune, load_config
from cam_keras.train.config import FIELDS, FIXED_ON_RESUME, RESUMABLE

ONE_EPOCH = TrainConfig(input_size=32, width=8, batch_size=8, finetune_epochs=1, snapshot_images=2, log_every=2)

TINY_FLAGS = "--input-size 32 --width 8 --batch-size 8 --finetune-epochs 1 --snapshot-images 0".split()  # smallest run


def tree(folder):
    """Every file under ``folder`` with its bytes, to prove nothing changed."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_images(folder, count, color):
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.fromarray(np.full((32, 32, 3), color, np.uint8)).save(folder / f"{index:02d}.png")


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory, shapes_dir):
    """A run that trained one epoch on :func:`shapes_dir`; copy it before changing it."""
    run = tmp_path_factory.mktemp("trained") / "run"
    fine_tune(shapes_dir, run, ONE_EPOCH, verbose=0)
    return run


@pytest.fixture
def run_copy(tmp_path, one_epoch_run):
    copy = tmp_path / "run"
    shutil.copytree(one_epoch_run, copy)
    return copy


# 1. outputs never inside the inputs; one process per run folder


def test_a_run_folder_inside_the_data_is_refused_and_the_data_untouched(dataset_copy):
    before = tree(dataset_copy)
    for out in (dataset_copy, dataset_copy / "circle" / "run", dataset_copy / "run"):
        with pytest.raises(OutputFolderError, match="inside the input"):
            fine_tune(dataset_copy, out, ONE_EPOCH, verbose=0)
    assert tree(dataset_copy) == before


def test_a_run_folder_inside_the_validation_folder_is_refused(tmp_path, shapes_dir, dataset_copy):
    config = dataclasses.replace(ONE_EPOCH, val_dir=str(dataset_copy))
    with pytest.raises(OutputFolderError, match="inside the input"):
        fine_tune(shapes_dir, dataset_copy / "run", config, verbose=0)
    assert not (dataset_copy / "run").exists()


@pytest.mark.slow
def test_the_run_folder_is_locked_while_it_trains(tmp_path, shapes_dir):
    run = tmp_path / "run"
    refused = []

    class SecondResume(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            with pytest.raises(FolderLockedError, match="in use by process") as error:
                fine_tune(shapes_dir, run, resume=True, verbose=0)
            refused.append(str(error.value))

    fine_tune(shapes_dir, run, ONE_EPOCH, callbacks=[SecondResume()], verbose=0)
    assert len(refused) == 1 and not (run / ".cam-keras.lock").exists()


def test_a_folder_holding_no_cam_keras_run_is_refused_whatever_its_file_names(tmp_path, shapes_dir, monkeypatch):
    """Issue 27.1: ``train --out proj`` into a folder holding a user's ``config.toml`` deleted
    its checkpoints and overwrote its ``history.csv`` and ``model.keras``."""
    proj = tmp_path / "proj"
    (proj / "checkpoints").mkdir(parents=True)
    for name in ("config.toml", "checkpoints/resnet_epoch90.pt", "checkpoints/prod_model.h5", "history.csv"):
        (proj / name).write_text(f"the user's {name}")
    (proj / "model.keras").write_bytes(b"the user's model")
    (proj / ".cam-keras-tmp-0123abcd-draft.txt").write_text("a user's file named like a leftover")
    before = tree(proj)
    for out in (proj, "."):
        monkeypatch.chdir(proj)
        with pytest.raises(OutputFolderError, match="holds no cam-keras run"):
            fine_tune(shapes_dir, out, ONE_EPOCH, verbose=0)
        assert tree(proj) == before
    for text in ("{}", '{"epochs": {}, "notes": 1}', "[1]", "not json"):  # a state.json of someone else
        (proj / "state.json").write_text(text)
        for resume in (False, True):
            with pytest.raises(OutputFolderError, match="holds no cam-keras run"):
                fine_tune(shapes_dir, proj, ONE_EPOCH, resume=resume, verbose=0)
    assert (proj / "state.json").read_text() == "not json" and tree(proj) == {**before, "state.json": b"not json"}


def test_a_trained_run_without_its_state_is_refused_naming_what_is_missing(run_copy, shapes_dir):
    """Issue 27.4: ``--resume`` without ``state.json`` started over: the checkpoint deleted,
    ``best.keras`` replaced by a 1-epoch model, ``history.csv`` cut to one row."""
    (run_copy / "state.json").unlink()
    before = tree(run_copy)
    for resume in (True, False):
        with pytest.raises(OutputFolderError, match=r"state.json is missing.*best.keras.*checkpoints/"):
            fine_tune(shapes_dir, run_copy, ONE_EPOCH, resume=resume, verbose=0)
    assert tree(run_copy) == before


def test_a_state_json_of_the_wrong_shape_is_named_before_anything_is_touched(run_copy, shapes_dir):
    """Issue 27.14: wrong types in ``state.json`` ended in an AttributeError traceback."""
    state = json.loads((run_copy / "state.json").read_text())
    for name, value in [("epochs", {"head": "1"}), ("history", [1]), ("mid_epoch", "no"), ("checkpoint", 3)]:
        (run_copy / "state.json").write_text(json.dumps({**state, name: value}))
        before = tree(run_copy)
        with pytest.raises(RunFolderError, match=rf"state.json: run state of the wrong shape \(.*{name}"):
            fine_tune(shapes_dir, run_copy, resume=True, changes={"finetune_epochs": 2}, verbose=0)
        assert tree(run_copy) == before


def test_every_run_state_field_has_a_checked_type():
    from cam_keras.train.rundir import _STATE_TYPES, RunState

    assert set(_STATE_TYPES) == {item.name for item in dataclasses.fields(RunState)}
    assert RunState.wrong_fields(dataclasses.asdict(RunState())) == []
    assert RunState.wrong_fields({"epochs": [], "best_val_accuracy": True}) == [
        "epochs should be a mapping of phase to epochs, not list",
        "best_val_accuracy should be a number or null, not bool",
    ]


@pytest.mark.slow  # 3 s of the quick run on 2 cores
def test_a_run_removes_only_its_own_checkpoint_files(run_copy, shapes_dir):
    """Issue 27.1: every file in ``checkpoints/`` the run did not name was deleted. The run was
    written as the previous version writes it (no mark but ``state.json``), so it still resumes."""
    (run_copy / "checkpoints" / "notes.txt").write_text("the user's")
    (run_copy / "checkpoints" / "epoch_0001.weights.h5.bak").write_text("the user's backup")
    fine_tune(shapes_dir, run_copy, resume=True, changes={"finetune_epochs": 2}, verbose=0)
    assert sorted(p.name for p in (run_copy / "checkpoints").iterdir()) == [
        "epoch_0001.weights.h5.bak",
        "epoch_0002.weights.h5",
        "notes.txt",
    ]


# 2. a run continues only on its own dataset


def test_resume_on_the_same_classes_in_another_order_is_refused_by_name(run_copy, dataset_copy):
    (dataset_copy / "circle").rename(dataset_copy / "tmp")
    (dataset_copy / "square").rename(dataset_copy / "circle")
    (dataset_copy / "tmp").rename(dataset_copy / "square")
    (dataset_copy / "square" / "extra.png").write_bytes(
        (dataset_copy / "circle" / next(iter(sorted(p.name for p in (dataset_copy / "circle").iterdir())))).read_bytes()
    )
    with pytest.raises(RunFolderError, match="class square: 25 images where the run had 24"):
        fine_tune(dataset_copy, run_copy, resume=True, verbose=0)


def test_resume_with_another_class_count_names_the_classes_not_the_weights(run_copy, dataset_copy):
    write_images(dataset_copy / "triangle", 4, (0, 200, 0))
    state = (run_copy / "state.json").read_bytes()
    with pytest.raises(RunFolderError) as error:
        fine_tune(dataset_copy, run_copy, resume=True, verbose=0)
    message = str(error.value)
    assert "3 classes (circle, square, triangle) where the run has 2 (circle, square)" in message
    assert len(message) < 400 and "\n" not in message
    assert (run_copy / "state.json").read_bytes() == state


def test_resume_with_other_files_of_the_same_counts_is_refused(run_copy, dataset_copy):
    first = sorted((dataset_copy / "circle").iterdir())[0]
    first.rename(first.with_name("renamed.png"))
    with pytest.raises(RunFolderError, match="the same counts but other file names"):
        fine_tune(dataset_copy, run_copy, resume=True, verbose=0)


# 3. a damaged checkpoint is named


def test_a_truncated_checkpoint_is_named_not_skipped(run_copy, shapes_dir):
    state = json.loads((run_copy / "state.json").read_text())
    checkpoint = run_copy / state["checkpoint"]
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(RunFolderError, match=f"{checkpoint}: the run's checkpoint is unreadable"):
        fine_tune(shapes_dir, run_copy, changes={"finetune_epochs": 2}, resume=True, verbose=0)


# 4. runs that recover


@pytest.mark.slow
def test_a_run_whose_start_failed_starts_again_with_new_flags(tmp_path, dataset_copy, capsys):
    (dataset_copy / "empty").mkdir()
    run = tmp_path / "run"
    args = [
        "train",
        str(dataset_copy),
        "--out",
        str(run),
        *TINY_FLAGS,
    ]
    assert main(args) == 2
    assert "--skip-empty-classes" in capsys.readouterr().err
    assert main([*args, "--skip-empty-classes"]) == 0  # a new start, not "already holds a run"
    assert cam_keras.model_info(cam_keras.load_model(run / "model.keras")).class_names == ("circle", "square")
    assert main(args) == 2
    assert "already holds a run that trained 1 epoch" in capsys.readouterr().err


@pytest.mark.slow
def test_resume_of_a_run_that_never_trained_takes_the_new_flags(tmp_path, dataset_copy):
    (dataset_copy / "empty").mkdir()
    run = tmp_path / "run"
    with pytest.raises(cam_keras.errors.DatasetError):
        fine_tune(dataset_copy, run, ONE_EPOCH, verbose=0)
    changes = {"skip_empty_classes": True, "input_size": 40}
    result = fine_tune(dataset_copy, run, resume=True, changes=changes, verbose=0)
    assert result.class_names == ("circle", "square") and result.model.input_shape == (None, 40, 40, 3)
    assert load_config(run / "config.toml").skip_empty_classes


@pytest.mark.slow  # 2 s of the quick run on 2 cores
def test_resume_accepts_flags_that_leave_the_trained_epochs_alone(run_copy, shapes_dir):
    result = fine_tune(
        shapes_dir,
        run_copy,
        resume=True,
        verbose=0,
        changes={"finetune_epochs": 2, "snapshot_images": 1, "log_every": 1, "skip_empty_classes": True},
    )
    assert [row["epoch"] for row in json.loads((run_copy / "state.json").read_text())["history"]] == [0, 1]
    assert len(result.history["loss"]) == 2 and load_config(run_copy / "config.toml").finetune_epochs == 2


def test_resume_refuses_flags_that_change_what_was_trained_by_name(run_copy, shapes_dir):
    config = (run_copy / "config.toml").read_bytes()
    with pytest.raises(RunFolderError) as error:
        fine_tune(
            shapes_dir, run_copy, resume=True, changes={"backbone": "resnet50", "input_size": 48, "seed": 0}, verbose=0
        )
    message = str(error.value)
    assert message.startswith("resume cannot change backbone ('small_cnn' in the run, 'resnet50' asked)")
    assert "input_size (32 in the run, 48 asked)" in message and "seed" not in message.split(":")[0]
    assert "start a new run with another run_dir" in message and "--" not in message
    assert error_text(error.value).startswith("--resume cannot change --backbone ('small_cnn' in the run, 'resnet50'")
    with pytest.raises(RunFolderError, match=r"finetune_epochs \(1 in the run, 1 trained, 0 asked\)"):
        fine_tune(shapes_dir, run_copy, resume=True, changes={"finetune_epochs": 0, "head_epochs": 1}, verbose=0)
    assert (run_copy / "config.toml").read_bytes() == config


def test_the_resume_lists_are_defined_once_and_cover_every_setting():
    assert set(RESUMABLE) | set(FIXED_ON_RESUME) == set(FIELDS) and not set(RESUMABLE) & set(FIXED_ON_RESUME)
    assert {"backbone", "input_size", "weights", "seed", "val_fraction"} <= set(FIXED_ON_RESUME)
    assert {"skip_empty_classes", "finetune_epochs", "snapshot_images", "log_every"} <= set(RESUMABLE)
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `--head-epochs`"))
    may, fixed = row.strip("|").split("|")
    assert set(re.findall(r"--[a-z-]+", may)) == {flag(key) for key in RESUMABLE}
    fixed_flags = set(re.findall(r"--[a-z-]+", fixed)) | {"--head-lr", "--finetune-lr"}  # "learning rates"
    assert fixed_flags == {flag(key) for key in FIXED_ON_RESUME}


# 5. one source for every choice, every value checked at the edge


@pytest.mark.parametrize(
    "line,named",
    [
        ('finetune_epochs = "ten"', "finetune_epochs = 'ten': expected a whole number >= 0"),
        ("finetune_epochs = 1.5", "finetune_epochs = 1.5: expected a whole number"),
        ("batch_size = 0", "batch_size = 0: expected a whole number >= 1"),
        ("log_every = 0", "log_every = 0: expected a whole number >= 1"),
        ("label_smoothing = -1", "label_smoothing = -1: expected a finite number >= 0.0 and < 1.0"),
        ("snapshot_images = -5", "snapshot_images = -5: expected a whole number >= 0"),
        ('resize = "stretch"', "resize = 'stretch': expected one of squash, crop, pad"),
        ('weights = "missing.h5"', "weights = 'missing.h5': small_cnn has no pretrained weights"),
        ('backbone = "resnet50"\nweights = "missing.h5"', "weights = 'missing.h5': no such file"),
        ("cache = 1", "cache = 1: expected true or false"),
    ],
)
def test_bad_config_values_are_one_line_naming_file_and_key(tmp_path, shapes_dir, capsys, line, named):
    path = tmp_path / "bad.toml"
    path.write_text(line + "\n")
    with pytest.raises(UsageError, match=f"{path}: "):
        load_config(path)
    assert main(["train", str(shapes_dir), "--out", str(tmp_path / "run"), "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and named in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "flags,named",
    [
        (["--batch-size", "0"], "--batch-size 0: expected a whole number >= 1"),
        (["--finetune-epochs", "ten"], "--finetune-epochs ten: expected a whole number"),
        (["--augment", "heavy"], "--augment heavy: expected one of none, flip, standard"),
        (["--unfreeze", "-2"], "--unfreeze -2: expected all or a positive whole number"),
        (["--dropout", "nan"], "--dropout nan: expected a finite number"),
    ],
)
def test_bad_flags_get_the_same_checks_as_the_config_file(tmp_path, shapes_dir, capsys, flags, named):
    assert main(["train", str(shapes_dir), "--out", str(tmp_path / "run"), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and named in err


def test_every_setting_is_one_flag_with_its_choices_and_default_in_the_help():
    from cam_keras.choices import RESIZE_POLICIES
    from cam_keras.data.augmentation import AUGMENTATIONS
    from cam_keras.train.optimizers import OPTIMIZERS
    from cam_keras.train.strategy import STRATEGIES

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    flags = {action.dest: action for action in train._actions if action.option_strings}
    assert set(FIELDS) <= set(flags)
    for name, _field in FIELDS.items():
        assert flags[name].option_strings == [flag(name)]
        assert flags[name].help and "(default: " in flags[name].help, name
    for name, choices in [
        ("resize", RESIZE_POLICIES),
        ("augment", AUGMENTATIONS),
        ("optimizer", tuple(OPTIMIZERS)),
        ("strategy", STRATEGIES),
    ]:
        assert FIELDS[name].metadata["choices"] == choices
        assert flags[name].metavar == "{" + ",".join(choices) + "}"  # listed once, by the flag's name
        assert ", ".join(choices) not in flags[name].help
    assert "(default: 10; --resume may change it)" in flags["finetune_epochs"].help
    assert "(default: small_cnn)" in flags["backbone"].help


def test_offline_imagenet_weights_fail_in_one_line_with_the_cli_spelling(tmp_path, shapes_dir, capsys, monkeypatch):
    from cam_keras.models import backbones

    def offline(**kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -3]")

    spec = backbones.BackboneSpec("resnet50", offline, "resnet50")
    monkeypatch.setattr(backbones, "_resolve_spec", lambda name: spec)
    args = [
        "train",
        str(shapes_dir),
        "--out",
        str(tmp_path / "run"),
        "--backbone",
        "resnet50",
        "--weights",
        "imagenet",
        "--input-size",
        "32",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--weights PATH" in err and "Traceback" not in err
    assert not json.loads((tmp_path / "run" / "state.json").read_text())["history"]  # restartable: never trained


def test_cached_training_data_reshuffles_every_epoch(shapes_dir):
    from cam_keras.data.class_folders import scan_class_folders
    from cam_keras.data.pipeline import make_dataset

    files = scan_class_folders(shapes_dir)
    data = make_dataset(files, (32, 32), 48, training=True, augmentation="none", cache=True)
    first, second = ([label for batch in data for label in batch[1].numpy().tolist()] for _ in range(2))
    assert sorted(first) == sorted(second) and first != second


# 7. the learning check


def test_learning_check_is_two_standard_errors_above_the_majority_rate():
    # 60 validation images, 30/20/10: chance 0.5, standard error sqrt(0.25 / 60) = 0.0645
    assert learning_check(0.62, [30, 20, 10])["above_chance"] is False  # 0.5 + 2 * 0.0645 = 0.629
    assert learning_check(0.64, [30, 20, 10])["above_chance"] is True
    assert learning_check(0.9, [0, 0]) is None and learning_check(None, [5, 5]) is None
    assert learning_note(learning_check(0.64, [30, 20, 10])) is None
    note = learning_note(learning_check(0.5, [30, 20, 10]))
    assert "not clearly above chance (0.500" in note and "pretrained weights" in note and "lower learning rate" in note


def test_the_learning_advice_leaves_out_what_the_model_already_does():
    at_chance = learning_check(0.5, [30, 20, 10])
    small = learning_note(at_chance, "small_cnn")
    assert (
        "backbone='small_cnn'" not in small and "pretrained backbone (backbone='resnet50' weights='imagenet'" in small
    )
    pretrained = learning_note(at_chance, "resnet50", pretrained=True, spelling=flag_spelling)
    assert "--weights imagenet" not in pretrained and "(--backbone small_cnn)" in pretrained
    assert "--weights imagenet" in learning_note(at_chance, "resnet50", pretrained=False, spelling=flag_spelling)


@pytest.mark.parametrize("counts, judged", [([1, 1], False), ([2, 2], False), ([3, 2], False), ([5, 5], True)])
def test_too_few_validation_images_to_judge_are_said_to_be_so(counts, judged):
    # 100% accuracy is clearly above chance p only if p + 2 sqrt(p (1 - p) / n) < 1:
    # [2, 2]: 0.5 + 2 * 0.25 = 1.0; [3, 2]: 0.6 + 2 * 0.219 = 1.04; [5, 5]: 0.5 + 2 * 0.158 = 0.82
    note = learning_note(learning_check(0.0, counts))
    assert ("nothing can be judged from so few" in note) is not judged
    assert ("may have learned nothing" in note) is judged
    if not judged:
        assert f"only {sum(counts)} validation image(s)" in note and "(val_fraction)" in note


@pytest.mark.slow  # 3 s of the quick run on 2 cores
def test_a_run_at_chance_warns_and_records_it_in_history_state_and_model(tmp_path, dataset_copy, caplog):
    picture = sorted((dataset_copy / "circle").iterdir())[0].read_bytes()
    for path in dataset_copy.rglob("*.png"):  # the same picture in both classes: nothing to learn
        path.write_bytes(picture)
    run = tmp_path / "run"
    fine_tune(dataset_copy, run, ONE_EPOCH, verbose=0)
    assert "after the finetune phase: validation accuracy" in caplog.text and "not clearly above chance" in caplog.text
    state = json.loads((run / "state.json").read_text())
    assert state["learning"]["finetune"]["above_chance"] is False
    assert (run / "history.csv").read_text().splitlines()[1].endswith(",0.5,0")
    assert "not clearly above chance" in learning_note(read_training_metadata(run / "model.keras"))


def test_a_model_that_learned_is_marked_above_chance(trained_run):
    stored = read_training_metadata(trained_run.run_dir / "model.keras")
    assert stored["above_chance"] is True and learning_note(stored) is None
    assert stored["val_accuracy"] == pytest.approx(trained_run.learning["val_accuracy"])


def test_a_validation_folder_sharing_training_images_warns(tmp_path, dataset_copy, caplog):
    from cam_keras.train.loop import load_training_data

    config = dataclasses.replace(ONE_EPOCH, val_dir=str(dataset_copy))
    with caplog.at_level("WARNING"):
        load_training_data(dataset_copy, config)
    assert "val_dir shares 48 of its 48 images with DATA_DIR" in caplog.text
    assert "computed on training images" in caplog.text

    val = tmp_path / "val"
    shutil.copytree(dataset_copy, val)  # copies: the squares stay training images
    shutil.rmtree(val / "circle")
    write_images(val / "circle", 24, (30, 140, 60))  # the circles are replaced by new pictures
    caplog.clear()
    with caplog.at_level("WARNING"):
        load_training_data(dataset_copy, dataclasses.replace(ONE_EPOCH, val_dir=str(val)))
    assert "val_dir shares 24 of its 48 images with DATA_DIR" in caplog.text
    shutil.rmtree(val / "square")
    write_images(val / "square", 3, (200, 200, 0))
    caplog.clear()
    with caplog.at_level("WARNING"):
        load_training_data(dataset_copy, dataclasses.replace(ONE_EPOCH, val_dir=str(val)))
    assert "shares" not in caplog.text


# 8. small and partly empty datasets


@pytest.mark.slow  # 3 s of the quick run on 2 cores
def test_skipped_empty_classes_are_not_model_outputs(tmp_path, dataset_copy, capsys):
    (dataset_copy / "aardvark").mkdir()
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                str(dataset_copy),
                "--out",
                str(run),
                "--skip-empty-classes",
                *TINY_FLAGS,
            ]
        )
        == 0
    )
    assert "classes: circle, square\n" in capsys.readouterr().out
    assert cam_keras.load_model(run / "model.keras").output_shape == (None, 2)


@pytest.mark.slow
def test_one_image_per_class_and_no_snapshots_train_without_crashing(tmp_path, capsys):
    data = tmp_path / "data"
    write_images(data / "red", 1, (200, 0, 0))
    write_images(data / "blue", 1, (0, 0, 200))
    for snapshots in ("0", "2"):
        run = tmp_path / f"run{snapshots}"
        assert (
            main(
                [
                    "train",
                    str(data),
                    "--out",
                    str(run),
                    "--input-size",
                    "32",
                    "--width",
                    "8",
                    "--finetune-epochs",
                    "1",
                    "--snapshot-images",
                    snapshots,
                ]
            )
            == 0
        ), capsys.readouterr().err
        assert (run / "model.keras").is_file()
    assert len(list((tmp_path / "run2" / "snapshots").glob("*.png"))) == 1  # from the training images

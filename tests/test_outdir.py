"""Output folders: locks, only cam-keras's own files replaced, never inside inputs, no leftovers;
atomic writes with bounded temp names and the usual permissions; safe text for terminals and CSV."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from outputs_helpers import tree_hashes
from PIL import Image

import cam_keras
from cam_keras.atomic import TEMP_PREFIX, atomic_path, temp_name, write_text_atomic
from cam_keras.errors import FolderLockedError, OutputFolderError
from cam_keras.outdir import LOCK_NAME, MANIFEST_NAME, FolderLock, OutputFolder
from cam_keras.safe_text import for_csv_cell, for_terminal


def test_overwrite_replaces_own_files_and_refuses_a_users_file(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        write_text_atomic(folder.claim("sub/a.txt"), "first")
    (out / "notes.txt").write_text("the user's")

    with pytest.raises(OutputFolderError, match="not empty; pass --overwrite"):
        OutputFolder(out).open()
    with OutputFolder(out, overwrite=True) as folder:
        write_text_atomic(folder.claim("sub/a.txt"), "second")
        with pytest.raises(OutputFolderError, match="notes.txt exists and was not written by cam-keras"):
            folder.claim("notes.txt")
    assert (out / "sub/a.txt").read_text() == "second"
    assert (out / "notes.txt").read_text() == "the user's"
    assert (out / MANIFEST_NAME).read_text().splitlines() == ["sub/a.txt"]


def test_output_inside_an_input_folder_is_refused(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for out in (photos, photos / "maps"):
        with pytest.raises(OutputFolderError, match="inside the input"):
            OutputFolder(out, inputs=[photos]).open()
    assert list(photos.iterdir()) == []  # nothing was created inside the input


def test_an_input_file_is_never_written_over(tmp_path):
    image = tmp_path / "out" / "x.png"
    image.parent.mkdir()
    image.write_bytes(b"pixels")
    with OutputFolder(tmp_path / "out", overwrite=True, inputs=[image]) as folder:
        with pytest.raises(OutputFolderError):
            folder.claim("x.png")
    assert image.read_bytes() == b"pixels"


def test_explanation_save_replaces_its_own_files_only_and_never_an_input(tmp_path, tiny_model):
    """Issue: ``explain("m.keras", "pics/image_0.png").save("pics")`` replaced the input image."""
    pics = tmp_path / "pics"
    pics.mkdir()
    rng = np.random.default_rng(0)
    for name in ("cat.png", "image_1.png"):  # the second input is named like save's second picture
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(pics / name)
    explanation = cam_keras.CAM(tiny_model)([pics / "cat.png", pics / "image_1.png"])
    before = tree_hashes(pics)
    with pytest.raises(OutputFolderError, match=r"pics/image_1.png exists and was not written by cam-keras.*folder"):
        explanation.save(pics)
    assert tree_hashes(pics) == before  # refused before anything was written, image_0 included

    saved = tmp_path / "saved"
    written = explanation.save(saved)
    assert [path.name for path in written] == ["image_0.png", "image_0.npz", "image_1.png", "image_1.npz"]
    (saved / "notes.txt").write_text("mine")
    assert explanation.save(saved) == written  # its own files are replaced, the user's stays
    assert (saved / "notes.txt").read_text() == "mine"
    assert (saved / MANIFEST_NAME).read_text().splitlines() == [path.name for path in written]


def test_second_job_is_refused_with_the_holder_named(tmp_path):
    with OutputFolder(tmp_path / "out"):
        with pytest.raises(FolderLockedError, match=f"process {os.getpid()} on {socket.gethostname()}"):
            OutputFolder(tmp_path / "out", overwrite=True).open()
    assert not (tmp_path / "out" / LOCK_NAME).exists()  # released on exit


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": dead_pid, "host": socket.gethostname()}))
    with FolderLock(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_lock_of_another_host_is_respected(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere", "since": "then"}))
    with pytest.raises(FolderLockedError, match="on elsewhere"):
        FolderLock(tmp_path).acquire()


def test_temp_files_of_a_killed_job_are_removed_by_the_next(tmp_path):
    out = tmp_path / "out"
    (out / "deep").mkdir(parents=True)
    leftover = out / "deep" / f"{TEMP_PREFIX}0123abcd-x.png"
    leftover.write_bytes(b"half")
    with OutputFolder(out, resume=True):
        assert not leftover.exists()


def test_temp_names_fit_the_file_system_for_any_valid_name(tmp_path):
    name = "é" * 120 + ".weights.h5"  # 251 bytes: valid, but too long with a prefix added
    assert len(name.encode()) <= 255
    temp = temp_name(name)
    assert len(temp.encode()) <= 255 and temp.endswith(".weights.h5")
    with atomic_path(tmp_path / name) as path:
        path.write_text("ok")
    assert (tmp_path / name).read_text() == "ok"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path, umask, mode):
    script = (
        "import os, sys; os.umask(int(sys.argv[2], 8));"
        "from cam_keras.atomic import write_text_atomic; write_text_atomic(sys.argv[1], 'x')"
    )
    target = tmp_path / "f.txt"
    subprocess.run([sys.executable, "-c", script, str(target), oct(umask)[2:]], check=True)
    assert target.stat().st_mode & 0o777 == mode


def test_text_from_files_is_safe_in_terminals_and_spreadsheets():
    assert for_terminal("cat\x1b[31m\nred") == "cat\\x1b[31m\\nred"
    assert for_terminal("chat noir é") == "chat noir é"
    assert [for_csv_cell(v) for v in ("=1+1", "+x", "-y", "@z", "plain", 0.5)] == [
        "'=1+1",
        "'+x",
        "'-y",
        "'@z",
        "plain",
        0.5,
    ]


def test_cli_prints_user_errors_in_one_line_and_bugs_with_a_traceback(tmp_path, monkeypatch, capsys):
    from cam_keras import cli

    def busy(args):
        with FolderLock(tmp_path):
            FolderLock(tmp_path).acquire()

    def broken(args):
        raise KeyError("oops")

    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_run(parser(), busy))
    assert cli.main(["demo", "--quick"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cam-keras demo: error: ") and err.count("\n") == 1 and "in use by process" in err

    monkeypatch.setattr(cli, "build_parser", lambda: _with_run(parser(), broken))
    assert cli.main(["demo", "--quick"]) == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError" in err and "bug in cam-keras" in err


def test_an_output_folder_that_cannot_be_created_names_the_flag_and_the_folder(tmp_path, capsys):
    from cam_keras.cli import main

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputFolderError, match=r"--out .*a_file/sub: cannot create the folder \(Not a directory\)"):
        OutputFolder(blocker / "sub").open()
    for argv in (["demo", "--quick"], ["train", str(tmp_path / "data"), "--input-size", "32"]):
        assert main([*argv, "--out", str(blocker / "sub")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"error: --out {blocker / 'sub'}: cannot create the folder" in err
    assert blocker.read_text() == "not a folder"


def test_a_negative_seed_is_refused_naming_the_flag(tmp_path, monkeypatch, capsys):
    from cam_keras.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):  # argparse's own one-line error
        main(["demo", "--quick", "--seed", "-3"])
    assert "argument --seed: expected 0 or a positive integer, got -3" in capsys.readouterr().err
    assert main(["train", "data", "--out", "run", "--seed", "-3"]) == 2
    assert "--seed -3: expected a whole number >= 0" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def _with_run(parser, run):
    """``parser`` with every subcommand's ``run`` replaced."""
    for action in parser._subparsers._group_actions:
        for subparser in action.choices.values():
            subparser.set_defaults(run=run)
    return parser

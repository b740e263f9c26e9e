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

    with pytest.raises(OutputFolderError, match="not empty; pass overwrite=True"):
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
    expected = r"pics/image_1.png exists and was not written by cam-keras.*another directory"
    with pytest.raises(OutputFolderError, match=expected):
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
    with OutputFolder(out) as folder:  # the killed job listed its output before writing it
        folder.claim("deep/x.png")
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
    with pytest.raises(OutputFolderError, match=r"^out .*a_file/sub: cannot create the folder \(Not a directory\)"):
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


# Issue 27, round two: ownership that no file name, link or race can fake.


def test_a_newline_in_a_name_cannot_forge_the_manifest(tmp_path):
    """Issue 27.2: an input named ``z\\nkeep.png`` listed ``keep.png`` as cam-keras' own."""
    out = tmp_path / "out"
    forged = "z\nkeep.png"
    odd = ["tab\there.png", "cr\rhere.png", "sep\x1c\x85\u2028.png", "bad\udcff.png", "\\n-literal.png"]
    with OutputFolder(out) as folder:
        for name in (forged, *odd):
            write_text_atomic(folder.claim(name), "ours")
    (out / "keep.png").write_text("the user's")
    with OutputFolder(out, overwrite=True) as folder:
        with pytest.raises(OutputFolderError, match="keep.png exists and was not written by cam-keras"):
            folder.claim("keep.png")
        assert all(folder.owns(name) for name in (forged, *odd))  # the job that wrote them can resume
        assert not folder.owns("z") and not folder.owns("tab")
    assert (out / "keep.png").read_text() == "the user's"


def test_a_manifest_of_the_previous_version_keeps_reading(tmp_path):
    (tmp_path / MANIFEST_NAME).write_text("a.png\nsub/b.npz\n")
    with OutputFolder(tmp_path, overwrite=True) as folder:
        assert folder.owns("a.png") and folder.owns("sub/b.npz") and not folder.owns("c.png")
        folder.claim("c.png")
    with OutputFolder(tmp_path, overwrite=True) as folder:
        assert all(folder.owns(name) for name in ("a.png", "sub/b.npz", "c.png"))


def test_only_temporary_files_cam_keras_made_are_removed_and_only_once_the_job_is_accepted(tmp_path):
    """Issue 27.3: any ``.cam-keras-tmp-*`` name anywhere under the folder was deleted, even by a
    job then refused."""
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        folder.claim("maps/x.png")
    ours = out / "maps" / f"{TEMP_PREFIX}0123abcd-x.png"  # a killed write beside a listed output
    ours.parent.mkdir()
    ours.write_bytes(b"half")
    users = [
        out / "photos" / "2023" / f"{TEMP_PREFIX}draft.txt",
        out / f"{TEMP_PREFIX}myproject" / "notes.txt",
        out / "photos" / f"{TEMP_PREFIX}0123abcd-x.png",  # our pattern, in a folder cam-keras never wrote in
    ]
    for path in users:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("the user's")
    with pytest.raises(OutputFolderError, match="not empty"):
        OutputFolder(out).open()
    assert ours.exists()  # a refused job removes nothing
    with OutputFolder(out, overwrite=True):
        assert not ours.exists()
    assert all(path.read_text() == "the user's" for path in users)


def test_outputs_never_land_outside_the_folder_through_a_link(tmp_path):
    """Issue 27.5: ``out/sub -> ../elsewhere`` put outputs in ``elsewhere``."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.mkdir()
    (out / "sub").symlink_to("../elsewhere")
    (out / "link.png").symlink_to("../elsewhere/x.png")
    with OutputFolder(out, overwrite=True) as folder:
        for name in ("sub/a.png", "link.png"):
            with pytest.raises(OutputFolderError, match=f"{name} would be written outside out "):
                folder.claim(name)
        with pytest.raises(OutputFolderError, match="sub/a.png would be written outside"):
            folder.check_free(["ok.png", "sub/a.png"])
    assert list(elsewhere.iterdir()) == []


def test_a_file_in_the_way_of_an_output_folder_is_named_before_anything_is_written(tmp_path):
    """Issue 27.15: a user file ``x`` and an output ``x/y.png`` stopped the job midway (Errno 17)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "x").write_text("the user's")
    (out / "dangling").symlink_to("nowhere")
    with OutputFolder(out, overwrite=True) as folder:
        for name, blocker in (("x/y.png", "x"), ("x/deeper/y.png", "x"), ("dangling/y.png", "dangling")):
            with pytest.raises(OutputFolderError, match=f"{out / blocker} is in the way: .* not a folder"):
                folder.check_free(["a.png", name])
    assert (out / "x").read_text() == "the user's"


def race(kind: str, folder, trials: int) -> list[list[str]]:
    """What each of six processes got, per trial, racing for a lock (see ``lock_race.py``; run
    in a small process of its own, since forking this one, TensorFlow loaded, is slow)."""
    helper = os.path.join(os.path.dirname(__file__), "support", "lock_race.py")
    finished = subprocess.run(
        [sys.executable, helper, kind, str(folder), str(trials)], capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


def test_shards_starting_at_once_all_start(tmp_path):
    """Shards of a Slurm array start together; each looks at the others' locks while they are
    being taken, which must not refuse any of them."""
    assert race("shards", tmp_path, 10) == [["opened"] * 6] * 10


def test_a_stale_lock_is_taken_over_by_exactly_one_of_many_racing_processes(tmp_path):
    """Issue 27.8: six processes taking over a dead process' lock: in 13 of 30 trials more than
    one held it."""
    holders = [outcomes.count("held") for outcomes in race("stale", tmp_path, 20)]
    assert holders == [1] * 20


def test_the_lock_and_the_list_of_outputs_are_never_written_through_a_link(tmp_path):
    """Found by the sweep after issue 27: a ``.cam-keras.lock`` or ``.cam-keras-outputs`` that is
    a link had its target overwritten or appended to; a folder of those names gave a traceback."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.utime(victim, (0, 0))  # old: an unreadable lock this old counts as stale
    for name in (LOCK_NAME, MANIFEST_NAME):
        out = tmp_path / name.strip(".")
        out.mkdir()
        (out / name).symlink_to(victim)
        with pytest.raises(OutputFolderError, match=f"{name} is not .* link, a folder or a device"):
            OutputFolder(out, overwrite=True).open()
        (out / name).unlink()
        (out / name).mkdir()
        with pytest.raises(OutputFolderError, match=f"{name} is not .* link, a folder or a device"):
            OutputFolder(out, overwrite=True).open()
    assert victim.read_text() == "precious"


def test_a_manifest_line_cut_short_by_a_kill_lists_nothing(tmp_path):
    (tmp_path / MANIFEST_NAME).write_text("a.png\nkee")  # killed while appending keep.png
    with OutputFolder(tmp_path, overwrite=True) as folder:
        folder.claim("b.png")
    with OutputFolder(tmp_path, overwrite=True) as folder:
        assert folder.owns("a.png") and folder.owns("b.png") and not folder.owns("kee")


def test_an_output_named_like_a_temporary_file_is_kept_and_a_link_loop_refused(tmp_path):
    out = tmp_path / "out"
    with OutputFolder(out) as folder:
        write_text_atomic(folder.claim(f"{TEMP_PREFIX}0123abcd-x.png"), "an output")
    (out / "loop.png").symlink_to("loop.png")
    with OutputFolder(out, resume=True) as folder:
        with pytest.raises(OutputFolderError, match="loop.png exists and was not written by cam-keras"):
            folder.claim("loop.png")
    assert (out / f"{TEMP_PREFIX}0123abcd-x.png").read_text() == "an output"


def test_a_manifest_that_cannot_be_written_is_named_and_exits_1(tmp_path, tiny_model, monkeypatch, capsys):
    """Issue 27: a full disk while listing an output in the manifest printed "No space left on
    device" naming no file."""
    import errno

    from cam_keras.cli import main

    model_file = cam_keras.save_model(tiny_model, tmp_path / "model.keras")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    manifests, real_open, real_write = set(), os.open, os.write

    def recording_open(path, *args, **kwargs):
        handle = real_open(path, *args, **kwargs)
        if os.path.basename(path) == MANIFEST_NAME:
            manifests.add(handle)
        return handle

    def full_disk_write(handle, data):
        if handle in manifests:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(handle, data)

    monkeypatch.setattr(os, "open", recording_open)
    monkeypatch.setattr(os, "write", full_disk_write)
    out = tmp_path / "out"
    assert main(["heatmap", "--model", str(model_file), str(tmp_path / "a.png"), "--out", str(out), "--quiet"]) == 1
    monkeypatch.undo()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(out / MANIFEST_NAME) in lines[0] and "No space left" in lines[0], lines

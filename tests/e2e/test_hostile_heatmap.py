"""`cam-keras heatmap` against hostile and clumsy input: one clear message, exit code 2, and no
user file changed (input and output trees hashed before and after)."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess

import numpy as np
import pytest
from outputs_helpers import tree_hashes
from PIL import Image

import cam_keras
from cam_keras.cli import main


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(5)
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(3):
        Image.fromarray(rng.integers(0, 255, (24, 30, 3), dtype=np.uint8)).save(folder / f"{index}.png")
    return folder


def read_rows(table) -> list[dict]:
    with open(table, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def one_error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("cam-keras heatmap: error: ")
    return lines[0]


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--batch-size", "0"], "--batch-size"),
        (["--print-top", "-2"], "--print-top"),
        (["--alpha", "5"], "--alpha"),
        (["--alpha", "nan"], "--alpha"),
        (["--top-k", "0"], "--top-k"),
        (["--size", "0x0"], "--size"),
        (["--size", "16384x1"], "--size 16384x1: expected"),  # WebP's limit: 16383 px a side
        (["--size", "1x16384"], "--size 1x16384: expected"),
        (["--max-side", "16384"], "--max-side 16384: expected a longest side from 1 to 16383 px"),
        (["--colormap", "no-such-map"], "--colormap"),
        (["--shard", "3/2"], "--shard"),
        (["--shard", "two"], "--shard"),
        (["--shard", "\uff11/\uff13"], "--shard"),  # full-width digits
        (["--shard", "1/99999999999999999999"], "--shard must be K/N with 1 <= K <= N <= 2147483647"),
        (["--resume", "--overwrite"], "--resume"),
        (["--class", "zebra"], "unknown class 'zebra'"),
        (["--class", "7"], "class index 7 out of range"),
    ],
)
def test_bad_flag_is_one_message_and_writes_nothing(tmp_path, model_file, photos, capsys, flags, named):
    out = tmp_path / "out"
    before = tree_hashes(tmp_path)
    assert main(["heatmap", "--model", str(model_file), str(photos), "--out", str(out), "--quiet", *flags]) == 2
    assert named in one_error_line(capsys)
    assert tree_hashes(tmp_path) == before and not out.exists()


@pytest.mark.parametrize("inside", [".", "maps"])
def test_output_folder_equal_to_or_inside_an_input_is_refused(tmp_path, model_file, photos, capsys, inside):
    before = tree_hashes(photos)
    args = ["heatmap", "--model", str(model_file), str(photos), "--out", str(photos / inside), "--quiet", "--overwrite"]
    assert main(args) == 2
    assert "inside the input" in one_error_line(capsys)
    assert tree_hashes(photos) == before and not (photos / "maps").exists()


def test_overwrite_replaces_only_files_cam_keras_wrote(tmp_path, model_file, photos, capsys):
    out = tmp_path / "out"
    args = ["heatmap", "--model", str(model_file), str(photos), "--out", str(out), "--quiet"]
    assert main(args) == 0
    (out / "notes.txt").write_text("mine")
    first = tree_hashes(out)
    assert main([*args, "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine" and set(tree_hashes(out)) == set(first)
    other = tmp_path / "other"
    other.mkdir()
    (other / "2.png").write_bytes(b"user file named like an output")
    before = tree_hashes(other)
    capsys.readouterr()
    assert main([*args[:-3], "--out", str(other), "--quiet", "--overwrite"]) == 2
    assert "2.png exists and was not written by cam-keras" in one_error_line(capsys)
    assert tree_hashes(other) == before  # refused before any file was written


@pytest.fixture
def live_pid():
    """The PID of a live process (as another cam-keras job holding a lock would be)."""
    holder = subprocess.Popen(["sleep", "60"])
    yield holder.pid
    holder.kill()
    holder.wait()


def lock_folder(folder, name, pid) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "since": "now"}))


def test_second_job_on_a_folder_is_refused_with_the_holders_pid(tmp_path, model_file, photos, capsys, live_pid):
    out = tmp_path / "out"
    lock_folder(out, ".cam-keras.lock", live_pid)
    before = tree_hashes(tmp_path)
    assert main(["heatmap", "--model", str(model_file), str(photos), "--out", str(out), "--quiet"]) == 2
    assert f"process {live_pid}" in one_error_line(capsys)
    assert tree_hashes(tmp_path) == before


def test_shards_share_a_folder_but_one_shard_runs_once(tmp_path, model_file, photos, capsys, live_pid):
    out = tmp_path / "out"
    lock_folder(out, ".cam-keras-shard-1-of-2.lock", live_pid)
    args = ["heatmap", "--model", str(model_file), str(photos), "--out", str(out), "--quiet", "--shard"]
    assert main([*args, "2/2"]) == 0  # another shard runs beside it
    capsys.readouterr()
    assert main([*args, "1/2"]) == 2 and f"process {live_pid}" in one_error_line(capsys)
    assert main([*args[:-1], "--resume"]) == 2 and f"process {live_pid}" in one_error_line(capsys)


def test_long_file_names_are_explained_under_unique_short_enough_names(tmp_path, model_file):
    folder = tmp_path / "long"
    folder.mkdir()
    names = ["a" * 236 + ".png", "é" * 123 + ".png", "x" * 250 + ".jpg", "x" * 250 + ".png", "x" * 250 + ".bmp"]
    pixels = np.random.default_rng(0).integers(0, 255, (20, 20, 3), dtype=np.uint8)
    for name in names:
        Image.fromarray(pixels).save(folder / name)
    out = tmp_path / "out"
    assert main(["heatmap", "--model", str(model_file), str(folder), "--out", str(out), "--quiet"]) == 0
    rows = read_rows(out / "predictions.csv")
    outputs = [row["output"] for row in rows]
    assert len(rows) == len(names) and len(set(outputs)) == len(names)
    for output in outputs:
        assert len(output.encode()) <= 255 and (out / output).is_file()
        assert (out / output).with_suffix(".npz").is_file()
    assert "a" * 236 + ".png" in outputs  # a name that fits is kept as it is


def test_a_file_name_that_is_not_utf8_is_explained_and_listed(tmp_path, model_file, photos, capsys):
    odd = os.fsdecode(bytes(photos) + b"/\xff\xfe odd.png")
    (photos / "0.png").rename(odd)
    out = tmp_path / "out"
    assert main(["heatmap", "--model", str(model_file), str(photos), "--out", str(out)]) == 0
    assert "\\udcff\\udcfe odd.png" in capsys.readouterr().out  # escaped on the terminal
    with open(out / "predictions.csv", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        assert odd in [row["path"] for row in csv.DictReader(handle)]
    assert os.path.isfile(os.path.join(out, os.path.basename(odd)))


def test_the_same_input_given_twice_is_explained_and_reported_once(tmp_path, model_file, photos):
    out = tmp_path / "out"
    inputs = [str(photos), str(photos / "1.png"), str(photos / "1.png")]
    assert main(["heatmap", "--model", str(model_file), *inputs, "--out", str(out), "--quiet"]) == 0
    rows = read_rows(out / "predictions.csv")
    assert sorted(row["output"] for row in rows) == ["0.png", "1.png", "2.png"]
    report = json.loads((out / "report.json").read_text())
    assert report["total"] == report["succeeded"] == 3


def test_control_characters_in_class_names_reach_neither_terminal_nor_csv_raw(tmp_path, photos, capsys):
    names = ("cat\nforged: line", "\x1b[31mred", "=1+2")
    model = cam_keras.build_model("small_cnn", class_names=names, input_size=32, base_channels=8)
    model_file = cam_keras.save_model(model, tmp_path / "names.keras")
    out = tmp_path / "out"
    assert main(["heatmap", "--model", str(model_file), str(photos), "--out", str(out), "--top-k", "2"]) == 0
    printed = capsys.readouterr().out
    assert "\x1b[31m" not in printed and "\\x1b[31mred" in printed
    assert not any(line.startswith("forged") for line in printed.splitlines())
    rows = read_rows(out / "predictions.csv")
    assert len(rows) == 3
    assert {rows[0][f"top{r}"] for r in (1, 2, 3)} == {"cat\nforged: line", "\x1b[31mred", "'=1+2"}
    assert all(len(row["explained"].split(";")) == 2 for row in rows)


def test_a_missing_input_stops_the_job_before_the_output_folder_is_made(tmp_path, model_file, photos, capsys):
    out = tmp_path / "out"
    assert main(["heatmap", "--model", str(model_file), str(photos), str(tmp_path / "typo"), "--out", str(out)]) == 2
    assert "typo: no such file or folder" in one_error_line(capsys)
    assert not out.exists()


def heatmap(model_file, inputs, out, *flags) -> int:
    return main(["heatmap", "--model", str(model_file), *map(str, inputs), "--out", str(out), "--quiet", *flags])


def test_a_newline_in_an_input_name_lists_no_other_file_as_cam_keras_own(tmp_path, model_file, photos, capsys):
    """Issue 27.2: an input ``z\\nkeep.png`` listed ``keep.png``; an ``--overwrite`` job then
    replaced the user's ``keep.png``, and the job that wrote ``z\\nkeep.png`` could not resume."""
    (photos / "0.png").rename(photos / "z\nkeep.png")
    out = tmp_path / "out"
    assert heatmap(model_file, [photos], out) == 0
    assert heatmap(model_file, [photos], out, "--resume") == 0
    (out / "keep.png").write_bytes(b"the user's")
    others = tmp_path / "others"
    others.mkdir()
    (photos / "1.png").rename(others / "keep.png")
    before = tree_hashes(out)
    capsys.readouterr()
    assert heatmap(model_file, [others], out, "--overwrite") == 2
    assert "keep.png exists and was not written by cam-keras" in one_error_line(capsys)
    assert tree_hashes(out) == before


def test_a_link_leads_no_output_outside_the_folder_nor_onto_an_input(tmp_path, model_file, photos, capsys):
    """Issue 27.5: through ``out/sub -> ../elsewhere`` outputs were written in ``elsewhere``;
    through ``in/i0.png -> ../out/i0.png`` an input given by its folder was written over."""
    nested, out, elsewhere = tmp_path / "nested", tmp_path / "out", tmp_path / "elsewhere"
    (nested / "sub").mkdir(parents=True)
    (photos / "0.png").rename(nested / "sub" / "i0.png")
    elsewhere.mkdir()
    out.mkdir()
    (out / "sub").symlink_to("../elsewhere")
    assert heatmap(model_file, [nested], out, "--overwrite") == 2
    assert "sub/i0.png would be written outside --out" in one_error_line(capsys)
    assert list(elsewhere.iterdir()) == []

    assert heatmap(model_file, [nested / "sub" / "i0.png"], out, "--overwrite") == 0  # out/i0.png: cam-keras' own
    linked = tmp_path / "in"
    linked.mkdir()
    (linked / "i0.png").symlink_to(out / "i0.png")
    before = tree_hashes(out)
    capsys.readouterr()
    for inputs in ([linked], [linked / "i0.png"]):
        assert heatmap(model_file, inputs, out, "--overwrite") == 2
        assert "i0.png" in one_error_line(capsys)
        assert tree_hashes(out) == before


def test_a_file_in_the_way_of_an_output_folder_stops_the_job_before_it_writes(tmp_path, model_file, photos, capsys):
    """Issue 27.15: a user file ``x`` in ``--out`` and an input ``x/y.png`` stopped the job
    midway with ``[Errno 17] File exists``."""
    nested, out = tmp_path / "nested", tmp_path / "out"
    (nested / "x").mkdir(parents=True)
    (photos / "0.png").rename(nested / "a.png")
    (photos / "1.png").rename(nested / "x" / "y.png")
    out.mkdir()
    (out / "x").write_text("the user's")
    before = tree_hashes(out)
    assert heatmap(model_file, [nested], out, "--overwrite") == 2
    assert f"{out / 'x'} is in the way" in one_error_line(capsys)
    assert tree_hashes(out) == before and sorted(os.listdir(out)) == ["x"]


@pytest.fixture
def unblocker():
    """Opens each named pipe handed to it for writing, then closes it, until the test ends: a
    reader blocked on opening it is released (at end of file) instead of hanging the test."""
    import threading

    pipes, done = [], threading.Event()

    def release() -> None:
        while not done.wait(0.1):
            for pipe in pipes:
                try:
                    os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:  # no reader waits on it
                    pass

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    yield pipes.append
    done.set()
    thread.join()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_pipes_and_devices_are_skipped_as_not_regular_files(tmp_path, model_file, photos, unblocker):
    """Issue: a FIFO named x.png in an input folder hung `heatmap` forever, and /dev/zero given
    as an input was reported as an empty file."""
    os.mkfifo(photos / "x.png")
    unblocker(photos / "x.png")
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(photos / "s.png"))
    listing = tmp_path / "list.txt"
    listing.write_text("/dev/urandom\n")
    out = tmp_path / "out"
    args = ["heatmap", "--model", str(model_file), str(photos), "/dev/zero", "--from-list", str(listing)]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    skipped = {entry["path"]: entry["reason"] for entry in json.loads((out / "report.json").read_text())["skipped"]}
    assert skipped == {
        str(photos / "x.png"): "not a regular file (a named pipe (FIFO)); give image files",
        str(photos / "s.png"): "not a regular file (a socket); give image files",
        "/dev/zero": "not a regular file (a character device); give image files",
        "/dev/urandom": "not a regular file (a character device); give image files",
    }
    assert len(read_rows(out / "predictions.csv")) == 3
    listening.close()


HOSTILE_CELLS = ["cr\rFAKE", "lf\nFAKE", "crlf\r\nFAKE", 'q"uo,te', "=1+2", "+x", "-x", "@x", "'x", "\tx", "\rx"]


def test_hostile_cells_round_trip_through_every_table_writer(tmp_path):
    """Issue 27: a lone CR was written bare (Python's csv with ``\\n`` line ends does not quote
    it), so the row split in two when read back; NUL is written as the text ``\\x00``."""
    from cam_keras.records import write_csv
    from cam_keras.safe_text import from_csv_cell
    from cam_keras.train.rundir import HISTORY_COLUMNS, RunDir, RunState

    cells = [*HOSTILE_CELLS, "nul\0x"]
    table = write_csv(tmp_path / "t.csv", [{"name": cell, "n": -1.5} for cell in cells], ["name", "n"])
    rows = read_rows(table)
    assert [from_csv_cell(row["name"]) for row in rows] == [*HOSTILE_CELLS, "nul\\x00x"]
    assert {row["n"] for row in rows} == {"-1.5"}  # numbers are not guarded
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    run.write_history(RunState(history=[{"epoch": 1, "phase": cell} for cell in HOSTILE_CELLS]))
    assert [from_csv_cell(row["phase"]) for row in read_rows(run.history)] == HOSTILE_CELLS
    assert list(read_rows(run.history)[0]) == list(HISTORY_COLUMNS)


@pytest.mark.slow  # 2 s of the quick run on 2 cores
def test_hostile_class_and_file_names_survive_the_table_resume_and_merge(tmp_path, photos, capsys):
    """Issue 27: class ``cr\\rFAKE`` split its predictions.csv row and ``heatmap`` exited 70;
    ``--resume`` redid ``=evil.png`` because the table holds the guarded ``'=evil.png``."""
    from cam_keras.safe_text import from_csv_cell

    names = ("ok", "cr\rFAKE", "=sum")
    model = cam_keras.build_model("small_cnn", class_names=names, input_size=32, base_channels=8)
    model_file = cam_keras.save_model(model, tmp_path / "names.keras")
    for old, new in zip(sorted(photos.iterdir()), ["=evil.png", "a\rb.png", 'q"u,o.png']):
        old.rename(photos / new)
    out = tmp_path / "out"
    assert heatmap(model_file, [photos], out, "--top-k", "2") == 0
    rows = read_rows(out / "predictions.csv")
    assert sorted(from_csv_cell(row["output"]) for row in rows) == ["=evil.png", "a\rb.png", 'q"u,o.png']
    assert {from_csv_cell(rows[0][f"top{rank}"]) for rank in (1, 2, 3)} == set(names)
    assert heatmap(model_file, [photos], out, "--resume", "--top-k", "2") == 0
    report = json.loads((out / "report.json").read_text())
    assert (report["succeeded"], report["already_done"]) == (0, 3)
    assert read_rows(out / "predictions.csv") == rows
    shards = tmp_path / "shards"
    for index in (1, 2):
        assert heatmap(model_file, [photos], shards, "--top-k", "2", "--shard", f"{index}/2") == 0
    assert heatmap(model_file, [photos], shards, "--top-k", "2", "--shard", "1/2", "--resume") == 0
    assert main(["merge", str(shards)]) == 0
    assert read_rows(shards / "predictions.csv") == rows

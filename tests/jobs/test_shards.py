"""Heatmap jobs past one machine: shards that cover every image once, resume after a kill,
inputs from lists, and merging the shards' tables."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from outputs_helpers import tree_hashes
from PIL import Image

import cam_keras
from cam_keras.cli import main
from cam_keras.jobs.shards import Shard, shards_holding


@pytest.fixture
def photos(tmp_path):
    """Seven images in two folders, one unreadable file."""
    rng = np.random.default_rng(11)
    root = tmp_path / "photos"
    for relative in ["b/1.png", "b/0.png", "a/2.jpg", "a/0.png", "c.png", "a/sub/9.png", "zz.png"]:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (28, 36, 3), dtype=np.uint8)).save(root / relative)
    (root / "a" / "broken.png").write_bytes(b"\x89PNG broken")
    return root


def rows_of(table):
    with open(table, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def heatmap(model_file, out, *extra):
    """One job in this process, rendering in threads: worker processes cost ~0.4 CPU-s a job
    and are tested in test_workers.py and by the kill tests below."""
    args = ["heatmap", "--model", str(model_file), "--out", str(out), "--quiet", "--batch-size", "2"]
    return main([*args, "--workers", "0", *extra])


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 13])
@pytest.mark.parametrize("total", [0, 1, 7, 12])
def test_shards_cover_every_item_exactly_once_in_order(count, total):
    items = list(range(total))
    slices = [Shard(index, count).take(items) for index in range(1, count + 1)]
    assert [item for part in slices for item in part] == items
    assert max(map(len, slices)) - min(map(len, slices)) <= 1


@pytest.mark.slow  # 3 s of the quick run on 2 cores
def test_sharded_job_merges_to_the_table_of_one_job(tmp_path, model_file, photos, capsys):
    whole = tmp_path / "whole"
    assert heatmap(model_file, whole, str(photos)) == 0
    expected = rows_of(whole / "predictions.csv")
    for count in (3, 10):  # 10 shards for 8 files: some shards have no image
        out = tmp_path / f"shards{count}"
        codes = [heatmap(model_file, out, str(photos), "--shard", f"{index}/{count}") for index in range(1, count + 1)]
        assert codes == [0] * count if count == 3 else codes == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]  # 4/10: broken.png only
        assert not (out / "predictions.csv").exists()
        assert main(["merge", str(out)]) == 0
        assert rows_of(out / "predictions.csv") == expected  # every image once, in the order of one job
        report = json.loads((out / "report.json").read_text())
        assert report["total"] == 8 and report["succeeded"] == 7 and report["shards"] == count
        assert [entry["path"] for entry in report["skipped"]] == [str(photos / "a" / "broken.png")]
        assert sorted(p.name for p in out.rglob("*.png")) == sorted(p.name for p in whole.rglob("*.png"))


def test_merge_names_missing_and_unfinished_shards(tmp_path, model_file, photos, capsys):
    out = tmp_path / "out"
    for index in (1, 3):
        assert heatmap(model_file, out, str(photos), "--shard", f"{index}/4") == 0
    report = json.loads((out / "report-3-of-4.json").read_text())
    (out / "report-3-of-4.json").write_text(json.dumps({**report, "finished": False}))  # as a killed shard leaves it
    before = tree_hashes(out)
    capsys.readouterr()
    assert main(["merge", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cam-keras merge: error:") and "shard(s) 2, 3, 4 of 4 missing or unfinished" in err
    assert "with --shard K/4 and --resume into" in err
    assert tree_hashes(out) == before


def test_a_shard_that_already_ran_needs_resume_or_overwrite(tmp_path, model_file, photos, capsys):
    out = tmp_path / "out"
    assert heatmap(model_file, out, str(photos), "--shard", "1/2") == 0
    capsys.readouterr()
    assert heatmap(model_file, out, str(photos), "--shard", "1/2") == 2
    assert "--resume" in capsys.readouterr().err
    assert heatmap(model_file, out, str(photos), "--shard", "1/2", "--resume") == 0
    assert "wrote 0 of 4 heatmaps to" in (printed := capsys.readouterr().out) and "3 already done" in printed


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import cam_keras.render.render_job as jobs
    from cam_keras.cli import main

    real_write_picture, written = jobs.write_picture, []

    def write_then_die(path, image):
        written.append(path)
        if len(written) == int(os.environ["KILL_AT_WRITE"]):
            os.kill(os.getpid(), signal.SIGKILL)
        return real_write_picture(path, image)

    jobs.write_picture = write_then_die  # rendering in this process (--workers 0), so the patch applies
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.slow  # 6 s of the quick run on 2 cores
def test_a_killed_job_resumes_to_the_outputs_of_an_uninterrupted_one(tmp_path, model_file, photos):
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    assert heatmap(model_file, whole, str(photos)) == 0
    args = ["heatmap", "--model", str(model_file), str(photos), "--out", str(resumed), "--quiet", "--batch-size", "2"]
    args += ["--workers", "0"]
    env = {**os.environ, "KILL_AT_WRITE": "5", "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-c", KILLER, *args]
    killed = subprocess.run(command, env=env, capture_output=True, timeout=300, check=False)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    assert (resumed / ".cam-keras.lock").exists()  # left by the killed process
    partial = rows_of(resumed / "predictions.csv")
    assert json.loads((resumed / "report.json").read_text())["finished"] is False
    assert 0 < len(partial) < 7
    (resumed / "a" / ".cam-keras-tmp-0badc0de-0.png").write_bytes(b"half a file")  # as a kill mid-write leaves

    assert heatmap(model_file, resumed, str(photos), "--resume") == 0
    assert rows_of(resumed / "predictions.csv") == rows_of(whole / "predictions.csv")
    report = json.loads((resumed / "report.json").read_text())
    assert report["already_done"] == len(partial) and report["already_done"] + report["succeeded"] == 7
    assert [entry["path"] for entry in report["skipped"]] == [str(photos / "a" / "broken.png")]
    assert not list(resumed.rglob(".cam-keras-tmp-*")) and not (resumed / ".cam-keras.lock").exists()
    files = sorted(str(p.relative_to(whole)) for p in whole.rglob("*") if p.suffix in (".png", ".npz"))
    assert files == sorted(str(p.relative_to(resumed)) for p in resumed.rglob("*") if p.suffix in (".png", ".npz"))
    for name in files:
        if name.endswith(".png"):
            assert (whole / name).read_bytes() == (resumed / name).read_bytes(), name
        else:
            with np.load(whole / name) as first, np.load(resumed / name) as second:
                for key in first.files:
                    np.testing.assert_array_equal(first[key], second[key])


def test_resume_drops_a_row_cut_short_by_a_kill(tmp_path, model_file, photos):
    out = tmp_path / "out"
    assert heatmap(model_file, out, str(photos)) == 0
    complete = (out / "predictions.csv").read_text()
    header, *lines = complete.splitlines(keepends=True)
    (out / "predictions.csv").write_text(header + "".join(lines[:3]) + lines[3][:25])
    assert heatmap(model_file, out, str(photos), "--resume") == 0
    assert (out / "predictions.csv").read_text() == complete


def test_inputs_from_a_list_resolve_against_its_folder_and_missing_ones_are_reported(
    tmp_path, model_file, photos, monkeypatch, capsys
):
    listing = photos / "batch.txt"
    listing.write_text(f"b/0.png\n\n{photos / 'c.png'}\nb/0.png\nnot/here.png\na/2.jpg\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    out = tmp_path / "out"
    assert heatmap(model_file, out, "--from-list", str(listing)) == 0
    rows = rows_of(out / "predictions.csv")
    assert [row["path"] for row in rows] == [str(photos / name) for name in ("a/2.jpg", "b/0.png", "c.png")]
    assert [row["output"] for row in rows] == ["a/2.png", "b/0.png", "c.png"]  # mirrored under the list's folder
    report = json.loads((out / "report.json").read_text())
    assert report["skipped"] == [{"path": str(photos / "not" / "here.png"), "reason": "file not found"}]
    assert "skipped 1" in capsys.readouterr().out

    monkeypatch.setattr(sys, "stdin", io.StringIO("../photos/b/1.png\n"))
    assert heatmap(model_file, tmp_path / "from_stdin", "--from-list", "-") == 0
    from_stdin = rows_of(tmp_path / "from_stdin" / "predictions.csv")
    assert [row["path"] for row in from_stdin] == [str(photos / "b" / "1.png")]


def test_a_list_trims_paths_skips_comments_and_expands_folders(tmp_path, model_file, photos):
    more = tmp_path / "more"
    more.mkdir()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(more / "x.png")
    listing = photos / "batch.txt"
    lines = ["  b/0.png \t", "# not/here.png", "   # an indented comment", "a", "", f" {more} "]
    listing.write_bytes("\r\n".join(lines).encode())  # written on Windows
    out = tmp_path / "out"
    assert heatmap(model_file, out, "--from-list", str(listing)) == 0
    rows = rows_of(out / "predictions.csv")
    listed = ["a/0.png", "a/2.jpg", "a/sub/9.png", "b/0.png"]
    assert [row["path"] for row in rows] == [str(photos / name) for name in listed] + [str(more / "x.png")]
    assert [row["output"] for row in rows] == ["a/0.png", "a/2.png", "a/sub/9.png", "b/0.png", "x.png"]
    report = json.loads((out / "report.json").read_text())
    assert [entry["path"] for entry in report["skipped"]] == [str(photos / "a" / "broken.png")]


def test_resume_and_merge_refuse_a_job_started_with_other_settings(tmp_path, model_file, photos, capsys):
    out = tmp_path / "out"
    assert heatmap(model_file, out, str(photos), "--shard", "1/2") == 0
    assert heatmap(model_file, out, str(photos), "--shard", "2/2", "--top-k", "2") == 0
    before = tree_hashes(out)
    capsys.readouterr()
    assert heatmap(model_file, out, str(photos), "--shard", "1/2", "--resume", "--top-k", "2") == 2
    assert "started with other settings (top_k: 1)" in capsys.readouterr().err
    assert main(["merge", str(out)]) == 2
    assert "shard(s) 2 ran with another model, method or options" in capsys.readouterr().err
    assert tree_hashes(out) == before


@pytest.fixture
def retrained_file(tmp_path, model_file):
    """The same architecture and classes as ``model_file``, other weights (as after retraining)."""
    other = cam_keras.load_model(model_file)
    dense = other.get_layer("cam_logits")
    dense.bias.assign(dense.bias.numpy() + 1.0)
    return cam_keras.save_model(other, tmp_path / "retrained.keras")


def test_resume_refuses_another_model_or_preprocessing_by_name(tmp_path, model_file, retrained_file, photos, capsys):
    """Issue: --resume with another model file mixed two models' rows in predictions.csv."""
    out = tmp_path / "out"
    assert heatmap(model_file, out, str(photos)) == 0
    before = tree_hashes(out)
    capsys.readouterr()
    assert heatmap(retrained_file, out, str(photos), "--resume") == 2
    err = capsys.readouterr().err
    assert "started with other settings (model.weights: '" in err and "preprocessing" not in err
    assert "resume with the same model file and options, or pass --overwrite" in err
    assert heatmap(model_file, out, str(photos), "--resume", "--preprocess", "unit") == 2
    err = capsys.readouterr().err
    assert "(model.preprocessing: 'none')" in err and "weights" not in err
    assert tree_hashes(out) == before
    assert heatmap(model_file, out, str(photos), "--resume") == 0  # the same model still resumes
    assert "wrote 0 of 8 heatmaps" in capsys.readouterr().out


def test_merge_refuses_shards_of_different_models(tmp_path, model_file, retrained_file, photos, capsys):
    out = tmp_path / "out"
    assert heatmap(model_file, out, str(photos), "--shard", "1/2") == 0
    assert heatmap(retrained_file, out, str(photos), "--shard", "2/2") == 0
    before = tree_hashes(out)
    capsys.readouterr()
    assert main(["merge", str(out)]) == 2
    err = capsys.readouterr().err
    assert "shard(s) 2 ran with another model, method or options than shard 1 (shard 1 had model.weights: '" in err
    assert tree_hashes(out) == before and not (out / "predictions.csv").exists()


def children_of(pid: int) -> set[int]:
    """The live processes whose parent is ``pid``, from /proc."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = open(f"/proc/{entry}/status").read()
            except OSError:  # gone meanwhile
                continue
            if f"\nPPid:\t{pid}\n" in status and "State:\tZ" not in status:
                found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by its new parent, does not)."""
    try:
        return "State:\tZ" not in open(f"/proc/{pid}/status").read()
    except OSError:
        return False


def start_long_job(tmp_path, model_file) -> tuple[subprocess.Popen, Path]:
    """`cam-keras heatmap` on 300 small photos with 600 px overlays and two render workers, in
    a session of its own (as a terminal runs it); the job and its output folder."""
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for index in range(300):
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(photos / f"{index:03d}.png")
    out = tmp_path / "out"
    args = ["heatmap", "--model", str(model_file), str(photos), "--out", str(out), "--size", "600", "--workers", "2"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    job = subprocess.Popen(
        [sys.executable, "-m", "cam_keras.cli", *args, "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return job, out


def end_all(job: subprocess.Popen, workers: set[int]) -> None:
    """Kill a test's job and its workers if they still run."""
    job.kill()
    for pid in workers:
        if alive(pid):
            os.kill(pid, 9)


def wait_until_gone(pids: set[int]) -> list[int]:
    """The processes of ``pids`` still alive after up to 5 s."""
    for _ in range(50):
        if not any(map(alive, pids)):
            break
        time.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


@pytest.mark.skipif(sys.platform != "linux", reason="finds the workers in /proc")
@pytest.mark.slow  # cam-keras heatmap in a fresh process with two render workers, until stopped
def test_render_workers_die_with_a_killed_job(tmp_path, model_file):
    """Issue: after SIGKILL of `cam-keras heatmap` its render workers lived on (parent pid 1,
    270 MB each) and a caller reading the job's stdout waited for them forever."""
    job, out = start_long_job(tmp_path, model_file)
    workers: set[int] = set()
    try:
        while job.poll() is None and not (len(workers) == 2 and any(out.glob("*.png"))):
            time.sleep(0.05)
            workers = children_of(job.pid)
        assert job.poll() is None and len(workers) == 2, "the job ended before it could be killed mid-way"
        assert not json.loads((out / "report.json").read_text())["finished"]
        job.kill()
        job.communicate(timeout=30)  # end of file on its pipes: no worker holds them open any more
        assert not wait_until_gone(workers)  # end of file on their input ends them
    finally:
        end_all(job, workers)


@pytest.mark.skipif(sys.platform != "linux", reason="finds the workers in /proc")
@pytest.mark.slow  # cam-keras heatmap in a fresh process with two render workers, until stopped
def test_ctrl_c_as_the_workers_start_stops_the_job_quietly(tmp_path, model_file):
    """Issue: Ctrl-C (SIGINT to the terminal's whole foreground group) while the render workers
    were starting printed their KeyboardInterrupt tracebacks, and one that came while the pool
    started left report.json saying neither finished nor interrupted."""
    job, out = start_long_job(tmp_path, model_file)
    workers: set[int] = set()
    try:
        while job.poll() is None and len(workers) < 2:
            workers = children_of(job.pid)
        os.killpg(job.pid, signal.SIGINT)
        _, errors = job.communicate(timeout=60)
        assert job.returncode == 130
        assert "Traceback" not in errors
        assert errors.strip().endswith("interrupted; files written so far are complete")
        report = json.loads((out / "report.json").read_text())
        assert report["interrupted"] and not report["finished"] and report["error"] is None
        assert not wait_until_gone(workers)
    finally:
        end_all(job, workers)


@pytest.mark.slow  # about 2 s of the quick run on 2 cores
def test_shards_over_a_changed_input_set_are_refused_by_resume_and_merge(tmp_path, model_file, photos, capsys):
    """Issue: shard 1/2 over 40 images, 10 images added, shard 2/2, then `merge` exited 0 with
    duplicate rows and missing images."""
    out = tmp_path / "out"
    assert heatmap(model_file, out, str(photos), "--shard", "1/2") == 0
    for name in ("d.png", "e.png"):
        Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(photos / name)
    assert heatmap(model_file, out, str(photos), "--shard", "2/2") == 0
    before = tree_hashes(out)
    err = refused_merge(out, capsys)
    assert "shard(s) 2 ran over another input set than shard 1 (10 images where it had 8)" in err
    assert heatmap(model_file, out, str(photos), "--shard", "1/2", "--resume") == 2
    assert "inputs of the job in" in (err := capsys.readouterr().err) and "(10 images where it had 8)" in err
    for name in ("d.png", "e.png"):
        (photos / name).unlink()
    (photos / "c.png").rename(photos / "f.png")  # as many images as shard 1 saw, but not the same ones
    assert heatmap(model_file, out, str(photos), "--shard", "1/2", "--resume") == 2
    assert "the same number of images (8) but other files" in capsys.readouterr().err
    assert tree_hashes(out) == before and not (out / "predictions.csv").exists()


def refused_merge(out: Path, capsys) -> str:
    """The error of a `merge` of ``out`` that must be refused and leave it as it was."""
    before = tree_hashes(out)
    capsys.readouterr()
    assert main(["merge", str(out)]) == 2
    assert tree_hashes(out) == before and not (out / "predictions.csv").exists()
    return capsys.readouterr().err


@pytest.mark.slow  # about 2 s of the quick run on 2 cores
def test_resume_keeps_the_jobs_identity_when_its_report_is_lost(tmp_path, model_file, photos, capsys):
    """Issue: with report.json missing or corrupt, a resume with another --alpha or model
    proceeded and the folder held two jobs' outputs."""
    out = tmp_path / "out"
    assert heatmap(model_file, out, str(photos)) == 0
    (out / "report.json").unlink()
    before = tree_hashes(out)
    capsys.readouterr()
    assert heatmap(model_file, out, str(photos), "--resume", "--alpha", "0.3") == 2
    assert "started with other settings (alpha: 0.5)" in capsys.readouterr().err
    (out / "report.json").write_text("{not json")
    assert heatmap(model_file, out, str(photos), "--resume", "--alpha", "0.3") == 2
    assert "(alpha: 0.5)" in capsys.readouterr().err
    (out / "job.json").unlink()
    assert heatmap(model_file, out, str(photos), "--resume") == 2
    err = capsys.readouterr().err
    assert "cannot tell which model, settings and inputs the job in" in err
    assert "report.json is unreadable (JSONDecodeError" in err and "job.json is missing" in err
    after = tree_hashes(out)
    assert after == {
        **{name: value for name, value in before.items() if name != "job.json"},
        "report.json": after["report.json"],
    }


def test_a_lost_report_alone_does_not_stop_a_resume(tmp_path, model_file, photos, capsys):
    out = tmp_path / "out"
    assert heatmap(model_file, out, str(photos)) == 0
    (out / "report.json").write_text("[]")
    capsys.readouterr()
    assert heatmap(model_file, out, str(photos), "--resume") == 0
    assert "wrote 0 of 8 heatmaps" in capsys.readouterr().out
    assert json.loads((out / "report.json").read_text())["already_done"] == 7


@pytest.mark.parametrize(
    "corrupt, named",
    [
        (
            lambda report: {key: value for key, value in report.items() if key != "total"},
            "total is None, expected a count",
        ),
        (lambda report: [report], "a JSON list, not an object"),
        (lambda report: {**report, "succeeded": "7"}, "succeeded is '7', expected a count"),
        (lambda report: {**report, "job": {**report["job"], "inputs": None}}, "job.inputs is None"),
    ],
)
def test_merge_names_a_corrupt_shard_report(tmp_path, model_file, photos, capsys, corrupt, named):
    """Issue: a shard report without `total` stopped merge with a KeyError traceback."""
    out = tmp_path / "out"
    for index in (1, 2):
        assert heatmap(model_file, out, str(photos), "--shard", f"{index}/2") == 0
    path = out / "report-2-of-2.json"
    path.write_text(json.dumps(corrupt(json.loads(path.read_text()))))
    err = refused_merge(out, capsys).strip()
    assert len(err.splitlines()) == 1 and f"{path}: not a cam-keras report ({named}" in err


def test_merge_checks_each_tables_rows_against_its_report(tmp_path, model_file, photos, capsys):
    out = tmp_path / "out"
    for index in (1, 2):
        assert heatmap(model_file, out, str(photos), "--shard", f"{index}/2") == 0
    table = out / "predictions-1-of-2.csv"
    lines = table.read_text().splitlines(keepends=True)
    table.write_text("".join([*lines, lines[-1]]))  # a row twice
    assert f"{table}: 4 rows where its report counts 3 images" in refused_merge(out, capsys)


@pytest.mark.slow  # 3 s of the quick run on 2 cores
def test_merge_work_grows_with_the_inputs_not_the_shard_count(tmp_path, model_file, photos, capsys):
    """Issue: a stray report-1-of-<huge>.json (or --shard 1/<huge>) made merge grow past 3 GB."""
    out = tmp_path / "out"
    count = 2_000_000_000
    assert heatmap(model_file, out, str(photos), "--shard", f"1/{count}") == 0
    assert "shard 1/2000000000 has no images" in capsys.readouterr().out
    started = time.monotonic()
    assert main(["merge", str(out)]) == 2
    err = capsys.readouterr().err
    assert time.monotonic() - started < 5
    holding = [-(-(item + 1) * count // 8) for item in range(8)]  # the 8 shards that hold an image
    assert f"shard(s) {', '.join(map(str, holding))} of {count} missing or unfinished" in err
    for index in holding:
        assert heatmap(model_file, out, str(photos), "--shard", f"{index}/{count}") in (0, 1)  # 1: broken.png
    assert main(["merge", str(out)]) == 0
    whole = tmp_path / "whole"
    assert heatmap(model_file, whole, str(photos)) == 0
    assert rows_of(out / "predictions.csv") == rows_of(whole / "predictions.csv")


def test_merge_names_the_missing_shards_that_hold_inputs(tmp_path, model_file, photos, capsys):
    out = tmp_path / "out"
    assert heatmap(model_file, out, str(photos), "--shard", "1/8") == 0
    capsys.readouterr()
    assert main(["merge", str(out)]) == 2
    assert "shard(s) 2, 3, 4, 5, 6, 7, 8 of 8 missing" in capsys.readouterr().err
    assert [shard.index for shard in shards_holding(3, 1000)] == [334, 667, 1000]
    assert len(shards_holding(5, 5)) == 5 and shards_holding(0, 7) == []


def test_a_resumed_job_writes_its_table_in_the_order_of_an_uninterrupted_one(tmp_path, model_file, photos):
    """Issue: an image redone by --resume had its row appended after the rows kept, out of order."""
    out = tmp_path / "out"
    assert heatmap(model_file, out, str(photos)) == 0
    expected = rows_of(out / "predictions.csv")
    (out / "a" / "2.npz").unlink()  # the second image's outputs are incomplete: it is redone
    table = out / "predictions.csv"
    header, *lines = table.read_text().splitlines(keepends=True)
    table.write_text(header + "".join([*lines, lines[-1]]))  # and a row given twice is kept once
    assert heatmap(model_file, out, str(photos), "--resume") == 0
    assert rows_of(table) == expected
    report = json.loads((out / "report.json").read_text())
    assert (report["already_done"], report["succeeded"]) == (6, 1)


def test_resume_names_an_edited_probability_before_any_work(tmp_path, model_file, photos, capsys):
    """Issue: a probability cell edited to `abc`, then --resume: exit 2 at the end, naming no file."""
    out = tmp_path / "out"
    assert heatmap(model_file, out, str(photos)) == 0
    table = out / "predictions.csv"
    rows = rows_of(table)
    rows[1]["top1_prob"] = "abc"
    with open(table, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    (out / rows[0]["output"]).unlink()  # work the resume would do
    before = tree_hashes(out)
    capsys.readouterr()
    assert heatmap(model_file, out, str(photos), "--resume") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"cam-keras heatmap: error: {table} line 3: top1_prob = 'abc' is not a probability from 0 to 1; delete "
        "that line to redo its image, or pass --overwrite to start again"
    ]
    assert tree_hashes(out) == before


@pytest.mark.skipif(sys.platform != "linux", reason="finds the workers in /proc")
@pytest.mark.slow  # cam-keras heatmap in a fresh process with two render workers, until stopped
def test_sigterm_stops_the_job_as_ctrl_c_does(tmp_path, model_file):
    """Issue: SIGTERM (Slurm preemption) left report.json at `succeeded: 0, interrupted: false`
    with 14 rows done."""
    job, out = start_long_job(tmp_path, model_file)
    workers: set[int] = set()
    try:
        while job.poll() is None and not (
            (out / "predictions.csv").exists() and len(rows_of(out / "predictions.csv")) >= 3
        ):
            time.sleep(0.05)
            workers |= children_of(job.pid)
        for pid in [job.pid, *workers]:  # as Slurm does: every process of the job
            os.kill(pid, signal.SIGTERM)
        _, errors = job.communicate(timeout=60)
        assert job.returncode == 143, errors[-2000:]
        assert "Traceback" not in errors
        assert errors.strip().endswith("terminated (SIGTERM); files written so far are complete")
        report = json.loads((out / "report.json").read_text())
        assert report["interrupted"] and not report["finished"] and report["error"] is None
        rows = rows_of(out / "predictions.csv")
        assert report["succeeded"] == len(rows) >= 3
        assert all((out / row["output"]).is_file() for row in rows)
        assert not wait_until_gone(workers)
    finally:
        end_all(job, workers)


def test_a_shard_does_not_redo_the_files_of_an_earlier_job_without_overwrite(tmp_path, model_file, photos, capsys):
    """Review: a shard opens its shared folder as a resume does, so `--shard 1/2` after a whole
    job in the same folder replaced that job's overlays without --overwrite, leaving its
    predictions.csv and report.json describing other pictures."""
    out = tmp_path / "out"
    assert heatmap(model_file, out, str(photos)) == 0
    before = tree_hashes(out)
    capsys.readouterr()
    assert heatmap(model_file, out, str(photos), "--shard", "1/2") == 2
    assert "was already written by a job in" in capsys.readouterr().err
    assert tree_hashes(out) == before
    assert heatmap(model_file, out, str(photos), "--shard", "1/2", "--overwrite") == 0


def test_a_numpy_class_index_is_a_class_index(tmp_path, tiny_model, photos):
    """Review: HeatmapOptions accepts numpy integers as a class, but the job's identity could
    not be written as JSON: a TypeError traceback once the folder was locked."""
    options = cam_keras.HeatmapOptions(classes=np.int64(1), batch_size=2)
    report = cam_keras.write_heatmaps(cam_keras.CAM(tiny_model), [photos], tmp_path / "out", options, progress=False)
    assert report.succeeded == report.total - len(report.skipped) > 0
    assert {row["explained"] for row in rows_of(tmp_path / "out" / "predictions.csv")} == {"square"}

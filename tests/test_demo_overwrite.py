"""`cam-keras demo --overwrite` replaces the demo's own files and nothing else, even in the
current folder, and re-runs over an earlier demo."""

from __future__ import annotations

import json

import pytest
from outputs_helpers import tree_hashes

from cam_keras.cli import main


@pytest.mark.slow
def test_demo_overwrite_in_the_current_folder_keeps_user_files(tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    (work / "mine").mkdir(parents=True)
    (work / "notes.txt").write_text("keep me")
    (work / "mine" / "data.csv").write_text("1,2\n")
    monkeypatch.chdir(work)
    users = tree_hashes(work)

    assert main(["demo", "--quick", "--out", "."]) == 2  # not empty: nothing happens without --overwrite
    assert "--overwrite" in capsys.readouterr().err and tree_hashes(work) == users

    for _ in range(2):  # first over the user's files, then over the earlier demo
        assert main(["demo", "--quick", "--out", ".", "--overwrite"]) == 0
        now = tree_hashes(work)
        assert {name: now[name] for name in users} == users
        assert (work / "run" / "model.keras").is_file()
        assert json.loads((work / "report.json").read_text())["top1_cls"] >= 0
        assert not list(work.glob(".cam-keras-tmp-*"))

    (work / "data" / "train" / "circle" / "stray.png").write_bytes(b"a user's file inside the demo's data")
    before = tree_hashes(work)
    capsys.readouterr()
    assert main(["demo", "--quick", "--out", ".", "--overwrite"]) == 2
    assert "stray.png was not written by cam-keras demo" in capsys.readouterr().err
    assert tree_hashes(work) == before

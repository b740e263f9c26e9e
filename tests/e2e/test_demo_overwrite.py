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


def test_only_the_demos_own_staging_folders_are_removed_and_only_once_it_is_accepted(tmp_path, monkeypatch):
    """Issue 27.3: ``demo --out . --overwrite`` deleted a user folder ``.cam-keras-tmp-myproject/``
    with its contents, even when the demo was then refused."""
    from cam_keras import demo
    from cam_keras.atomic import TEMP_PREFIX, temp_name
    from cam_keras.errors import OutputFolderError

    work = tmp_path / "work"
    users = work / f"{TEMP_PREFIX}myproject"
    users.mkdir(parents=True)
    (users / "notes.txt").write_text("the user's")
    stale = work / temp_name("stage-run")  # a killed demo's staging folder
    (stale / "checkpoints").mkdir(parents=True)
    (work / "data" / "train").mkdir(parents=True)
    (work / "data" / "train" / "stray.png").write_bytes(b"a user's file inside the demo's data")
    with pytest.raises(OutputFolderError, match="stray.png was not written by cam-keras demo"):
        demo.run_demo(work, overwrite=True)
    assert stale.is_dir() and (users / "notes.txt").read_text() == "the user's"  # refused: nothing removed

    (work / "data" / "train" / "stray.png").unlink()
    monkeypatch.setattr(demo, "_run_stages", lambda *args: {})  # accepted; the stages themselves are tested above
    assert demo.run_demo(work, overwrite=True) == {}
    assert not stale.exists() and (users / "notes.txt").read_text() == "the user's"

"""Output names that mirror input paths, stay inside the output folder and never collide."""

from pathlib import Path

from cam_keras.naming import output_names


def test_output_names_never_escape_or_collide(tmp_path):
    root = tmp_path / "in"
    paths = [root / "a" / "x.jpg", root / "b" / "x.jpg", root / "a" / "x.png", root / "a" / "X.JPG"]
    names = output_names(paths, [root] * 4)
    stems = [str(names[p]) for p in paths]
    assert stems == ["a/x", "b/x", "a/x_png", "a/X_jpg"]
    assert all(".." not in s and not Path(s).is_absolute() for s in stems)
    single = output_names([tmp_path / "up" / "y.jpg"], [tmp_path / "up" / "y.jpg"])
    assert str(single[tmp_path / "up" / "y.jpg"]) == "y"

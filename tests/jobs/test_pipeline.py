"""Heatmap jobs against bad inputs, interruptions and failing disks: clear messages, nothing
written is lost."""

import errno
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cam_keras
from cam_keras.cli import main
from cam_keras.jobs import HeatmapOptions, write_heatmaps


@pytest.fixture
def photo_dir(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(6):
        Image.fromarray(rng.integers(0, 255, (24, 30, 3), dtype=np.uint8)).save(folder / f"{index}.png")
    return folder


def test_interrupted_heatmap_job_keeps_finished_files_and_reports(tmp_path, tiny_model, photo_dir):
    explainer = cam_keras.CAM(tiny_model)
    calls = {"n": 0}
    original = explainer.explain_batch

    def interrupt_second_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    explainer.explain_batch = interrupt_second_batch
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        write_heatmaps(explainer, [photo_dir], out, HeatmapOptions(batch_size=2), progress=False)
    report = json.loads((out / "report.json").read_text())
    assert report["interrupted"] and report["succeeded"] == 2
    for name in ["0", "1"]:
        assert Image.open(out / f"{name}.png").size[1] > 24  # complete, decodable PNGs
        np.load(out / f"{name}.npz")["raw_maps"]
    assert not list(out.glob(".tmp-*"))


def test_disk_full_stops_with_a_report_and_clear_exit(tmp_path, tiny_model, photo_dir, monkeypatch, capsys):
    model_file = cam_keras.save_model(tiny_model, tmp_path / "m.keras")
    import cam_keras.render.render_job as jobs

    written = {"n": 0}
    real_write_png = jobs.write_picture

    def fill_up(path, image):
        written["n"] += 1
        if written["n"] > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_png(path, image)

    monkeypatch.setattr(jobs, "write_picture", fill_up)
    out = tmp_path / "out"
    args = ["heatmap", "--model", str(model_file), str(photo_dir), "--out", str(out), "--quiet", "--batch-size", "2"]
    code = main([*args, "--workers", "0"])  # render threads share the patched writer and its count
    assert code == 1
    assert "No space left on device" in capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert "No space left" in report["error"]
    assert len(list(out.glob("*.png"))) == 3
    assert not list(out.glob(".tmp-*"))


def write_corpus(folder: Path) -> dict[str, tuple[int, int] | None]:
    """Every odd input the issue lists; value: expected (height, width) or None if skipped."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    expected: dict[str, tuple[int, int] | None] = {}

    def save(name, image, size, **kwargs):
        image.save(folder / name, **kwargs)
        expected[name] = size

    save("gray.png", Image.fromarray(pixels[..., 0]), (20, 30))
    save("palette.png", Image.fromarray(pixels).convert("P"), (20, 30))
    save("rgba.png", Image.fromarray(np.dstack([pixels, np.full((20, 30), 128, np.uint8)]), "RGBA"), (20, 30))
    save("cmyk.jpg", Image.fromarray(pixels).convert("CMYK"), (20, 30))
    save("deep.png", Image.fromarray(pixels[..., 0].astype(np.uint16) * 257), (20, 30))
    rotated = Image.fromarray(pixels)
    exif = rotated.getexif()
    exif[0x0112] = 6
    save("rotated.jpg", rotated, (30, 20), exif=exif)
    frames = [Image.fromarray(pixels), Image.fromarray(255 - pixels)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:])
    expected["anim.gif"] = (20, 30)
    save("one.png", Image.fromarray(pixels[:1, :1]), (1, 1))
    save("thin.png", Image.fromarray(pixels[:1]), (1, 30))
    (folder / "zero.jpg").write_bytes(b"")
    expected["zero.jpg"] = None
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG")
    (folder / "truncated.jpg").write_bytes(buffer.getvalue()[:100])
    expected["truncated.jpg"] = None
    (folder / "fake.png").write_text("this is text")
    expected["fake.png"] = None
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "notes.txt").write_text("not an image")
    return expected


def test_bad_input_corpus_through_heatmap(tmp_path, tiny_model):
    expected = write_corpus(tmp_path / "corpus")
    model_file = cam_keras.save_model(tiny_model, tmp_path / "m.keras")
    out = tmp_path / "out"
    assert main(["heatmap", "--model", str(model_file), str(tmp_path / "corpus"), "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    skipped = sorted(Path(entry["path"]).name for entry in report["skipped"])
    assert skipped == sorted(name for name, size in expected.items() if size is None)
    for name, size in expected.items():
        if size is not None:
            with np.load(out / f"{Path(name).stem}.npz") as arrays:
                assert tuple(arrays["image_size"]) == size, name
    assert (
        main(
            [
                "heatmap",
                "--model",
                str(model_file),
                str(tmp_path / "corpus"),
                "--out",
                str(out),
                "--quiet",
                "--overwrite",
                "--strict",
            ]
        )
        == 1
    )

"""A heatmap job's gallery: a thumbnail per image written with its overlay, the data file's
records from predictions.csv, resume redrawing a missing thumbnail, merge writing a sharded
job's page, and `cam-keras gallery DIR`."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path, PurePath

import pytest
from PIL import Image

import cam_keras
from cam_keras.cli import main
from cam_keras.errors import UsageError
from cam_keras.jobs.shards import Shard

PREFIX = "window.CAM_KERAS_GALLERY = "


def gallery_data(folder: Path) -> dict:
    source = (folder / "gallery-data.js").read_text(encoding="ascii")
    assert source.startswith(PREFIX) and source.endswith(";\n")
    return json.loads(source[len(PREFIX) : -2])


def table(folder: Path) -> list[dict]:
    with open(folder / "predictions.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def run_job(model, inputs, out: Path, **settings) -> cam_keras.HeatmapReport:
    options = cam_keras.HeatmapOptions(workers=0, array_format=None, **settings.pop("options", {}))
    return cam_keras.write_heatmaps(cam_keras.CAM(model), inputs, out, options, progress=False, **settings)


@pytest.fixture(scope="module")
def job(tiny_model, shapes_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gallery-job") / "maps"
    run_job(tiny_model, [shapes_dir], out, options={"top_k": 2})
    return out


def test_every_image_has_a_bounded_thumbnail_and_a_record_as_its_table_row_says(job, shapes_dir):
    rows, data = table(job), gallery_data(job)
    assert len(rows) == len(data["items"]) == 48
    assert data["classes"] == ["circle", "square", "triangle"]
    for row, item in zip(rows, data["items"]):
        stem = PurePath(row["output"]).with_suffix("").as_posix()
        name, path, thumbnail, overlay, _, true_class, classes, probabilities = item[:8]
        assert (name, path, thumbnail, overlay) == (stem, row["path"], f".thumbnails/{stem}.jpg", row["output"])
        assert true_class == data["classes"].index(PurePath(row["path"]).parent.name)
        assert [data["classes"][c] for c in classes] == [row[f"top{r}"] for r in (1, 2, 3)]
        assert probabilities == [float(row[f"top{r}_prob"]) for r in (1, 2, 3)]
        with Image.open(job / thumbnail) as picture, Image.open(row["path"]) as original:
            assert picture.format == "JPEG" and picture.size == original.size  # 32 px: never enlarged
    assert (job / "gallery.html").is_file()


def test_resume_redraws_a_missing_thumbnail_and_only_that_image(tiny_model, shapes_dir, tmp_path):
    out = tmp_path / "maps"
    run_job(tiny_model, [shapes_dir], out)
    lost = out / ".thumbnails" / "circle" / sorted(p.name for p in (shapes_dir / "circle").iterdir())[0]
    lost = lost.with_suffix(".jpg")
    lost.unlink()
    report = run_job(tiny_model, [shapes_dir], out, resume=True)
    assert lost.is_file() and report.succeeded == 1 and report.already_done == 47


def test_without_gallery_no_thumbnails_and_a_later_gallery_shows_the_overlays(tiny_model, shapes_dir, tmp_path, caplog):
    out = tmp_path / "maps"
    run_job(tiny_model, [shapes_dir], out, options={"gallery": False})
    assert not (out / ".thumbnails").exists() and not (out / "gallery.html").exists()
    with caplog.at_level(logging.WARNING):
        page = cam_keras.write_gallery(out)
    assert page == out / "gallery.html" and "gallery=False" in caplog.text
    assert [item[2] for item in gallery_data(out)["items"]] == [row["output"] for row in table(out)]


def test_a_sharded_job_gets_its_gallery_when_merged(tiny_model, shapes_dir, tmp_path):
    out = tmp_path / "maps"
    for index in (1, 2):
        run_job(tiny_model, [shapes_dir], out, shard=Shard(index, 2))
    assert not (out / "gallery.html").exists()
    with pytest.raises(UsageError, match="cam-keras merge"):
        cam_keras.write_gallery(out)
    cam_keras.merge_shards(out)
    assert [item[0] for item in gallery_data(out)["items"]] == [
        PurePath(row["output"]).with_suffix("").as_posix() for row in table(out)
    ]


def test_the_gallery_command_rewrites_a_job_gallery_and_refuses_other_folders(job, tmp_path, capsys):
    before = (job / "gallery-data.js").read_bytes()
    assert main(["gallery", str(job)]) == 0
    assert (job / "gallery-data.js").read_bytes() == before
    assert capsys.readouterr().out == f"gallery: {job / 'gallery.html'}\n"
    assert main(["gallery", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no report.json" in err


def test_a_gallery_html_of_the_users_stops_the_job_before_any_work(tiny_model, shapes_dir, tmp_path):
    out = tmp_path / "maps"
    out.mkdir()
    (out / "gallery.html").write_text("my own page")
    with pytest.raises(cam_keras.CamKerasError, match="gallery.html"):
        run_job(tiny_model, [shapes_dir], out, overwrite=True)
    assert not list(out.rglob("*.png")) and not (out / ".thumbnails").exists()
    assert (out / "gallery.html").read_text() == "my own page"


def test_a_class_name_the_table_spells_otherwise_is_still_found(tmp_path):
    names = ("nul\x00byte", "=formula", "plain")  # predictions.csv holds `\x00` for NUL and guards `=`
    model = cam_keras.build_model("small_cnn", class_names=names, input_size=16, base_channels=4)
    model.get_layer("cam_logits").bias.assign([9.0, 3.0, 0.0])
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(2):
        Image.new("RGB", (16, 16), (60 * index, 90, 30)).save(photos / f"{index}.png")
    run_job(model, [photos], tmp_path / "maps")
    data = gallery_data(tmp_path / "maps")
    assert data["classes"] == list(names)
    assert [item[6][:2] for item in data["items"]] == [[0, 1], [0, 1]]

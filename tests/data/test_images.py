"""The one decoder: odd formats become RGB uint8, bad files raise ImageError naming the file."""

import io
import random

import numpy as np
import pytest
from PIL import ExifTags, Image

from cam_keras.data.images import decode_image, find_images, load_image
from cam_keras.data.resize import fit_image
from cam_keras.errors import ImageError


def save(path, image, **kwargs):
    image.save(path, **kwargs)
    return path


def test_grayscale_becomes_three_equal_channels(tmp_path):
    path = save(tmp_path / "g.png", Image.fromarray(np.full((5, 7), 90, np.uint8), mode="L"))
    array = load_image(path)
    assert array.shape == (5, 7, 3) and array.dtype == np.uint8
    assert (array == 90).all()


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :2, 3] = 255  # left half opaque red, right half transparent
    array = load_image(save(tmp_path / "a.png", Image.fromarray(rgba, mode="RGBA")))
    assert tuple(array[0, 0]) == (255, 0, 0)
    assert tuple(array[0, 3]) == (255, 255, 255)


def test_palette_image_keeps_its_colors(tmp_path):
    image = Image.fromarray(np.full((3, 3, 3), (10, 200, 30), np.uint8)).convert("P", palette=Image.Palette.ADAPTIVE)
    assert tuple(load_image(save(tmp_path / "p.gif", image))[1, 1]) == pytest.approx((10, 200, 30), abs=8)


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    image = Image.new("CMYK", (6, 6), (0, 255, 255, 0))  # pure red in CMYK
    array = load_image(save(tmp_path / "c.jpg", image))
    assert array.shape == (6, 6, 3)
    assert array[3, 3, 0] > 200 and array[3, 3, 1] < 60


def test_sixteen_bit_png_is_scaled_to_eight_bits(tmp_path):
    image = Image.fromarray(np.full((4, 4), 65535, np.uint16))
    array = load_image(save(tmp_path / "d.png", image))
    assert (array == 255).all()


def test_sixteen_bit_scale_does_not_depend_on_the_picture(tmp_path):
    # 16-bit files mean 0..65535; one brighter pixel must not change how the others decode
    dark = np.full((4, 4), 200, np.uint16)
    with_bright_pixel = dark.copy()
    with_bright_pixel[0, 0] = 256
    ramp = np.array([[0, 128, 200, 257], [32768, 40000, 65534, 65535]], np.uint16)
    for name, values in [("dark", dark), ("bright", with_bright_pixel), ("ramp", ramp)]:
        decoded = load_image(save(tmp_path / f"{name}.png", Image.fromarray(values)))
        assert Image.open(tmp_path / f"{name}.png").mode == "I;16"
        expected = np.floor(values.astype(np.float64) / 257 + 0.5)  # 65535 / 255 = 257 exactly
        np.testing.assert_array_equal(decoded[..., 0], expected)
        assert (decoded == decoded[..., :1]).all()
    assert load_image(tmp_path / "dark.png")[1, 1, 0] == load_image(tmp_path / "bright.png")[1, 1, 0] == 1


def test_sixteen_bit_scale_survives_a_reduced_decode(tmp_path):
    values = np.full((64, 64), 200, np.uint16)
    values[0, 0] = 256
    decoded = decode_image(save(tmp_path / "d.png", Image.fromarray(values)), at_least=(16, 16))
    assert decoded.pixels.shape == (16, 16, 3) and (decoded.pixels[1:, 1:] == 1).all()


@pytest.mark.parametrize("values", [[[0, 128, 255]], [[0, 257, 200], [32768, 65535, 1000]]])
def test_thirty_two_bit_integer_tiff_within_sixteen_bits_decodes_like_sixteen_bit(tmp_path, values):
    values = np.array(values, np.int32)
    path = save(tmp_path / "i.tif", Image.fromarray(values, mode="I"))
    assert Image.open(path).mode == "I"
    np.testing.assert_array_equal(load_image(path)[..., 0], np.floor(values / 257 + 0.5))


@pytest.mark.parametrize("values", [[[0, 70000]], [[-5, 100]]])
def test_thirty_two_bit_integer_tiff_beyond_sixteen_bits_is_refused(tmp_path, values):
    path = save(tmp_path / "wide.tif", Image.fromarray(np.array(values, np.int32), mode="I"))
    with pytest.raises(ImageError, match="32-bit integer image with values .* outside the 16-bit range") as caught:
        load_image(path)
    assert caught.value.path == str(path)


def test_float_tiff_is_refused_not_decoded_black(tmp_path):
    path = save(tmp_path / "f.tif", Image.fromarray(np.full((4, 4), 0.5, np.float32), mode="F"))
    assert Image.open(path).mode == "F"
    with pytest.raises(ImageError, match="32-bit float image: save it as 8- or 16-bit") as caught:
        load_image(path)
    assert caught.value.path == str(path)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(np.zeros((10, 20, 3), np.uint8))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    array = load_image(save(tmp_path / "r.jpg", image, exif=exif))
    assert array.shape == (20, 10, 3)


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (4, 4), color) for color in [(255, 0, 0), (0, 0, 255)]]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    array = load_image(path)
    assert array[0, 0, 0] > 200 and array[0, 0, 2] < 50


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty file"),
        (b"hello, not an image", "not a readable image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not a readable image"),
    ],
)
def test_bad_files_raise_image_error_with_the_path(tmp_path, content, reason):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=reason) as caught:
        load_image(path)
    assert caught.value.path == str(path)


def test_truncated_jpeg_is_an_image_error(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError):
        load_image(path)


def test_pixel_limit_refuses_huge_images(tmp_path):
    path = save(tmp_path / "big.png", Image.new("RGB", (100, 100)))
    with pytest.raises(ImageError, match="exceeds the limit") as caught:
        load_image(path, max_pixels=5_000)
    assert "save a downscaled copy" in caught.value.reason and "raise max_pixels" not in caught.value.reason


def test_find_images_recurses_and_skips_hidden_and_non_images(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for name in ["a/x.jpg", "a/b/y.PNG", ".hidden/z.jpg", "a/.DS_Store", "a/notes.txt", "a/._x.jpg"]:
        (tmp_path / name).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in find_images([tmp_path])]
    assert found == ["a/x.jpg", "a/b/y.PNG"]


def test_find_images_survives_a_symlink_loop(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.jpg").write_bytes(b"x")
    (tmp_path / "d" / "loop").symlink_to(tmp_path / "d")
    with pytest.warns(UserWarning, match="symlink loop"):
        found = find_images([tmp_path])
    assert [p.name for p in found] == ["x.jpg"]


def test_resize_keeps_float_values_unrounded():
    image = np.full((4, 4, 3), 10.25, np.float32)
    resized = fit_image(image, (2, 2))
    assert resized.dtype == np.float32
    np.testing.assert_allclose(resized, 10.25, atol=1e-4)


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A camera-like picture: smooth colour fields, mid-frequency texture and sensor noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    fields = np.stack([128 + 90 * np.sin(x / 170 + c) * np.cos(y / 140 - c) for c in range(3)], axis=-1)
    texture = np.kron(rng.normal(0, 25, (height // 8 + 1, width // 8 + 1, 3)), np.ones((8, 8, 1)))[:height, :width]
    return np.clip(fields + texture + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8)


def test_dct_scaled_jpeg_decode_matches_full_decode_and_resize(tmp_path):
    path = save(tmp_path / "photo.jpg", Image.fromarray(_photo(1512, 2016)), quality=90)
    decoded = decode_image(path, at_least=(224, 224))
    assert decoded.original_size == (1512, 2016)
    assert decoded.pixels.shape == (378, 504, 3)  # 1/4 DCT scale: 1/8 (189 px) would not cover 224
    fast = fit_image(decoded.pixels, (224, 224)).astype(float)
    full = fit_image(load_image(path), (224, 224)).astype(float)
    assert np.abs(fast - full).mean() < 3.0


def test_decode_may_come_out_slightly_small_to_save_a_dct_scale(tmp_path):
    path = save(tmp_path / "photo.jpg", Image.fromarray(_photo(1200, 1600, seed=3)), quality=90)
    within_slack = decode_image(path, at_least=(305, 410))  # 1/4 scale (300x400) is 1.2-2.4% short
    beyond_slack = decode_image(path, at_least=(320, 430))  # 1/4 scale is 6-7% short: 1/2 scale
    assert within_slack.pixels.shape == (300, 400, 3)
    assert beyond_slack.pixels.shape == (600, 800, 3)
    full = fit_image(load_image(path), (305, 410)).astype(float)
    assert np.abs(fit_image(within_slack.pixels, (305, 410)).astype(float) - full).mean() < 3.0


def test_exif_orientation_survives_dct_scaled_decode(tmp_path):
    stored = _photo(1200, 1600, seed=1)
    stored[:300, :400] = (255, 0, 0)  # red block in the stored top-left corner
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # shown rotated 90 degrees clockwise
    path = save(tmp_path / "rotated.jpg", Image.fromarray(stored), quality=92, exif=exif)
    decoded = decode_image(path, at_least=(100, 100))
    assert decoded.original_size == (1600, 1200)  # upright: portrait
    assert decoded.pixels.shape[0] > decoded.pixels.shape[1] >= 100
    upright = load_image(path)
    assert upright.shape == (1600, 1200, 3)
    assert upright[50, -50, 0] > 200 and upright[50, -50, 1] < 60  # the red corner is now top-right
    fast = fit_image(decoded.pixels, (160, 120)).astype(float)
    assert np.abs(fast - fit_image(upright, (160, 120)).astype(float)).mean() < 3.0


def test_size_needed_may_depend_on_the_original_size(tmp_path):
    path = save(tmp_path / "wide.png", Image.fromarray(_photo(400, 1000, seed=2)))
    decoded = decode_image(path, at_least=lambda size: (size[0] // 4, size[1] // 4))
    assert decoded.original_size == (400, 1000)
    assert decoded.pixels.shape == (100, 250, 3)  # PNG: box-reduced by 4 right after decode


@pytest.mark.parametrize("mode", ["P", "I;16", "1"])
def test_reduced_decode_keeps_odd_modes_readable(tmp_path, mode):
    gray = np.repeat(np.linspace(0, 255, 64, dtype=np.uint8)[None], 64, axis=0)
    image = Image.fromarray(gray).convert(mode) if mode != "I;16" else Image.fromarray(gray.astype(np.uint16) * 257)
    path = save(tmp_path / "odd.png", image)
    reduced = load_image(path, at_least=(16, 16))
    assert reduced.shape == (16, 16, 3)
    full = fit_image(load_image(path), (16, 16)).astype(float)
    assert np.abs(reduced.astype(float) - full).mean() < 12.0


def seed_images() -> list[bytes]:
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    blobs = []
    for format_name in ["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"]:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format=format_name)
        blobs.append(buffer.getvalue())
    return blobs


@pytest.mark.slow  # 2 s of the quick run on 2 cores
@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about fuzzed TIFF tags
def test_fuzzed_bytes_never_crash_the_decoder(tmp_path):
    generator = random.Random(0)
    path = tmp_path / "fuzz.img"
    outcomes = {"decoded": 0, "refused": 0}
    for case in range(300):
        data = bytearray(generator.choice(seed_images()))
        for _ in range(generator.randint(1, 12)):
            position = generator.randrange(len(data))
            choice = generator.random()
            if choice < 0.5:
                data[position] = generator.randrange(256)
            elif choice < 0.8:
                del data[position : position + generator.randint(1, 64)]
            else:
                data[position:position] = bytes(generator.randrange(256) for _ in range(generator.randint(1, 16)))
        if case % 10 == 0:
            data = bytearray(generator.randbytes(generator.randint(0, 200)))
        path.write_bytes(bytes(data))
        try:
            image = load_image(path)
        except ImageError as error:
            assert error.path == str(path) and error.reason
            outcomes["refused"] += 1
        else:
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            outcomes["decoded"] += 1
    assert outcomes["refused"] > 0 and outcomes["decoded"] > 0


def test_tiny_and_thin_images_decode(tmp_path):
    for shape in [(1, 1, 3), (1, 300, 3), (200, 2, 3)]:
        Image.fromarray(np.zeros(shape, np.uint8)).save(tmp_path / "t.png")
        assert load_image(tmp_path / "t.png").shape == shape

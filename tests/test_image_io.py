"""Tests for engine.image_io: every test image is generated here with Pillow/numpy."""

from __future__ import annotations

import dataclasses
import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from engine.errors import SideJPEGError
from engine.image_io import MAX_PIXELS, SUPPORTED_SUFFIXES, LoadedImage, file_dialog_filter, load_image


def _save(image: Image.Image, path: Path, fmt: str | None = None, **params) -> Path:
    image.save(path, fmt, **params)
    return path


def _encode(image: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def _noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_header_only(width: int, height: int, idat_start: bool = True) -> bytes:
    """A PNG signature and a valid IHDR (8-bit RGB), then (optionally) the start of an IDAT chunk but no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat_start_bytes = struct.pack(">I", 1 << 20) + b"IDAT" if idat_start else b""
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + idat_start_bytes


def _png_16_bit_rgb(values: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one), from an (H, W, 3) uint16 array."""
    height, width, _ = values.shape
    rows = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


def _assert_valid(result: LoadedImage, height: int, width: int) -> None:
    assert isinstance(result, LoadedImage)
    assert result.rgb.shape == (height, width, 3)
    assert result.rgb.dtype == np.uint8
    assert result.rgb.flags["C_CONTIGUOUS"]
    assert isinstance(result.notes, tuple)
    assert all(isinstance(note, str) and note and "\n" not in note for note in result.notes)


def _raises_one_line(source, match: str, **kwargs) -> SideJPEGError:
    with pytest.raises(SideJPEGError, match=match) as info:
        load_image(source, **kwargs)
    message = str(info.value)
    assert message and "\n" not in message
    return info.value


# ---------------------------------------------------------------- plain images


def test_rgb_png_round_trip_is_exact(tmp_path):
    rgb = _noise(23, 37)
    result = load_image(_save(Image.fromarray(rgb), tmp_path / "a.png"))
    _assert_valid(result, 23, 37)
    np.testing.assert_array_equal(result.rgb, rgb)
    assert result.notes == ()


def test_str_path_and_bytes_give_same_result_as_path(tmp_path):
    rgb = _noise(16, 20, seed=3)
    path = _save(Image.fromarray(rgb), tmp_path / "b.png")
    from_path = load_image(path)
    from_str = load_image(str(path))
    from_bytes = load_image(path.read_bytes())
    np.testing.assert_array_equal(from_path.rgb, from_str.rgb)
    np.testing.assert_array_equal(from_path.rgb, from_bytes.rgb)
    assert from_path.notes == from_bytes.notes


def test_bytes_input_matches_path_for_converted_image(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:4, :, 3] = 255
    path = _save(Image.fromarray(rgba, "RGBA"), tmp_path / "c.png")
    from_path, from_bytes = load_image(path), load_image(path.read_bytes())
    np.testing.assert_array_equal(from_path.rgb, from_bytes.rgb)
    assert from_path.notes == from_bytes.notes


def test_bytearray_and_memoryview_accepted(tmp_path):
    rgb = _noise(5, 6, seed=4)
    data = _encode(Image.fromarray(rgb), "PNG")
    np.testing.assert_array_equal(load_image(bytearray(data)).rgb, rgb)
    np.testing.assert_array_equal(load_image(memoryview(data)).rgb, rgb)


def test_result_is_frozen(tmp_path):
    result = load_image(_encode(Image.new("RGB", (2, 2)), "PNG"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.notes = ("x",)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fmt", "suffix", "exact"),
    [
        ("PNG", ".png", True),
        ("BMP", ".bmp", True),
        ("TIFF", ".tif", True),
        ("WEBP", ".webp", True),
        ("JPEG", ".jpg", False),
    ],
)
def test_formats_load(tmp_path, fmt, suffix, exact):
    rgb = np.zeros((9, 15, 3), np.uint8)
    rgb[:, :8] = (220, 30, 40)
    rgb[:, 8:] = (20, 200, 90)
    params = {"lossless": True} if fmt == "WEBP" else {"quality": 95} if fmt == "JPEG" else {}
    result = load_image(_save(Image.fromarray(rgb), tmp_path / f"img{suffix}", fmt, **params))
    _assert_valid(result, 9, 15)
    if exact:
        np.testing.assert_array_equal(result.rgb, rgb)
    else:
        assert np.abs(result.rgb.astype(int) - rgb.astype(int)).mean() < 12


@pytest.mark.parametrize(("width", "height"), [(1, 1), (15, 9), (8000, 16), (16, 8000)])
def test_unusual_sizes_load(tmp_path, width, height):
    rgb = _noise(height, width, seed=width)
    result = load_image(_save(Image.fromarray(rgb), tmp_path / "s.png"))
    _assert_valid(result, height, width)
    np.testing.assert_array_equal(result.rgb, rgb)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (15, 9), (8000, 16)])
def test_unusual_sizes_load_as_jpeg(tmp_path, width, height):
    gray = np.full((height, width, 3), 128, np.uint8)
    result = load_image(_save(Image.fromarray(gray), tmp_path / "s.jpg", quality=95))
    _assert_valid(result, height, width)
    assert np.abs(result.rgb.astype(int) - 128).max() <= 3


# ---------------------------------------------------------------- modes


def test_grayscale_gives_three_equal_channels(tmp_path):
    gray = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)
    result = load_image(_save(Image.fromarray(gray, "L"), tmp_path / "g.png"))
    _assert_valid(result, 12, 10)
    for channel in range(3):
        np.testing.assert_array_equal(result.rgb[..., channel], gray)
    assert any("grayscale" in note for note in result.notes)


def test_one_bit_image(tmp_path):
    bits = np.zeros((6, 9), bool)
    bits[::2, 1::3] = True
    result = load_image(_save(Image.fromarray(bits), tmp_path / "bits.png"))
    assert Image.open(tmp_path / "bits.png").mode == "1"
    _assert_valid(result, 6, 9)
    expected = np.where(bits, 255, 0).astype(np.uint8)
    for channel in range(3):
        np.testing.assert_array_equal(result.rgb[..., channel], expected)
    assert any("1-bit" in note for note in result.notes)


def test_rgba_transparent_becomes_white_and_opaque_kept(tmp_path):
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., :3] = (10, 100, 200)
    rgba[0, :, 3] = 0  # fully transparent
    rgba[1, :, 3] = 255  # opaque
    rgba[2, :, 3] = 128  # half
    result = load_image(_save(Image.fromarray(rgba, "RGBA"), tmp_path / "t.png"))
    _assert_valid(result, 4, 6)
    assert (result.rgb[0] == 255).all()
    assert (result.rgb[1] == (10, 100, 200)).all()
    half = result.rgb[2, 0].astype(int)
    expected = np.round((np.array([10, 100, 200]) * 128 + 255 * 127) / 255)
    assert np.abs(half - expected).max() <= 1
    assert "alpha channel composited on white" in result.notes


def test_opaque_rgba_has_no_alpha_note(tmp_path):
    rgba = np.full((3, 3, 4), 255, np.uint8)
    rgba[..., :3] = (1, 2, 3)
    result = load_image(_save(Image.fromarray(rgba, "RGBA"), tmp_path / "o.png"))
    assert (result.rgb == (1, 2, 3)).all()
    assert not any("alpha" in note for note in result.notes)


def test_gray_with_alpha(tmp_path):
    la = np.zeros((2, 3, 2), np.uint8)
    la[..., 0] = 40
    la[0, :, 1] = 255
    la[1, :, 1] = 0
    result = load_image(_save(Image.fromarray(la, "LA"), tmp_path / "la.png"))
    assert (result.rgb[0] == 40).all()
    assert (result.rgb[1] == 255).all()
    assert "alpha channel composited on white" in result.notes


def test_palette_with_transparency(tmp_path):
    pixels = np.zeros((4, 5), np.uint8)
    pixels[1] = 1
    pixels[2] = 2
    image = Image.fromarray(pixels, "P")
    image.putpalette([0, 0, 0, 200, 10, 10, 10, 10, 200] + [0] * (256 * 3 - 9))
    path = _save(image, tmp_path / "p.png", transparency=0)
    assert Image.open(path).mode == "P"
    result = load_image(path)
    _assert_valid(result, 4, 5)
    assert (result.rgb[0] == 255).all()  # index 0 is transparent: white, not black
    assert (result.rgb[3] == 255).all()
    assert (result.rgb[1] == (200, 10, 10)).all()
    assert (result.rgb[2] == (10, 10, 200)).all()
    assert any("palette" in note for note in result.notes)
    assert "alpha channel composited on white" in result.notes


def test_palette_without_transparency(tmp_path):
    image = Image.fromarray(_noise(10, 10, seed=9)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    path = _save(image, tmp_path / "q.png")
    result = load_image(path)
    np.testing.assert_array_equal(result.rgb, np.asarray(image.convert("RGB")))
    assert any("palette" in note for note in result.notes)
    assert not any("alpha" in note for note in result.notes)


def test_cmyk_jpeg_gives_plausible_rgb(tmp_path):
    image = Image.new("CMYK", (32, 16), (0, 0, 0, 0))  # white
    image.paste((0, 255, 255, 0), (0, 0, 16, 16))  # cyan-free, magenta+yellow: red
    path = _save(image, tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(path).mode == "CMYK"
    result = load_image(path)
    _assert_valid(result, 16, 32)
    red = result.rgb[4:12, 2:12].reshape(-1, 3).mean(axis=0)
    white = result.rgb[4:12, 20:30].reshape(-1, 3).mean(axis=0)
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    assert (white > 240).all()
    assert "CMYK converted to RGB" in result.notes


def test_16_bit_png_scaled_correctly(tmp_path):
    values = np.array([[0, 65535, 257 * 100, 128, 129, 257 * 200 + 128]], dtype=np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "deep.png")
    assert path.read_bytes()[24] == 16  # IHDR bit depth: really a 16-bit PNG
    assert Image.open(path).mode.startswith("I")
    result = load_image(path)
    _assert_valid(result, 1, 6)
    expected = np.array([0, 255, 100, 0, 1, 200], np.uint8)
    for channel in range(3):
        np.testing.assert_array_equal(result.rgb[0, :, channel], expected)
    assert "16-bit image reduced to 8 bits" in result.notes


def test_16_bit_full_range_is_round_of_v_over_257(tmp_path):
    values = np.arange(0, 65536, 16, dtype=np.uint16).reshape(64, 64)
    result = load_image(_save(Image.fromarray(values), tmp_path / "ramp.png"))
    expected = np.round(values.astype(np.float64) / 257).astype(np.uint8)
    np.testing.assert_array_equal(result.rgb[..., 1], expected)


def test_16_bit_tiff(tmp_path):
    values = np.array([[0, 257 * 50], [65535, 257 * 3]], dtype=np.uint16)
    result = load_image(_save(Image.fromarray(values), tmp_path / "deep.tif"))
    np.testing.assert_array_equal(result.rgb[..., 0], [[0, 50], [255, 3]])
    assert "16-bit image reduced to 8 bits" in result.notes


def test_16_bit_colour_png_is_noted(tmp_path):
    values = np.zeros((2, 2, 3), np.uint16)
    values[0, 0] = (65535, 257 * 100, 0)
    result = load_image(_png_16_bit_rgb(values))
    assert tuple(result.rgb[0, 0]) == (255, 100, 0)
    assert "16-bit image reduced to 8 bits" in result.notes


def test_float_tiff(tmp_path):
    values = np.array([[0.0, 0.5], [1.0, 0.25]], dtype=np.float32)
    path = _save(Image.fromarray(values, "F"), tmp_path / "f.tif")
    result = load_image(path)
    np.testing.assert_array_equal(result.rgb[..., 2], [[0, 128], [255, 64]])
    assert any("floating-point" in note for note in result.notes)


def test_exif_orientation_6_rotates(tmp_path):
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:, :20] = (255, 0, 0)  # left half red
    rgb[:, 20:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(Image.fromarray(rgb), tmp_path / "rot.jpg", quality=95, exif=exif.tobytes())
    assert Image.open(path).getexif()[0x0112] == 6
    result = load_image(path)
    _assert_valid(result, 40, 20)  # width and height swapped
    top, bottom = result.rgb[5, 10].astype(int), result.rgb[34, 10].astype(int)
    assert top[0] > 200 and top[2] < 60  # rotated 90° clockwise: the left edge is now on top
    assert bottom[2] > 200 and bottom[0] < 60
    assert any(note.startswith("EXIF orientation applied (rotated 90°") for note in result.notes)


def test_exif_orientation_1_changes_nothing(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 1
    path = _save(Image.new("RGB", (30, 10), (9, 9, 9)), tmp_path / "up.jpg", exif=exif.tobytes())
    result = load_image(path)
    _assert_valid(result, 10, 30)
    assert not any("EXIF" in note for note in result.notes)


def test_animated_gif_first_frame(tmp_path):
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    frames = [Image.new("RGB", (12, 7), colour) for colour in colours]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert Image.open(path).n_frames == 3
    result = load_image(path)
    _assert_valid(result, 7, 12)
    assert (result.rgb == (255, 0, 0)).all()
    assert "animated image: first frame of 3 used" in result.notes


def test_multi_page_tiff_first_page(tmp_path):
    pages = [Image.new("RGB", (6, 5), colour) for colour in [(0, 0, 255), (255, 255, 0)]]
    path = tmp_path / "pages.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    result = load_image(path)
    assert (result.rgb == (0, 0, 255)).all()
    assert "multi-page image: first page of 2 used" in result.notes


def test_mpo_loads_first_picture(tmp_path):
    pictures = [Image.new("RGB", (16, 8), colour) for colour in [(250, 250, 250), (0, 0, 0)]]
    path = tmp_path / "camera.jpg"
    pictures[0].save(path, "MPO", save_all=True, append_images=pictures[1:], quality=95)
    assert Image.open(path).format == "MPO"
    result = load_image(path)
    _assert_valid(result, 8, 16)
    assert (result.rgb > 240).all()
    assert "multi-picture JPEG: first picture of 2 used" in result.notes


def test_single_frame_gif(tmp_path):
    result = load_image(_save(Image.new("RGB", (4, 3), (0, 255, 0)), tmp_path / "one.gif"))
    assert (result.rgb == (0, 255, 0)).all()
    assert not any("animated" in note for note in result.notes)


# ---------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    _raises_one_line(tmp_path / "nope.png", "not found")


def test_directory(tmp_path):
    _raises_one_line(tmp_path, "directory")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    _raises_one_line(path, "empty")
    _raises_one_line(b"", "empty")


def test_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n" * 20)
    _raises_one_line(path, "not an image")


def test_random_bytes():
    _raises_one_line(np.random.default_rng(1).bytes(4096), "not an image")


def test_unsupported_format_is_refused(tmp_path):
    path = _save(Image.new("RGB", (4, 4)), tmp_path / "x.ppm")
    _raises_one_line(path, "supported format")


def test_wrong_source_type():
    _raises_one_line(12345, "path or bytes")


@pytest.mark.parametrize("bad", [0, -5, 2.5, "10", True])
def test_bad_max_pixels(bad):
    data = _encode(Image.new("RGB", (2, 2)), "PNG")
    _raises_one_line(data, "max_pixels", max_pixels=bad)


def test_numpy_integer_max_pixels():
    data = _encode(Image.new("RGB", (2, 2)), "PNG")
    assert load_image(data, max_pixels=np.int64(4)).rgb.shape == (2, 2, 3)
    _raises_one_line(data, "too large", max_pixels=np.int64(3))


def test_truncated_png(tmp_path):
    data = _encode(Image.fromarray(_noise(64, 64)), "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    _raises_one_line(path, "truncated|corrupt")


def test_truncated_jpeg(tmp_path):
    data = _encode(Image.fromarray(_noise(64, 64)), "JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    _raises_one_line(path, "truncated")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_png_cut_inside_its_data():
    _raises_one_line(_png_header_only(8, 8), "truncated")


def test_png_cut_after_ihdr():
    _raises_one_line(_png_header_only(8, 8, idat_start=False), "damaged or truncated PNG")


def test_jpeg_cut_inside_header():
    data = _encode(Image.new("RGB", (8, 8)), "JPEG")
    _raises_one_line(data[:40], "truncated")


def test_corrupt_png_data():
    data = bytearray(_encode(Image.fromarray(_noise(32, 32)), "PNG"))
    data[60:80] = b"\x00" * 20  # inside IDAT: bad CRC / bad zlib stream
    _raises_one_line(bytes(data), ".")


def test_zero_width_png():
    _raises_one_line(_png_header_only(0, 10), ".")


def test_header_larger_than_max_pixels_is_refused_without_decoding(tmp_path, monkeypatch):
    path = _save(Image.fromarray(_noise(300, 400)), tmp_path / "big.png")
    decoded = []
    original_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(1) or original_load(self))
    error = _raises_one_line(path, "too large", max_pixels=400 * 300 - 1)
    assert "119,999" in str(error)
    assert decoded == []
    assert load_image(path, max_pixels=400 * 300).rgb.shape == (300, 400, 3)  # exactly at the limit is fine


def test_crafted_huge_png_header_refused_quickly():
    data = _png_header_only(100_000, 100_000)
    start = time.perf_counter()
    error = _raises_one_line(data, "too large")
    assert time.perf_counter() - start < 1.0
    assert f"{MAX_PIXELS:,}" in str(error)


def test_crafted_huge_png_header_refused_by_own_cap_when_pillow_guard_off(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    error = _raises_one_line(_png_header_only(100_000, 100_000), "too large")
    assert "100000x100000" in str(error)
    assert f"{MAX_PIXELS:,}" in str(error)


def test_pillow_bomb_warning_and_error_become_side_jpeg_error(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    warned = _raises_one_line(_encode(Image.new("RGB", (40, 40)), "PNG"), "decompression bomb")  # 1600 > 1000
    assert "1,000 pixels" in str(warned)
    refused = _raises_one_line(_encode(Image.new("RGB", (50, 50)), "PNG"), "decompression bomb")  # 2500 > 2000
    assert "2,000 pixels" in str(refused)


# ---------------------------------------------------------------- suffixes and dialog filter


def test_supported_suffixes_and_filter():
    for suffix in (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"):
        assert suffix in SUPPORTED_SUFFIXES
    assert all(suffix.startswith(".") and suffix == suffix.lower() for suffix in SUPPORTED_SUFFIXES)
    dialog = file_dialog_filter()
    assert dialog.startswith("Images (")
    for suffix in SUPPORTED_SUFFIXES:
        assert f"*{suffix}" in dialog


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tiff", ".webp", ".gif"])
def test_every_listed_suffix_loads(tmp_path, suffix):
    path = _save(Image.new("RGB", (10, 6), (100, 150, 200)), tmp_path / f"any{suffix}")
    result = load_image(path)
    _assert_valid(result, 6, 10)
    assert np.abs(result.rgb.astype(int) - (100, 150, 200)).max() <= 8

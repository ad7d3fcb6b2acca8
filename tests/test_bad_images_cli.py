"""Bad and unusual images through the command line (``engine.cli.main``), with the shipped ``fast`` weights.

Each either compresses correctly (right output size, notes for what was converted) or fails cleanly:
exit code 2, exactly one line on stderr, no traceback and no output file left behind. (The GUI's
loader goes through the same ``engine.image_io.load_image``; its own tests belong to the GUI.)
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import sidecar as sc
from engine.cli import main
from engine.container import jpeg_size
from engine.jpeg_io import open_jpeg, params_of
from engine.resources import weights_path

pytestmark = pytest.mark.skipif(not weights_path("fast").exists(), reason="needs the shipped fast weights")

RNG = np.random.default_rng(7)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run(capsys, *args: str) -> tuple[int, str, str, list[str]]:
    """Exit code, stdout, stderr and the warnings the command raised (each would be more stderr)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err, [f"{w.category.__name__}: {w.message}" for w in caught]


def assert_clean_error(code: int, err: str, folder: Path, inputs: set[str], message: str = "") -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err and err.startswith("sidejpeg "), err
    assert message.lower() in err.lower(), err
    assert sorted(p.name for p in folder.iterdir() if p.name not in inputs) == [], "output left behind"


# ------------------------------------------------------------------------------------------ builders


def noise(height: int, width: int) -> np.ndarray:
    return RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)


def encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_raw(width: int, height: int, depth: int, color: int, rows: bytes) -> bytes:
    """A PNG written by hand (any header, e.g. a size Pillow refuses to write)."""
    head = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", head) + png_chunk(b"IDAT", zlib.compress(rows))
            + png_chunk(b"IEND", b""))


def png_header_only(width: int, height: int) -> bytes:
    """Header of a huge image with almost no pixel data: a decompression bomb's shape."""
    return png_raw(width, height, 8, 2, b"\x00" * 64)


def png_rgb16(height: int, width: int) -> bytes:
    samples = RNG.integers(0, 65536, (height, width * 3)).astype(">u2")
    rows = b"".join(b"\x00" + samples[r].tobytes() for r in range(height))
    return png_raw(width, height, 16, 2, rows)


def jpeg_with_frame(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header claims another size."""
    data = encoded(Image.fromarray(noise(16, 16)), "JPEG", quality=80)
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


def palette_with_transparency() -> bytes:
    image = Image.fromarray(noise(20, 30)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return encoded(image, "PNG", transparency=3)


def gif_with_transparency() -> bytes:
    image = Image.fromarray(noise(20, 30)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return encoded(image, "GIF", transparency=0)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (30, 20), colour).convert("P") for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def exif_rotated() -> bytes:
    """A 30x20 photo whose EXIF says: rotate 90° clockwise to display (so it shows as 20x30)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded(Image.fromarray(noise(20, 30)), "JPEG", quality=90, exif=exif.tobytes())


def cmyk(fmt: str) -> bytes:
    return encoded(Image.fromarray(noise(20, 30)).convert("CMYK"), fmt)


def half(data: bytes) -> bytes:
    return data[: len(data) // 2]


# ------------------------------------------------------------------------------------------ refused

BAD_IMAGES: dict[str, tuple[str, Callable[[], bytes], str]] = {
    "zero-byte PNG": ("empty.png", lambda: b"", "empty"),
    "zero-byte JPEG": ("empty.jpg", lambda: b"", "empty"),
    "text named .jpg": ("notes.jpg", lambda: b"just some text, not a photo\n" * 20, "not an image"),
    "random bytes named .png": ("noise.png", lambda: RNG.bytes(3000), "not an image"),
    "HTML named .gif": ("page.gif", lambda: b"<!doctype html><html><body>hi</body></html>", "not an image"),
    "PNG signature then junk": ("junk.png", lambda: b"\x89PNG\r\n\x1a\n" + RNG.bytes(200), "png"),
    "truncated JPEG (half)": ("cut.jpg", lambda: half(encoded(Image.fromarray(noise(64, 64)), "JPEG")), "truncated"),
    "truncated JPEG (header only)": (
        "head.jpg", lambda: encoded(Image.fromarray(noise(64, 64)), "JPEG")[:300], "truncated"),
    "truncated PNG (half)": ("cut.png", lambda: half(encoded(Image.fromarray(noise(64, 64)), "PNG")), "truncated"),
    "truncated PNG (signature only)": ("sig.png", lambda: b"\x89PNG\r\n\x1a\n", "png"),
    "bomb over Pillow's limit (30000x30000 PNG)": ("bomb.png", lambda: png_header_only(30000, 30000), "too large"),
    "bomb over Pillow's warning (10000x10000 PNG)": ("warn.png", lambda: png_header_only(10000, 10000), "too large"),
    "bomb over our cap (9000x8000 PNG)": ("cap.png", lambda: png_header_only(9000, 8000), "too large"),
    "bomb JPEG frame (65535x65535)": ("bomb.jpg", lambda: jpeg_with_frame(65535, 65535), "too large"),
    "bomb JPEG frame over our cap (8001x8000)": ("cap.jpg", lambda: jpeg_with_frame(8001, 8000), "too large"),
    "PNG of zero width": ("zero.png", lambda: png_raw(0, 10, 8, 2, b""), ""),
}


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_bad_image_is_refused_by_compress(tmp_path: Path, capsys, case: str) -> None:
    name, make, message = BAD_IMAGES[case]
    path = tmp_path / name
    path.write_bytes(make())
    code, out, err, caught = run(capsys, "compress", str(path), "-q", "30")
    assert_clean_error(code, err, tmp_path, {name}, message)
    assert out == "" and caught == []


@pytest.mark.parametrize("case", ["zero-byte JPEG", "text named .jpg", "truncated JPEG (half)",
                                  "truncated JPEG (header only)", "bomb JPEG frame (65535x65535)",
                                  "bomb JPEG frame over our cap (8001x8000)", "random bytes named .png"])
@pytest.mark.parametrize("command", ["restore", "info"])
def test_bad_jpeg_is_refused_by_restore_and_info(tmp_path: Path, capsys, case: str, command: str) -> None:
    name, make, _ = BAD_IMAGES[case]
    path = tmp_path / name
    path.write_bytes(make())
    code, _, err, caught = run(capsys, command, str(path))
    assert_clean_error(code, err, tmp_path, {name})
    assert caught == []


def test_png_given_to_restore_is_refused(tmp_path: Path, capsys) -> None:
    path = tmp_path / "photo.png"
    Image.fromarray(noise(20, 30)).save(path)
    code, _, err, _ = run(capsys, "restore", str(path))
    assert_clean_error(code, err, tmp_path, {"photo.png"}, "not a JPEG")


@pytest.mark.parametrize(
    ("side", "message"),
    [
        (lambda good, other: b"", "not a SideJPEG sidecar"),
        (lambda good, other: b"not a sidecar at all", "not a SideJPEG sidecar"),
        (lambda good, other: good[:-3], "truncated"),
        (lambda good, other: good[:-5] + bytes([good[-5] ^ 1]) + good[-4:], "checksum"),
        (lambda good, other: other, "different JPEG"),
    ],
)
def test_bad_sidecar_beside_a_jpeg_is_refused(tmp_path: Path, capsys, side, message: str) -> None:
    for stem, seed in (("a", 1), ("b", 2)):
        Image.fromarray(np.random.default_rng(seed).integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(
            tmp_path / f"{stem}.png")
        assert run(capsys, "compress", str(tmp_path / f"{stem}.png"), "-q", "30")[0] == 0
    good, other = (tmp_path / "a.jpg.side").read_bytes(), (tmp_path / "b.jpg.side").read_bytes()
    (tmp_path / "a.jpg.side").write_bytes(side(good, other))
    before = {p.name for p in tmp_path.iterdir()}
    for command in ("restore", "info"):
        code, _, err, _ = run(capsys, command, str(tmp_path / "a.jpg"))
        assert_clean_error(code, err, tmp_path, before, message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-q", "0"], "quality"),
        (["-q", "101"], "quality"),
        (["-q", "30", "--lam", "1e40"], "lambda"),  # used to end in an OverflowError traceback when packing
        (["-q", "30", "--lam", "-1"], "lambda"),
        (["-q", "30", "--lam", "inf"], "lambda"),
        (["-q", "30", "--lam", "nan"], "lambda"),
    ],
)
def test_bad_settings_are_refused_before_any_work(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    path = tmp_path / "photo.png"
    Image.fromarray(noise(20, 30)).save(path)
    code, _, err, _ = run(capsys, "compress", str(path), *args)
    assert_clean_error(code, err, tmp_path, {"photo.png"}, message)


# ------------------------------------------------------------------------------------------ accepted

GOOD_IMAGES: dict[str, tuple[str, Callable[[], bytes], tuple[int, int], str | None]] = {
    # name: (file, bytes, (width, height) of the output, a note that must be printed)
    "1x1": ("dot.png", lambda: encoded(Image.fromarray(noise(1, 1)), "PNG"), (1, 1), None),
    "15x9": ("odd.png", lambda: encoded(Image.fromarray(noise(9, 15)), "PNG"), (15, 9), None),
    "8000x16": ("strip.png", lambda: encoded(Image.fromarray(noise(16, 8000)), "PNG"), (8000, 16), None),
    "CMYK JPEG": ("cmyk.jpg", lambda: cmyk("JPEG"), (30, 20), "CMYK converted to RGB"),
    "CMYK TIFF": ("cmyk.tif", lambda: cmyk("TIFF"), (30, 20), "CMYK converted to RGB"),
    "16-bit grey PNG": (
        "grey16.png", lambda: encoded(Image.fromarray(RNG.integers(0, 65536, (20, 30)).astype(np.uint16)), "PNG"),
        (30, 20), "16-bit"),
    "16-bit RGB PNG": ("rgb16.png", lambda: png_rgb16(20, 30), (30, 20), "16-bit"),
    "palette PNG with transparency": ("pal.png", palette_with_transparency, (30, 20), "palette"),
    "palette GIF with transparency": ("pal.gif", gif_with_transparency, (30, 20), "palette"),
    "animated GIF": ("anim.gif", animated_gif, (30, 20), "animated image: first frame of 3 used"),
    "EXIF-rotated JPEG": ("rotated.jpg", exif_rotated, (20, 30), "EXIF orientation applied"),
}


@pytest.mark.parametrize("case", list(GOOD_IMAGES))
def test_unusual_image_compresses_and_restores(tmp_path: Path, capsys, case: str) -> None:
    name, make, (width, height), note = GOOD_IMAGES[case]
    path = tmp_path / name
    path.write_bytes(make())
    out = tmp_path / "out.jpg"
    code, stdout, err, caught = run(capsys, "compress", str(path), "-q", "40", "-o", str(out))
    assert code == 0 and err == "" and caught == [], (err, caught)
    assert jpeg_size(out.read_bytes()) == (width, height)
    jpeg = out.read_bytes()
    header = sc.bind(sc.parse_header(Path(f"{out}.side").read_bytes()), jpeg, params_of(open_jpeg(jpeg)))
    assert (header.width, header.height) == (width, height)
    if note:
        assert f"note: {note}" in stdout
    with Image.open(out) as im:
        assert im.getexif().get(0x0112, 1) == 1  # never rotated twice by a viewer
    code, _, err, caught = run(capsys, "restore", str(out), "-o", str(tmp_path / "back.png"))
    assert code == 0 and err == "" and caught == [], (err, caught)
    with Image.open(tmp_path / "back.png") as im:
        assert im.size == (width, height) and im.mode == "RGB"


def test_animated_gif_uses_the_first_frame(tmp_path: Path, capsys) -> None:
    path = tmp_path / "anim.gif"
    path.write_bytes(animated_gif())
    assert run(capsys, "compress", str(path), "-q", "90")[0] == 0
    with Image.open(tmp_path / "anim.jpg") as im:
        mean = np.asarray(im.convert("RGB")).reshape(-1, 3).mean(axis=0)
    assert mean[0] > 200 and mean[1] < 60 and mean[2] < 60  # red, the first frame


def test_exif_rotation_is_applied_to_the_pixels(tmp_path: Path, capsys) -> None:
    """The 30x20 stored image, shown rotated 90° clockwise, is what gets compressed."""
    path = tmp_path / "rotated.jpg"
    source = noise(20, 30)
    source[:, :15] = 0  # left half dark, so it is the top after a clockwise turn
    source[:, 15:] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    path.write_bytes(encoded(Image.fromarray(source), "JPEG", quality=95, exif=exif.tobytes()))
    assert run(capsys, "compress", str(path), "-q", "90")[0] == 0
    with Image.open(tmp_path / "rotated.sidejpeg.jpg") as im:
        pixels = np.asarray(im.convert("L")).astype(int)
    assert pixels.shape == (30, 20)
    assert pixels[:10].mean() < 60 and pixels[-10:].mean() > 190

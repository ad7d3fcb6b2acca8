"""Photo metadata: EXIF (with GPS and a thumbnail), XMP and ICC profiles from a camera-like file through
``engine.metadata``, ``load_image`` and the ``compress`` / ``restore`` commands."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, ImageOps

from engine.cli import main
from engine.container import embed_sidecar, split_embedded
from engine.image_io import load_image
from engine.metadata import ICC_CHUNK, ImageMetadata, apply_orientation, insert_metadata, read_metadata
from engine.resources import weights_path

pytestmark = pytest.mark.usefixtures("one_torch_thread")
needs_weights = pytest.mark.skipif(not weights_path("fast").exists(), reason="needs the shipped fast weights")

NUL = b"\0"
METADATA_APPS = ["APP0 JFIF", "APP1 Exif", "APP1 http://ns.adobe.com/xap/1.0/", "APP2 ICC_PROFILE"]
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
GPS = {
    ExifTags.GPS.GPSLatitudeRef: "N",
    ExifTags.GPS.GPSLatitude: (48.0, 51.0, 29.0),
    ExifTags.GPS.GPSLongitudeRef: "E",
    ExifTags.GPS.GPSLongitude: (2.0, 17.0, 40.0),
}
XMP = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/" tiff:Orientation="6">'
    b"<dc:creator><rdf:Seq><rdf:li>Ada Lovelace</rdf:li></rdf:Seq></dc:creator>"
    b'</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


def thumbnail() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (201, 31, 93)).save(buf, "JPEG", quality=50)
    return buf.getvalue()


def with_thumbnail(exif: bytes, thumb: bytes) -> bytes:
    """``exif`` with an IFD1 holding a JPEG thumbnail, as cameras write it (Pillow writes no IFD1)."""
    tiff = bytearray(exif[6:])
    order = "<" if tiff[:2] == b"II" else ">"
    ifd0 = struct.unpack_from(f"{order}I", tiff, 4)[0]
    entries = struct.unpack_from(f"{order}H", tiff, ifd0)[0]
    tiff += b"\0" * (len(tiff) % 2)
    ifd1 = len(tiff)
    struct.pack_into(f"{order}I", tiff, ifd0 + 2 + 12 * entries, ifd1)
    tiff += struct.pack(f"{order}H", 2)
    tiff += struct.pack(f"{order}HHII", ExifTags.Base.JpegIFOffset, 4, 1, ifd1 + 2 + 2 * 12 + 4)
    tiff += struct.pack(f"{order}HHII", ExifTags.Base.JpegIFByteCount, 4, 1, len(thumb))
    tiff += struct.pack(f"{order}I", 0) + thumb
    return exif[:6] + bytes(tiff)


def camera_exif(orientation: int = 6) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SideCam"
    exif[ExifTags.Base.Model] = "SC-1"
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.IFD.Exif] = {ExifTags.Base.DateTimeOriginal: "2024:05:01 10:20:30"}
    exif[ExifTags.IFD.GPSInfo] = GPS
    return with_thumbnail(exif.tobytes(), thumbnail())


@pytest.fixture
def camera_jpeg(tmp_path: Path, sample_rgb: np.ndarray) -> Path:
    """A 128x96 photo stored sideways (orientation 6: shown 96x128) with EXIF, GPS, thumbnail, XMP, ICC."""
    path = tmp_path / "camera.jpg"
    Image.fromarray(sample_rgb).save(path, "JPEG", quality=92, exif=camera_exif(), icc_profile=SRGB, xmp=XMP)
    return path


def app_markers(jpeg: bytes) -> list[str]:
    """The APPn segments of a JPEG in file order, with what they hold: e.g. APP1 Exif, APP2 ICC_PROFILE."""
    with Image.open(io.BytesIO(jpeg)) as im:
        return [f"{name} {data.partition(NUL)[0][:40].decode('latin-1')}" for name, data in im.applist]


def test_read_metadata_of_a_camera_jpeg(camera_jpeg: Path) -> None:
    meta = read_metadata(camera_jpeg)
    assert meta.orientation == 6 and meta.notes == ()
    assert meta.kinds == ("EXIF", "GPS", "XMP", "ICC")
    assert meta.icc == SRGB and b"Ada Lovelace" in meta.xmp
    assert thumbnail() in camera_jpeg.read_bytes() and thumbnail() not in meta.exif
    tags = Image.Exif()
    tags.load(meta.exif)
    assert tags[ExifTags.Base.Make] == "SideCam" and tags.get_ifd(ExifTags.IFD.GPSInfo) == GPS
    assert tags.get_ifd(ExifTags.IFD.IFD1) == {}
    assert read_metadata(camera_jpeg.read_bytes()) == meta
    with Image.open(camera_jpeg) as im:
        assert read_metadata(im) == meta


def test_upright_says_orientation_1_in_exif_and_xmp(camera_jpeg: Path) -> None:
    meta = read_metadata(camera_jpeg).upright()
    tags = Image.Exif()
    tags.load(meta.exif)
    assert meta.orientation == 1 and tags[ExifTags.Base.Orientation] == 1
    assert b'tiff:Orientation="1"' in meta.xmp and b"Ada Lovelace" in meta.xmp
    assert tags.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] == "2024:05:01 10:20:30"


def test_load_image_applies_the_orientation_to_pixels_and_metadata(camera_jpeg: Path, sample_rgb: np.ndarray) -> None:
    loaded = load_image(camera_jpeg)
    assert loaded.rgb.shape == (128, 96, 3)  # shown rotated 90° clockwise
    assert loaded.metadata.orientation == 1 and loaded.metadata.kinds == ("EXIF", "GPS", "XMP", "ICC")
    clockwise = np.rot90(sample_rgb, k=-1)
    assert np.abs(loaded.rgb.astype(int) - clockwise).mean() < 4  # JPEG q92 of the same picture


@pytest.mark.parametrize("orientation", range(1, 9))
def test_apply_orientation_matches_pillows_exif_transpose(orientation: int, sample_rgb: np.ndarray) -> None:
    image = Image.fromarray(sample_rgb[:20, :30])
    image.getexif()[ExifTags.Base.Orientation] = orientation
    expected = np.asarray(ImageOps.exif_transpose(image))
    assert np.array_equal(np.asarray(apply_orientation(image, orientation)), expected)


def test_insert_metadata_leaves_the_image_data_alone(camera_jpeg: Path, sample_rgb: np.ndarray) -> None:
    buf = io.BytesIO()
    Image.fromarray(sample_rgb).save(buf, "JPEG", quality=50)
    plain = buf.getvalue()
    meta = read_metadata(camera_jpeg)
    out = insert_metadata(plain, meta)
    assert app_markers(out) == METADATA_APPS
    inserted = len(out) - len(plain)
    assert out[:20] == plain[:20] and out[20 + inserted :] == plain[20:]  # after SOI and the 18-byte JFIF APP0
    with Image.open(io.BytesIO(out)) as im:
        assert im.info["icc_profile"] == SRGB and im.info["xmp"] == XMP
        assert np.array_equal(np.asarray(im), np.asarray(Image.open(io.BytesIO(plain))))
    assert insert_metadata(plain, ImageMetadata()) == plain
    assert app_markers(insert_metadata(plain, meta, strip=True)) == ["APP0 JFIF", "APP2 ICC_PROFILE"]


def test_a_large_profile_spans_several_segments(sample_rgb: np.ndarray) -> None:
    profile = SRGB + bytes(range(256)) * 600  # 150 kB: three APP2 segments
    buf = io.BytesIO()
    Image.fromarray(sample_rgb).save(buf, "JPEG")
    out = insert_metadata(buf.getvalue(), ImageMetadata(icc=profile))
    assert app_markers(out).count("APP2 ICC_PROFILE") == -(-len(profile) // ICC_CHUNK) == 3
    with Image.open(io.BytesIO(out)) as im:
        assert im.info["icc_profile"] == profile


def test_a_cmyk_profile_is_left_out_of_rgb_output(tmp_path: Path) -> None:
    cmyk_profile = SRGB[:16] + b"CMYK" + SRGB[20:]
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (30, 20), (0, 200, 200, 0)).save(path, "JPEG", icc_profile=cmyk_profile)
    loaded = load_image(path)
    assert loaded.metadata.icc is None
    assert "CMYK colour profile left out (the image is stored as RGB)" in loaded.notes


def test_a_tiffs_own_layout_tags_do_not_become_exif(tmp_path: Path, sample_rgb: np.ndarray) -> None:
    path = tmp_path / "scan.tif"
    tags = Image.Exif()
    tags[ExifTags.Base.Make] = "SideScan"
    tags[ExifTags.Base.Artist] = "Ada"
    Image.fromarray(sample_rgb).save(path, "TIFF", compression="tiff_lzw", exif=tags, icc_profile=SRGB)
    meta = load_image(path).metadata
    kept = Image.Exif()
    kept.load(meta.exif)
    assert kept[ExifTags.Base.Make] == "SideScan" and kept[ExifTags.Base.Artist] == "Ada"
    layout = {ExifTags.Base.StripOffsets, ExifTags.Base.Compression, ExifTags.Base.ImageWidth,
              ExifTags.Base.BitsPerSample, ExifTags.Base.InterColorProfile}
    assert layout.isdisjoint(kept) and meta.icc == SRGB


def test_exif_too_large_for_a_jpeg_is_left_out_with_a_note(tmp_path: Path, sample_rgb: np.ndarray) -> None:
    tags = Image.Exif()
    tags[ExifTags.Base.ImageDescription] = "x" * 70_000
    path = tmp_path / "long.png"
    Image.fromarray(sample_rgb).save(path, exif=tags, icc_profile=SRGB)
    loaded = load_image(path)
    assert loaded.metadata.exif is None and loaded.metadata.icc == SRGB
    assert any(note.startswith("EXIF left out:") for note in loaded.notes)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_damaged_exif_is_left_out_and_the_image_still_loads(tmp_path: Path, sample_rgb: np.ndarray) -> None:
    path = tmp_path / "damaged.jpg"
    Image.fromarray(sample_rgb).save(path, "JPEG", exif=b"Exif\x00\x00MM\x00*\xff\xff\xff\xff")
    loaded = load_image(path)
    assert loaded.rgb.shape == sample_rgb.shape and loaded.metadata.exif is None


def test_the_sidecar_still_belongs_to_the_jpeg_with_metadata(codec, sample_rgb: np.ndarray, camera_jpeg: Path) -> None:
    made = codec.compress(sample_rgb, 30, 64.0)
    jpeg = insert_metadata(made.jpeg, read_metadata(camera_jpeg))
    restored = codec.restore(jpeg, made.sidecar)
    assert not restored.blind and np.array_equal(restored.image, made.restored)
    embedded = embed_sidecar(jpeg, made.sidecar)
    assert app_markers(embedded) == [*METADATA_APPS, "APP10 SideJPEG"]
    assert split_embedded(embedded) == (jpeg, made.sidecar)
    assert np.array_equal(codec.restore(embedded).image, made.restored)


# ------------------------------------------------------------------------------------------ command line


@needs_weights
def test_compress_keeps_metadata_upright_and_restore_carries_it(camera_jpeg: Path, capsys) -> None:
    assert main(["compress", str(camera_jpeg), "-q", "40"]) == 0
    assert "metadata kept: EXIF, GPS, XMP, ICC" in capsys.readouterr().out
    out = camera_jpeg.with_name("camera.sidejpeg.jpg")
    data = out.read_bytes()
    assert thumbnail() not in data
    with Image.open(out) as im:
        assert im.size == (96, 128)
        exif = im.getexif()
        assert exif[ExifTags.Base.Orientation] == 1 and exif[ExifTags.Base.Model] == "SC-1"
        assert exif.get_ifd(ExifTags.IFD.GPSInfo) == GPS and exif.get_ifd(ExifTags.IFD.IFD1) == {}
        assert im.info["icc_profile"] == SRGB and b'tiff:Orientation="1"' in im.info["xmp"]

    assert main(["restore", str(out), "-o", str(camera_jpeg.with_name("back.png"))]) == 0
    assert "with side information" in capsys.readouterr().out
    with Image.open(camera_jpeg.with_name("back.png")) as png:
        assert png.size == (96, 128) and png.info["icc_profile"] == SRGB
        assert png.getexif().get_ifd(ExifTags.IFD.GPSInfo) == GPS and png.getexif()[ExifTags.Base.Orientation] == 1
        assert b"Ada Lovelace" in png.info["xmp"]


@needs_weights
def test_embedded_side_information_follows_the_metadata(camera_jpeg: Path) -> None:
    out = camera_jpeg.with_name("e.jpg")
    assert main(["compress", str(camera_jpeg), "-q", "40", "--embed", "-o", str(out)]) == 0
    markers = app_markers(out.read_bytes())
    assert markers[:4] == METADATA_APPS and set(markers[4:]) == {"APP10 SideJPEG"}
    assert main(["restore", str(out), "-o", str(camera_jpeg.with_name("e.png"))]) == 0


@needs_weights
def test_strip_metadata_keeps_only_the_colour_profile(camera_jpeg: Path, capsys) -> None:
    out = camera_jpeg.with_name("s.jpg")
    assert main(["compress", str(camera_jpeg), "-q", "40", "--strip-metadata", "-o", str(out)]) == 0
    assert "metadata kept: ICC" in capsys.readouterr().out
    assert app_markers(out.read_bytes()) == ["APP0 JFIF", "APP2 ICC_PROFILE"]
    with Image.open(out) as im:
        assert im.size == (96, 128) and len(im.getexif()) == 0 and "xmp" not in im.info

    kept = camera_jpeg.with_name("k.jpg")
    assert main(["compress", str(camera_jpeg), "-q", "40", "-o", str(kept)]) == 0
    png = camera_jpeg.with_name("s.png")
    assert main(["restore", str(kept), "--strip-metadata", "-o", str(png)]) == 0
    with Image.open(png) as im:
        assert im.info["icc_profile"] == SRGB and "exif" not in im.info and "xmp" not in im.info

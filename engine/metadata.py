"""Photo metadata (EXIF, XMP, ICC colour profile): read from an input, written into SideJPEG's outputs.

Into a JPEG it goes as APP1/APP2 segments inserted into the bytes the encoder wrote: the compressed
image data stays byte for byte what it was, and a sidecar made for those bytes still belongs to them
(its hash leaves metadata segments out: ``engine.sidecar.jpeg_digest``). Into a PNG it goes through
Pillow. Only what still describes the 8-bit RGB pixels SideJPEG works on is kept: EXIF's embedded
thumbnail and the tags of a TIFF's own pixel layout are left out, and so is a CMYK or grey colour
profile once the pixels are converted to RGB.
"""

from __future__ import annotations

import io
import os
import re
import struct
from dataclasses import dataclass, replace

from PIL import ExifTags, Image, PngImagePlugin

from engine.errors import SideJPEGError

EXIF_ID = b"Exif\x00\x00"
XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
ICC_ID = b"ICC_PROFILE\x00"
SEGMENT_MAX = 65533
"""Bytes an APPn segment holds after its marker and length field."""
ICC_CHUNK = SEGMENT_MAX - len(ICC_ID) - 2
"""Profile bytes per APP2 segment, after the identifier, the sequence number and the count."""
ICC_HEADER_BYTES = 128
XMP_TEXT_KEY = "XML:com.adobe.xmp"
"""The PNG iTXt keyword of an XMP packet."""

READABLE_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP")
"""The formats ``read_metadata`` opens from a path or bytes: those that carry EXIF, XMP or ICC profiles."""

TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""EXIF orientation -> the transposition that shows the stored pixels upright (1: none)."""

_T = ExifTags.Base
STORAGE_TAGS = frozenset({
    _T.NewSubfileType, _T.SubfileType, _T.ImageWidth, _T.ImageLength, _T.BitsPerSample, _T.Compression,
    _T.PhotometricInterpretation, _T.FillOrder, _T.StripOffsets, _T.SamplesPerPixel, _T.RowsPerStrip,
    _T.StripByteCounts, _T.MinSampleValue, _T.MaxSampleValue, _T.PlanarConfiguration, _T.Predictor,
    _T.ColorMap, _T.TileWidth, _T.TileLength, _T.TileOffsets, _T.TileByteCounts, _T.SubIFDs, _T.ExtraSamples,
    _T.SampleFormat, _T.JPEGTables, _T.JpegIFOffset, _T.JpegIFByteCount,
    _T.YCbCrSubSampling, _T.XMLPacket, _T.IPTCNAA, _T.ImageResources, _T.InterColorProfile,
})
"""Tags that describe how a file stores its pixels, or hold the XMP and ICC data kept apart: a TIFF's
own tags become EXIF without them."""

_XMP_ORIENTATION = (
    re.compile(rb"""(tiff:Orientation\s*=\s*["'])\s*\d+\s*(["'])"""),
    re.compile(rb"(<tiff:Orientation>)\s*\d+\s*(</tiff:Orientation>)"),
)


@dataclass(frozen=True)
class ImageMetadata:
    """What SideJPEG carries from an input image to its outputs."""

    exif: bytes | None = None
    """The EXIF block as a JPEG APP1 segment holds it: ``Exif\\0\\0`` and a TIFF structure, no thumbnail."""
    xmp: bytes | None = None
    """The XMP packet (UTF-8 XML)."""
    icc: bytes | None = None
    """An RGB ICC colour profile."""
    orientation: int = 1
    """EXIF orientation of the stored pixels, 1-8 (1: upright)."""
    notes: tuple[str, ...] = ()
    """What could not be kept, and why."""

    @property
    def kinds(self) -> tuple[str, ...]:
        """Which kinds are present, for reports: EXIF, GPS (inside EXIF), XMP, ICC."""
        found = [("EXIF", self.exif), ("GPS", self.exif and _has_gps(self.exif)), ("XMP", self.xmp),
                 ("ICC", self.icc)]
        return tuple(name for name, present in found if present)

    def upright(self) -> ImageMetadata:
        """The metadata once the orientation is applied to the pixels: EXIF and XMP say 1."""
        if self.orientation == 1:
            return self
        exif = _exif_with_orientation_1(self.exif) if self.exif else None
        xmp = self.xmp
        for pattern in _XMP_ORIENTATION:
            xmp = pattern.sub(rb"\g<1>1\g<2>", xmp) if xmp else xmp
        return replace(self, exif=exif, xmp=xmp, orientation=1)

    def stripped(self) -> ImageMetadata:
        """Only the colour profile, which the pixels need to look right: no EXIF (so no GPS), no XMP."""
        return replace(self, exif=None, xmp=None)


def read_metadata(source: Image.Image | str | os.PathLike | bytes) -> ImageMetadata:
    """The metadata of an opened image, or of a file (path or bytes) in one of ``READABLE_FORMATS``.

    Never fails on what the metadata holds: a part that cannot be read is left out with a note. A file
    in another format has none; one that cannot be opened at all raises SideJPEGError.
    """
    if isinstance(source, Image.Image):
        return _from_image(source)
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source, formats=READABLE_FORMATS) as image:
            return _from_image(image)
    except Image.UnidentifiedImageError:
        return ImageMetadata()
    except Exception as exc:  # Pillow raises many types on a damaged file
        raise SideJPEGError(f"cannot read the image's metadata: {exc}") from None


def apply_orientation(image: Image.Image, orientation: int) -> Image.Image:
    """The image as shown upright by a viewer that honours EXIF ``orientation`` (1-8)."""
    method = TRANSPOSE.get(orientation)
    return image if method is None else image.transpose(method)


def insert_metadata(jpeg: bytes, meta: ImageMetadata, strip: bool = False) -> bytes:
    """The JPEG with APP1 (EXIF, then XMP) and APP2 (ICC profile) segments after its SOI and APP0 segments.

    The rest of the file is kept byte for byte. ``jpeg`` is what an encoder wrote, with no EXIF, XMP or
    ICC segments of its own; ``strip`` keeps only the ICC profile (``ImageMetadata.stripped``).
    """
    meta = meta.stripped() if strip else meta
    at = _after_app0(jpeg)
    return jpeg[:at] + _segments(meta) + jpeg[at:]


def png_save_options(meta: ImageMetadata) -> dict:
    """Keyword arguments for Pillow's PNG ``save``: ICC profile (iCCP), EXIF (eXIf) and XMP (iTXt)."""
    options: dict = {"icc_profile": meta.icc, "exif": meta.exif}
    if meta.xmp:
        try:
            text = meta.xmp.decode("utf-8")
        except UnicodeDecodeError:
            return options  # XMP is UTF-8 by definition: a packet that is not is left out
        options["pnginfo"] = PngImagePlugin.PngInfo()
        options["pnginfo"].add_itxt(XMP_TEXT_KEY, text)
    return options


def _from_image(image: Image.Image) -> ImageMetadata:
    notes: list[str] = []
    exif, orientation = _read_exif(image, notes)
    xmp = image.info.get("xmp")
    xmp = xmp.encode("utf-8") if isinstance(xmp, str) else xmp
    return ImageMetadata(
        exif=_fitting("EXIF", exif, SEGMENT_MAX, notes),
        xmp=_fitting("XMP", xmp or None, SEGMENT_MAX - len(XMP_ID), notes),
        icc=_fitting("ICC colour profile", _rgb_profile(image.info.get("icc_profile"), notes), 255 * ICC_CHUNK, notes),
        orientation=orientation,
        notes=tuple(notes),
    )


def _read_exif(image: Image.Image, notes: list[str]) -> tuple[bytes | None, int]:
    """The cleaned EXIF block and the orientation (Pillow also finds it in XMP), noting what fails."""
    try:
        exif = image.getexif()
        orientation = int(exif.get(ExifTags.Base.Orientation, 1))
    except Exception:  # Pillow raises many types on damaged EXIF
        notes.append("EXIF data unreadable: orientation not applied, EXIF left out")
        return None, 1
    orientation = orientation if orientation in TRANSPOSE else 1
    try:
        return _cleaned(exif), orientation
    except Exception:
        notes.append("EXIF data could not be copied: left out")
        return None, orientation


def _parsed(exif: bytes) -> Image.Exif:
    tags = Image.Exif()
    tags.load(exif)
    return tags


def _cleaned(exif: Image.Exif) -> bytes | None:
    """IFD0 less ``STORAGE_TAGS``, with its EXIF, GPS and interoperability IFDs: Pillow writes no IFD1, so
    the embedded thumbnail is left out. (A copy: the image's own EXIF object stays as it was.)"""
    copy = _parsed(exif.tobytes())
    for tag in STORAGE_TAGS.intersection(copy):
        del copy[tag]
    return copy.tobytes() if len(copy) else None


def _exif_with_orientation_1(exif: bytes) -> bytes:
    tags = _parsed(exif)
    tags[ExifTags.Base.Orientation] = 1
    return tags.tobytes()


def _has_gps(exif: bytes) -> bool:
    return ExifTags.IFD.GPSInfo in _parsed(exif)


def _rgb_profile(icc: bytes | None, notes: list[str]) -> bytes | None:
    """The profile if it describes RGB data (bytes 16-19 of its header name the colour space)."""
    if not icc:
        return None
    if len(icc) < ICC_HEADER_BYTES:
        notes.append("colour profile truncated: left out")
        return None
    space = icc[16:20].decode("ascii", "replace").strip()
    if space != "RGB":
        notes.append(f"{space} colour profile left out (the image is stored as RGB)")
        return None
    return icc


def _fitting(what: str, data: bytes | None, limit: int, notes: list[str]) -> bytes | None:
    """``data`` if a JPEG can hold it (EXIF and XMP in one segment, an ICC profile in up to 255)."""
    if data is not None and len(data) > limit:
        notes.append(f"{what} left out: {len(data):,} bytes, more than a JPEG holds ({limit:,})")
        return None
    return data


def _segment(marker: int, data: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, 2 + len(data)) + data


def _segments(meta: ImageMetadata) -> bytes:
    parts = []
    if meta.exif:
        parts.append(_segment(0xE1, meta.exif))
    if meta.xmp:
        parts.append(_segment(0xE1, XMP_ID + meta.xmp))
    if meta.icc:
        chunks = [meta.icc[i : i + ICC_CHUNK] for i in range(0, len(meta.icc), ICC_CHUNK)]
        parts += [_segment(0xE2, ICC_ID + bytes([n, len(chunks)]) + c) for n, c in enumerate(chunks, 1)]
    return b"".join(parts)


def _after_app0(jpeg: bytes) -> int:
    """Offset just past the start-of-image marker and the APP0 (JFIF) segments that follow it."""
    if jpeg[:2] != b"\xff\xd8":
        raise SideJPEGError("not a JPEG file (missing start-of-image marker)")
    at = 2
    while jpeg[at : at + 2] == b"\xff\xe0":
        if at + 4 > len(jpeg):
            raise SideJPEGError("JPEG is truncated in its APP0 segment")
        at += 2 + struct.unpack_from(">H", jpeg, at + 2)[0]
    return at

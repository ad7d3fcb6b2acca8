"""Describe a sidecar file, or a JPEG and the side information that goes with it."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from engine.coding import adaptation as adapt
from engine.conditioning import Conditioning, JpegParams
from engine.config import DEFAULT_PRESET, LAMBDA_MIN
from engine.constraint import Constraint
from engine.container import check_jpeg_size, split_embedded
from engine.errors import SideJPEGError
from engine.jpeg_io import open_jpeg, params_of
from engine.resources import blind_calibration, preset_of
from engine.side_files import SIDECAR_SUFFIX, find_side_information, read_limited
from engine.sidecar import MAGIC, SidecarHeader, bind, unpack
from engine.strength import network_share


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a .side sidecar or a JPEG")


def describe_adaptation(stream: bytes, exponents: int) -> str:
    adaptation = adapt.decode(stream, exponents)
    if not adaptation.sent:
        return "  adaptation: none (it would not pay for this image)"
    return (
        f"  adaptation: {', '.join(adaptation.sent)} ({len(stream)} bytes, "
        f"{adaptation.size} weights per channel)"
    )


def describe_constraint(header: SidecarHeader) -> str:
    if header.unconstrained:
        return "  constraint: off (the encoder found the JPEG itself better than within its quantisation constraint)"
    if header.shows_blind:
        return (
            "  shown as blind decoding shows it: the encoder found that image closer to the original than its "
            "descriptors' (a fine JPEG, which blind decoding shows with a share of the network)"
        )
    kept = "decoded anew from its coefficients" if header.keeps_decoded_anew else "its own pixels within it"
    return f"  constraint: restored within the JPEG's quantisation constraint; kept blocks show the JPEG {kept}"


def describe_sidecar(header: SidecarHeader, size: int, adaptation: bytes) -> list[str]:
    """What a sidecar holds; its image size and bpp once the header is bound to its JPEG (versions 5 on leave
    them to the JPEG)."""
    preset = preset_of(header.model_id) or "not installed"
    if header.width is None:
        image = "  image size, descriptors and bpp: from its JPEG (none beside it)"
    else:
        rows, cols = header.grid
        image = (
            f"  image {header.width}x{header.height}, {rows}x{cols} descriptors, "
            f"{size * 8 / (header.width * header.height):.4f} bpp"
        )
    return [
        f"  sidecar version {header.version}: {size} bytes ({header.header_bytes} header, "
        f"{header.payload_bytes} descriptor map, {header.adaptation_bytes} adaptation, 4 checksum)",
        describe_adaptation(adaptation, header.adaptation_exponents),
        describe_constraint(header),
        image,
        f"  JPEG quality {header.quality or 'unknown'}, lambda {header.lam:g}",
        f"  model {header.model_id.hex()} (preset: {preset}), for JPEG {header.jpeg_hash.hex()}",
    ]


def blind_fate(jpeg: bytes, params: JpegParams) -> str:
    """What the default model does with this JPEG when no side information comes with it."""
    calibration = blind_calibration(DEFAULT_PRESET)
    if calibration is None:
        return f"restored blindly by {DEFAULT_PRESET}"
    threshold, shares = calibration
    decodable = Constraint.of(jpeg) is not None
    share = network_share(Conditioning.of(params, LAMBDA_MIN), threshold, shares, decodable)
    finer = f"finer than the mean luma step {threshold:.2f} from which on {DEFAULT_PRESET} was measured to gain"
    if share == 1.0:
        return f"restored blindly by {DEFAULT_PRESET}"
    if share == 0.0:
        return f"shown decoded anew from its coefficients: {finer}" if decodable else f"shown as it is: {finer}"
    return (
        f"decoded anew from its coefficients and moved {share:.0%} of the way to {DEFAULT_PRESET}'s "
        "restoration (the share calibrated for its quality and chroma sampling)"
    )


def _opened(plain: bytes) -> Image.Image:
    """The JPEG, its size checked before anything is decoded."""
    check_jpeg_size(plain)
    return open_jpeg(plain)


def _bound_to_jpeg_beside(path: Path, header: SidecarHeader) -> tuple[SidecarHeader, list[str]]:
    """The header bound to the JPEG beside ``photo.jpg.side`` when there is one, else as it is; and a line
    saying why a JPEG there does not fit it."""
    jpeg_path = path.with_name(path.name.removesuffix(SIDECAR_SUFFIX))
    if jpeg_path == path or not jpeg_path.is_file():
        return header, []
    try:
        plain = split_embedded(read_limited(jpeg_path))[0]
        return bind(header, plain, params_of(_opened(plain))), []
    except SideJPEGError as exc:
        return header, [f"  not for {jpeg_path.name} beside it: {exc}"]


def run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    data = read_limited(path)
    if data[:4] == MAGIC:
        header, _, adaptation = unpack(data)
        print(f"{path}: SideJPEG sidecar")
        header, note = _bound_to_jpeg_beside(path, header)
        print("\n".join(describe_sidecar(header, len(data), adaptation) + note))
        return 0
    found = find_side_information(path, data)
    plain = found.jpeg
    image = _opened(plain)
    params = params_of(image)
    width, height = image.size
    print(f"{path}: JPEG {width}x{height}, {len(plain)} bytes, {len(plain) * 8 / (width * height):.4f} bpp")
    print(
        f"  mean quantiser step luma {params.luma_step:.1f}, chroma {params.chroma_step:.1f}, "
        f"sampling {params.subsampling}"
    )
    sidecar, where = found.sidecar, found.where
    if sidecar is None:
        print(f"  no side information: {blind_fate(plain, params)}")
        return 0
    header, _, adaptation = unpack(sidecar)
    header = bind(header, plain, params)
    print(f"  side information: {where}")
    print("\n".join(describe_sidecar(header, len(sidecar), adaptation)))
    return 0

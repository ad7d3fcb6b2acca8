"""The evaluation loop: every image at every quality through every method in every JPEG setting, then the outputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.errors import SideJPEGError
from engine.evaluation.anchors import DEFAULT_SETTINGS, FIXED_ANCHORS, PILLOW_ENCODERS, JpegSetting
from engine.evaluation.plot import plot_rd
from engine.evaluation.records import Record, write_json, write_records
from engine.evaluation.summary import build_summary
from engine.image_io import SUPPORTED_SUFFIXES, load_image
from engine.jpeg_io import decode_jpeg, encode_jpeg
from engine.metrics import psnr, psnr_ycbcr
from engine.pipeline import Codec

METHODS = ("jpeg", "jpeg-opt", "jpegli", "webp", "blind", "side")
CODEC_METHODS = frozenset({"blind", "side"})
"""Methods that run our networks (``jpeg-opt`` only needs its JPEG encoder)."""


@dataclass(frozen=True)
class Settings:
    data: Path
    out: Path
    qualities: tuple[int, ...]
    lambdas: tuple[float, ...]
    methods: tuple[str, ...] = METHODS
    jpegs: tuple[JpegSetting, ...] = DEFAULT_SETTINGS
    """The JPEG settings (encoder, chroma subsampling) measured, each with its own curves."""

    def __post_init__(self) -> None:
        if not any(jpeg.measures(m) for jpeg in self.jpegs for m in self.methods):
            pillows = ", ".join(sorted(PILLOW_ENCODERS))
            raise SideJPEGError(f"methods {','.join(self.methods)} need a Pillow encoder ({pillows})")

    @property
    def dataset(self) -> str:
        return self.data.resolve().name

    @property
    def needs_codec(self) -> bool:
        return not CODEC_METHODS.isdisjoint(self.methods)


USAGE_SHARE = 0.01


@dataclass
class SymbolUsage:
    """How often each symbol was sent, per lambda, over all images, qualities and settings of a run."""

    counts: dict[float, np.ndarray] = field(default_factory=dict)

    def add(self, lam: float, symbols: np.ndarray, count: int) -> None:
        total = self.counts.setdefault(lam, np.zeros(count, dtype=np.int64))
        total += np.bincount(symbols.ravel(), minlength=count)[:count]

    def summary(self) -> dict:
        """Per lambda the share of blocks of every symbol and how many symbols reach ``USAGE_SHARE``."""
        out = {}
        for lam, counts in sorted(self.counts.items()):
            shares = counts / max(1, counts.sum())
            out[f"{lam:g}"] = {
                "blocks": int(counts.sum()),
                "shares": [round(float(v), 5) for v in shares],
                "symbols_on_1pct_of_blocks": int((shares >= USAGE_SHARE).sum()),
            }
        return out


def find_images(data: Path, limit: int | None = None) -> list[Path]:
    """The readable images directly in ``data``, sorted by name, at most ``limit``."""
    if not data.exists():
        raise SideJPEGError(f"{data}: no such directory")
    if not data.is_dir():
        raise SideJPEGError(f"{data}: not a directory")
    images = sorted(p for p in data.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
    if not images:
        raise SideJPEGError(f"{data}: no images ({', '.join(SUPPORTED_SUFFIXES)})")
    return images[:limit]


@dataclass(frozen=True)
class _Target:
    """One image at one quality in one JPEG setting: what every record made there shares."""

    image: str
    original: np.ndarray
    quality: int
    setting: str

    def record(
        self, method: str, shown: np.ndarray, jpeg_bytes: int, side_bytes: int = 0, lam: float | None = None
    ) -> Record:
        pixels = self.original.shape[0] * self.original.shape[1]
        bpp_total, bpp_side = (jpeg_bytes + side_bytes) * 8 / pixels, side_bytes * 8 / pixels
        return Record(
            method, self.image, self.quality, lam, bpp_total, bpp_side, psnr(shown, self.original), self.setting,
            psnr_ycbcr(shown, self.original),
        )


def _side_records(
    at: _Target, subsampling: str, lambdas: tuple[float, ...], codec: Codec, usage: SymbolUsage | None
) -> list[Record]:
    records = []
    for lam in lambdas:
        result = codec.compress(at.original, at.quality, lam, subsampling)
        if usage is not None:
            usage.add(result.lam, result.symbols, codec.config.symbols)
        records.append(at.record("side", result.restored, len(result.jpeg), len(result.sidecar), result.lam))
    return records


def _setting_records(
    at: _Target, jpeg: JpegSetting, settings: Settings, codec: Codec | None, usage: SymbolUsage | None = None
) -> list[Record]:
    """The setting's methods: its plain JPEG, SideJPEG's own JPEG plain (``jpeg-opt``, Pillow encoders only),
    the encoder's JPEG restored blind, and SideJPEG's JPEG with its sidecar (``side``, Pillow encoders only)."""
    methods, rgb, quality = set(settings.methods), at.original, at.quality
    records = []
    if "jpeg" in methods:
        data = jpeg.plain(rgb, quality)
        records.append(at.record("jpeg", decode_jpeg(data), len(data)))
    if "jpeg-opt" in methods and jpeg.measures("jpeg-opt"):
        data = encode_jpeg(rgb, quality, jpeg.subsampling)
        records.append(at.record("jpeg-opt", decode_jpeg(data), len(data)))
    if "blind" in methods:
        data = jpeg.encode(rgb, quality)
        records.append(at.record("blind", codec.restore(data, None).image, len(data)))
    if "side" in methods and jpeg.measures("side"):
        records += _side_records(at, jpeg.subsampling, settings.lambdas, codec, usage)
    return records


def evaluate_quality(
    rgb: np.ndarray,
    image: str,
    quality: int,
    settings: Settings,
    codec: Codec | None,
    usage: SymbolUsage | None = None,
) -> list[Record]:
    """All methods on one image at one quality in every JPEG setting; the anchors that depend on no setting
    (``FIXED_ANCHORS``) are measured once, in the first setting."""
    records = []
    for jpeg in settings.jpegs:
        records += _setting_records(_Target(image, rgb, quality, jpeg.label), jpeg, settings, codec, usage)
    first = _Target(image, rgb, quality, settings.jpegs[0].label)
    for method, (encode, decode) in FIXED_ANCHORS.items():
        if method in settings.methods:
            data = encode(rgb, quality)
            records.append(first.record(method, decode(data), len(data)))
    return records


def run_records(
    settings: Settings, images: Sequence[Path], codec: Codec | None, usage: SymbolUsage | None = None
) -> list[Record]:
    """Measure every image at every quality, with a progress bar over (image, quality) pairs."""
    if settings.needs_codec and codec is None:
        raise SideJPEGError("methods blind and side need a model")
    if not any(jpeg.measures(m) for jpeg in settings.jpegs for m in settings.methods):
        raise SideJPEGError(
            f"methods {','.join(settings.methods)} need a Pillow encoder ({', '.join(sorted(PILLOW_ENCODERS))})"
        )
    records = []
    with tqdm(total=len(images) * len(settings.qualities), desc=settings.dataset, unit="point") as bar:
        for path in images:
            rgb = load_image(path).rgb
            for quality in settings.qualities:
                bar.set_postfix_str(f"{path.name} q{quality}")
                records += evaluate_quality(rgb, path.name, quality, settings, codec, usage)
                bar.update()
    return records


def evaluate(settings: Settings, images: Sequence[Path], codec: Codec | None) -> dict:
    """Run the evaluation and write rd.json, summary.json and rd.png into ``settings.out``; return the summary."""
    try:
        settings.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SideJPEGError(f"{settings.out}: cannot create output directory ({exc.strerror})") from None
    usage = SymbolUsage()
    records = run_records(settings, images, codec, usage)
    summary = build_summary(records, settings.dataset, [p.name for p in images])
    if usage.counts:
        summary["symbol_usage"] = usage.summary()
    write_records(settings.out / "rd.json", records)
    write_json(settings.out / "summary.json", summary)
    plot_rd(summary, settings.out / "rd.png")
    return summary

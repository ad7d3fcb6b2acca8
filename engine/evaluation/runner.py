"""The evaluation loop: every image at every quality through every method, then the outputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.errors import SideJPEGError
from engine.evaluation import anchors
from engine.evaluation.plot import plot_rd
from engine.evaluation.records import Record, write_json, write_records
from engine.evaluation.summary import build_summary
from engine.image_io import SUPPORTED_SUFFIXES, load_image
from engine.metrics import psnr
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

    @property
    def dataset(self) -> str:
        return self.data.resolve().name

    @property
    def needs_codec(self) -> bool:
        return not CODEC_METHODS.isdisjoint(self.methods)


USAGE_SHARE = 0.01


@dataclass
class SymbolUsage:
    """How often each symbol was sent, per lambda, over all images and qualities of a run."""

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


def _record(
    method: str,
    image: str,
    original: np.ndarray,
    quality: int,
    shown: np.ndarray,
    jpeg_bytes: int,
    side_bytes: int = 0,
    lam: float | None = None,
) -> Record:
    pixels = original.shape[0] * original.shape[1]
    return Record(
        method,
        image,
        quality,
        lam,
        (jpeg_bytes + side_bytes) * 8 / pixels,
        side_bytes * 8 / pixels,
        psnr(shown, original),
    )


def evaluate_quality(
    rgb: np.ndarray,
    image: str,
    quality: int,
    settings: Settings,
    codec: Codec | None,
    usage: SymbolUsage | None = None,
) -> list[Record]:
    """All methods on one image at one quality; each (quality, lambda) is compressed once."""
    methods = set(settings.methods)
    records = []
    for method, (encode, decode) in anchors.ANCHORS.items():
        if method in methods:
            data = encode(rgb, quality)
            records.append(_record(method, image, rgb, quality, decode(data), len(data)))
    made = [codec.compress(rgb, quality, lam) for lam in settings.lambdas] if "side" in methods else []
    if "jpeg-opt" in methods or "blind" in methods:
        jpeg, decoded = (made[0].jpeg, made[0].jpeg_decoded) if made else Codec.encode_jpeg(rgb, quality)
        if "jpeg-opt" in methods:
            records.append(_record("jpeg-opt", image, rgb, quality, decoded, len(jpeg)))
        if "blind" in methods:
            records.append(_record("blind", image, rgb, quality, codec.restore(jpeg, None).image, len(jpeg)))
    for result in made:
        if usage is not None:
            usage.add(result.lam, result.symbols, codec.config.symbols)
        restored = codec.restore(result.jpeg, result.sidecar).image
        records.append(
            _record("side", image, rgb, quality, restored, len(result.jpeg), len(result.sidecar), result.lam)
        )
    return records


def run_records(
    settings: Settings, images: Sequence[Path], codec: Codec | None, usage: SymbolUsage | None = None
) -> list[Record]:
    """Measure every image at every quality, with a progress bar over (image, quality) pairs."""
    if settings.needs_codec and codec is None:
        raise SideJPEGError("methods blind and side need a model")
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

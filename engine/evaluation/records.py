"""Rate-distortion records and mean points, and their JSON form."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from engine.atomic import write_bytes

DEFAULT_SETTING = "pillow 4:2:0"
"""The JPEG setting (encoder and chroma subsampling) of every record made before settings were recorded."""


@dataclass(frozen=True)
class Record:
    """One measured point: a method on one image at one quality (and lambda, for ``side``) in one JPEG setting."""

    method: str
    image: str
    quality: int
    lam: float | None
    bpp_total: float
    bpp_side: float
    psnr: float
    setting: str = DEFAULT_SETTING
    psnr_ycbcr: tuple[float, float, float] | None = None
    """PSNR of Y, Cb and Cr (``engine.metrics.psnr_ycbcr``); None in records made before it was measured."""

    @property
    def curve(self) -> str:
        return curve_name(self.method, self.lam, self.setting)

    def channel(self, index: int) -> Record:
        """This record with the PSNR of one YCbCr channel in place of the RGB PSNR."""
        return replace(self, psnr=self.psnr_ycbcr[index])


@dataclass(frozen=True)
class Point:
    """A point of a mean RD curve: averages over ``images`` images at one quality."""

    quality: int
    lam: float | None
    bpp_total: float
    bpp_side: float
    psnr: float
    images: int


def curve_name(method: str, lam: float | None, setting: str = DEFAULT_SETTING) -> str:
    """``side@32`` for a side curve, the method name otherwise; other settings than the default are
    named after it: ``blind [jpegli auto]``."""
    name = method if lam is None else f"{method}@{lam:g}"
    return name if setting == DEFAULT_SETTING else f"{name} [{setting}]"


COMPACT = (",", ":")
"""JSON separators of the records and summaries: the committed ones travel with the checkout to a lent GPU,
whose 64 MiB they would otherwise fill a fifth faster."""


def to_json(obj: Any) -> bytes:
    return (json.dumps(obj, separators=COMPACT) + "\n").encode()


def write_json(path: Path, obj: Any) -> None:
    write_bytes(path, to_json(obj))


def write_records(path: Path, records: list[Record]) -> None:
    write_bytes(path, records_json([asdict(r) for r in records]))


def records_json(items: list[dict]) -> bytes:
    """A JSON list with one record per line, which still reads and diffs point by point."""
    return ("[\n" + ",\n".join(json.dumps(item, separators=COMPACT) for item in items) + "\n]\n").encode()


def read_records(path: Path) -> list[Record]:
    """The records of an ``rd.json``; those written before settings were recorded get ``DEFAULT_SETTING``."""
    records = [Record(**item) for item in json.loads(Path(path).read_text())]
    return [r if r.psnr_ycbcr is None else replace(r, psnr_ycbcr=tuple(r.psnr_ycbcr)) for r in records]


def merge_records(runs: list[list[Record]]) -> list[Record]:
    """The records of several runs (say, one set evaluated in parts); a point measured twice is an error."""
    merged: dict[tuple, Record] = {}
    for records in runs:
        for r in records:
            key = (r.setting, r.method, r.image, r.quality, r.lam)
            if key in merged:
                raise ValueError(f"{r.curve} on {r.image} at q{r.quality} appears in more than one run")
            merged[key] = r
    return list(merged.values())

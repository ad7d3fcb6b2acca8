"""Mean RD curves, BD tables against the anchors, and the text table printed at the end."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.evaluation.anchors import PUBLISHED
from engine.evaluation.bdrate import bd, upper_left_hull
from engine.evaluation.records import DEFAULT_SETTING, Point, Record, curve_name
from engine.evaluation.safety import format_safety, safety_section

HULL = "side-hull"
BD_ANCHORS = ("jpeg", "jpeg-opt", "blind")
RANGES = ((10, 40), (10, 75))
"""Quality ranges (inclusive) of the BD figures; only the qualities evaluated count."""

PROTOCOL = (
    "PSNR in dB on 8-bit RGB over the whole image; bpp = (JPEG + sidecar bytes) * 8 / (W * H); "
    "curve points are means over images at each quality; BD with the bjontegaard package (Akima)"
)


@dataclass(frozen=True)
class Curve:
    """A mean RD curve: one method (at one lambda, for ``side``) in one JPEG setting."""

    method: str
    lam: float | None
    setting: str
    points: list[Point]

    def entry(self) -> dict:
        """The curve's JSON form in summary.json."""
        return {
            "method": self.method,
            "lam": self.lam,
            "setting": self.setting,
            "points": [asdict(p) for p in self.points],
        }


def _mean_point(group: list[Record]) -> Point:
    first = group[0]
    return Point(
        first.quality,
        first.lam,
        float(np.mean([r.bpp_total for r in group])),
        float(np.mean([r.bpp_side for r in group])),
        float(np.mean([r.psnr for r in group])),
        len(group),
    )


def _grouped(records: list[Record], key: Callable[[Record], Hashable]) -> dict[Any, list[Record]]:
    """Records by ``key``, in order of first appearance."""
    groups: dict[Any, list[Record]] = defaultdict(list)
    for r in records:
        groups[key(r)].append(r)
    return groups


def _setting_curves(records: list[Record], setting: str) -> dict[str, Curve]:
    curves = {}
    for name, group in _grouped(records, lambda r: r.curve).items():
        by_quality = sorted(_grouped(group, lambda r: r.quality).items())
        curves[name] = Curve(group[0].method, group[0].lam, setting, [_mean_point(g) for _, g in by_quality])
    side = [p for curve in curves.values() if curve.method == "side" for p in curve.points]
    if side:
        curves[curve_name(HULL, None, setting)] = Curve(HULL, None, setting, upper_left_hull(side))
    return curves


def mean_curves(records: list[Record]) -> dict[str, Curve]:
    """Mean points per curve (``side@lam`` per lambda) and quality, setting by setting, each setting with
    the ``side-hull`` of its side points."""
    curves: dict[str, Curve] = {}
    for setting, group in _grouped(records, lambda r: r.setting).items():
        curves |= _setting_curves(group, setting)
    return curves


def bd_tables(records: list[Record]) -> dict[str, dict[str, dict[str, dict]]]:
    """``{range: {curve: {anchor: bd}}}`` with curves and hull rebuilt from the qualities in each range; each
    curve is compared with the anchors of its own setting (``jpeg`` is that setting's plain JPEG)."""
    tables = {}
    for lo, hi in RANGES:
        curves = mean_curves([r for r in records if lo <= r.quality <= hi])
        tables[f"{lo}-{hi}"] = {
            name: {
                a: bd(curves[anchor].points, curve.points)
                for a in BD_ANCHORS
                if (anchor := curve_name(a, None, curve.setting)) in curves
            }
            for name, curve in curves.items()
        }
    return tables


CHANNELS = ("Y", "Cb", "Cr")


def channel_bd_tables(records: list[Record]) -> dict[str, dict]:
    """``bd_tables`` with the PSNR of each YCbCr channel in place of the RGB PSNR, for the records that
    measured it (all of them, or the table is empty)."""
    if not records or any(r.psnr_ycbcr is None for r in records):
        return {}
    return {name: bd_tables([r.channel(i) for r in records]) for i, name in enumerate(CHANNELS)}


def build_summary(records: list[Record], dataset: str, images: list[str]) -> dict:
    return {
        "dataset": dataset,
        "images": images,
        "qualities": sorted({r.quality for r in records}),
        "lambdas": sorted({r.lam for r in records if r.lam is not None}),
        "settings": list(dict.fromkeys(r.setting for r in records)),
        "protocol": PROTOCOL,
        "curves": {name: curve.entry() for name, curve in mean_curves(records).items()},
        "bd": bd_tables(records),
        "bd_channels": channel_bd_tables(records),
        "safety": safety_section(records),
        "published": PUBLISHED,
    }


def restrict_to(records: list[Record], like: dict) -> list[Record]:
    """The records at the images, qualities, lambdas, methods and settings another run's summary measured.

    Raises ValueError when an image of that run has no record here.
    """
    images, qualities, lambdas = set(like["images"]), set(like["qualities"]), set(like["lambdas"])
    curves = {(curve["method"], curve.get("setting", DEFAULT_SETTING)) for curve in like["curves"].values()}
    kept = [
        r
        for r in records
        if r.image in images
        and r.quality in qualities
        and (r.method, r.setting) in curves
        and (r.lam is None or r.lam in lambdas)
    ]
    missing = images - {r.image for r in kept}
    if missing:
        raise ValueError(f"no records for {', '.join(sorted(missing))}")
    return kept


def _bd_cell(entry: dict | None) -> str:
    if entry is None or entry["bd_rate"] is None or entry["bd_psnr"] is None:
        return "n/a"
    flag = "*" if "note" in entry else ""
    return f"{entry['bd_rate']:+.1f}%/{entry['bd_psnr']:+.2f}{flag}"


def _rd_lines(summary: dict, name_width: int) -> list[str]:
    qualities = summary["qualities"]
    lines = [f"{'curve':<{name_width}}" + "".join(f"{'q' + str(q):>13}" for q in qualities) + "  side%"]
    for name, curve in summary["curves"].items():
        if curve["method"] == HULL:
            continue
        by_q = {p["quality"]: p for p in curve["points"]}
        cells = "".join(
            f"{by_q[q]['psnr']:>7.2f}@{by_q[q]['bpp_total']:<5.3f}" if q in by_q else f"{'':13}" for q in qualities
        )
        share = np.mean([p["bpp_side"] / p["bpp_total"] for p in curve["points"]])
        lines.append(f"{name:<{name_width}}{cells}" + (f"  {100 * share:5.1f}" if share else ""))
    for method, by_q in summary["published"]["psnr"].items():
        cells = "".join(f"{by_q[str(q)]:>7.2f}{'':6}" if str(q) in by_q else f"{'':13}" for q in qualities)
        lines.append(f"{method + ' [1]':<{name_width}}{cells}")
    return lines


def _bd_lines(summary: dict, name_width: int) -> list[str]:
    bd_by_range = summary["bd"]
    columns = [(rng, a) for rng in bd_by_range for a in BD_ANCHORS if any(a in e for e in bd_by_range[rng].values())]
    lines = [f"{'vs':<{name_width}}" + "".join(f"{a + ' ' + rng:>17}" for rng, a in columns)]
    for name in summary["curves"]:
        cells = "".join(f"{_bd_cell(bd_by_range[rng].get(name, {}).get(a)):>17}" for rng, a in columns)
        lines.append(f"{name:<{name_width}}{cells}")
    return lines


def format_table(summary: dict) -> str:
    """Mean PSNR@bpp per curve and quality, published figures, BD-rate/BD-PSNR against the anchors, symbol use
    and the safety table."""
    width = max(12, *(len(n) + 2 for n in summary["curves"]))
    n = len(summary["images"])
    return "\n".join(
        [
            f"{summary['dataset']}: {n} image{'s' if n != 1 else ''}; mean PSNR dB (RGB) @ bpp (JPEG + sidecar)",
            *_rd_lines(summary, width),
            f"[1] published, {summary['published']['dataset']}: {summary['published']['source']}",
            *_hull_lines(summary),
            "BD-rate % / BD-PSNR dB against anchors (* with a warning, n/a not computable: notes in summary.json)",
            *_bd_lines(summary, width),
            *_channel_lines(summary),
            *_usage_lines(summary),
            *format_safety(summary),
        ]
    )


def _channel_lines(summary: dict) -> list[str]:
    """BD-rate of the side-information hull against blind restoration, per YCbCr channel's PSNR."""
    by_channel = summary.get("bd_channels") or {}
    lines = []
    for rng in summary["bd"]:
        hulls = [name for name in summary["bd"][rng] if name.startswith(HULL)]
        for name in hulls:
            cells = [
                f"{channel} {_bd_cell(tables[rng].get(name, {}).get('blind'))}"
                for channel, tables in by_channel.items()
            ]
            if cells:
                lines.append(f"{name} vs blind {rng}, by channel: " + ", ".join(cells))
    return lines


def _hull_lines(summary: dict) -> list[str]:
    return [
        f"{name}: " + " -> ".join(f"q{p['quality']}@{p['lam']:g}" for p in curve["points"])
        for name, curve in summary["curves"].items()
        if curve["method"] == HULL
    ]


def _usage_lines(summary: dict) -> list[str]:
    usage = summary.get("symbol_usage", {})
    return [
        f"symbols on >= 1 % of blocks at lambda {lam}: {entry['symbols_on_1pct_of_blocks']} of {len(entry['shares'])}"
        for lam, entry in usage.items()
    ]

"""Bjontegaard deltas between mean RD curves (``bjontegaard`` package, Akima), and the RD hull."""

from __future__ import annotations

import math
import warnings
from itertools import pairwise

import bjontegaard

from engine.evaluation.records import Point

MIN_POINTS = 4
"""Fewest points per curve for a BD figure; fewer gives no number but a note."""


def _cross(a: Point, b: Point, c: Point) -> float:
    return (b.bpp_total - a.bpp_total) * (c.psnr - a.psnr) - (b.psnr - a.psnr) * (c.bpp_total - a.bpp_total)


def upper_left_hull(points: list[Point]) -> list[Point]:
    """The concave upper-left envelope in (bpp, PSNR): the points no mix of others beats."""
    hull: list[Point] = []
    for p in sorted(points, key=lambda p: (p.bpp_total, -p.psnr)):
        if hull and p.psnr <= hull[-1].psnr:
            continue  # costs more and gives no more quality than the last vertex
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) >= 0:
            hull.pop()
        hull.append(p)
    return hull


def _problem(curve: list[Point], role: str) -> str | None:
    if len(curve) < MIN_POINTS:
        return f"{role} has {len(curve)} points, {MIN_POINTS} needed"
    ordered = sorted(curve, key=lambda p: p.bpp_total)
    if any(b.bpp_total <= a.bpp_total or b.psnr <= a.psnr for a, b in pairwise(ordered)):
        return f"{role} curve is not strictly increasing"
    return None


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def bd(anchor: list[Point], test: list[Point]) -> dict:
    """``{"bd_rate": %, "bd_psnr": dB}`` of ``test`` against ``anchor``; None and a note when not computable."""
    problem = _problem(anchor, "anchor") or _problem(test, "test")
    if problem:
        return {"bd_rate": None, "bd_psnr": None, "note": f"skipped: {problem}"}
    a, t = (sorted(c, key=lambda p: p.bpp_total) for c in (anchor, test))
    args = ([p.bpp_total for p in a], [p.psnr for p in a], [p.bpp_total for p in t], [p.psnr for p in t])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rate = bjontegaard.bd_rate(*args, method="akima", require_matching_points=False)
        gain = bjontegaard.bd_psnr(*args, method="akima", require_matching_points=False)
    result: dict = {"bd_rate": _finite(rate), "bd_psnr": _finite(gain)}
    if caught:
        result["note"] = "; ".join(dict.fromkeys(str(w.message) for w in caught))
    return result

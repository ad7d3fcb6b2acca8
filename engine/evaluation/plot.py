"""The RD plot: PSNR against bpp, one curve per method and lambda, a panel per JPEG setting."""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from engine.atomic import atomic_path
from engine.evaluation.records import curve_name
from engine.evaluation.summary import HULL

ANCHOR_STYLE = {
    "jpeg": ("tab:gray", "o"),
    "jpeg-opt": ("black", "s"),
    "jpegli": ("tab:orange", "D"),
    "webp": ("tab:green", "v"),
    "blind": ("tab:red", "^"),
}


def _style(curve: dict, lambdas: list[float]) -> dict:
    if curve["method"] == HULL:
        return {"color": "tab:blue", "linestyle": "--", "linewidth": 2.5, "alpha": 0.5}
    if curve["method"] in ANCHOR_STYLE:
        color, marker = ANCHOR_STYLE[curve["method"]]
        return {"color": color, "marker": marker, "markersize": 4}
    shade = 0.15 + 0.7 * lambdas.index(curve["lam"]) / max(1, len(lambdas) - 1)
    return {"color": colormaps["viridis"](shade), "marker": "o", "markersize": 4}


def _panel(ax: Axes, curves: list[dict], lambdas: list[float], title: str) -> None:
    for curve in curves:
        points = sorted(curve["points"], key=lambda p: p["bpp_total"])
        label = curve_name(curve["method"], curve["lam"])
        ax.plot([p["bpp_total"] for p in points], [p["psnr"] for p in points], label=label, **_style(curve, lambdas))
    for p in (p for curve in curves if curve["method"] == "jpeg" for p in curve["points"]):
        ax.annotate(
            f"q{p['quality']}",
            (p["bpp_total"], p["psnr"]),
            textcoords="offset points",
            xytext=(4, -10),
            fontsize=7,
            color="tab:gray",
        )
    ax.set_title(title)
    ax.set_xlabel("bits per pixel (JPEG + sidecar)")
    ax.set_ylabel("PSNR (dB, 8-bit RGB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def plot_rd(summary: dict, path: Path) -> None:
    """Write ``rd.png`` (atomically) from a summary's mean curves, a panel per JPEG setting."""
    settings = summary["settings"]
    cols = min(2, len(settings))
    rows = math.ceil(len(settings) / cols)
    fig = Figure(figsize=(8 * cols, 6 * rows), dpi=120)
    n = len(summary["images"])
    title = f"{summary['dataset']}: {n} image{'s' if n != 1 else ''}, mean RGB PSNR vs bpp"
    for index, setting in enumerate(settings):
        curves = [c for c in summary["curves"].values() if c["setting"] == setting]
        ax = fig.add_subplot(rows, cols, index + 1)
        _panel(ax, curves, summary["lambdas"], title if len(settings) == 1 else f"{title}, {setting}")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")

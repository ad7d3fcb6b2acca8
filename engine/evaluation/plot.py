"""The RD plot: PSNR against bpp, one curve per method and lambda."""

from __future__ import annotations

from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure

from engine.atomic import atomic_path
from engine.evaluation.summary import HULL

ANCHOR_STYLE = {
    "jpeg": ("tab:gray", "o"),
    "jpeg-opt": ("black", "s"),
    "jpegli": ("tab:orange", "D"),
    "webp": ("tab:green", "v"),
    "blind": ("tab:red", "^"),
}


def _style(name: str, side_index: int, side_count: int) -> dict:
    if name == HULL:
        return {"color": "tab:blue", "linestyle": "--", "linewidth": 2.5, "alpha": 0.5}
    if name in ANCHOR_STYLE:
        color, marker = ANCHOR_STYLE[name]
        return {"color": color, "marker": marker, "markersize": 4}
    shade = 0.15 + 0.7 * side_index / max(1, side_count - 1)
    return {"color": colormaps["viridis"](shade), "marker": "o", "markersize": 4}


def plot_rd(summary: dict, path: Path) -> None:
    """Write ``rd.png`` (atomically) from a summary's mean curves."""
    fig = Figure(figsize=(8, 6), dpi=120)
    ax = fig.add_subplot()
    sides = [n for n in summary["curves"] if n.startswith("side@")]
    for name, curve in summary["curves"].items():
        points = sorted(curve["points"], key=lambda p: p["bpp_total"])
        index = sides.index(name) if name in sides else 0
        ax.plot(
            [p["bpp_total"] for p in points], [p["psnr"] for p in points], label=name, **_style(name, index, len(sides))
        )
    if "jpeg" in summary["curves"]:
        for p in summary["curves"]["jpeg"]["points"]:
            ax.annotate(
                f"q{p['quality']}",
                (p["bpp_total"], p["psnr"]),
                textcoords="offset points",
                xytext=(4, -10),
                fontsize=7,
                color="tab:gray",
            )
    n = len(summary["images"])
    ax.set_title(f"{summary['dataset']}: {n} image{'s' if n != 1 else ''}, mean RGB PSNR vs bpp")
    ax.set_xlabel("bits per pixel (JPEG + sidecar)")
    ax.set_ylabel("PSNR (dB, 8-bit RGB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")

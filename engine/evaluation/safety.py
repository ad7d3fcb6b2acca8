"""Never worse than the JPEG? The change of PSNR that restoring (``blind``, ``side``) brings to each image
against the plain decode of the same JPEG setting at the same quality, and the README's table of it:

    python -m engine.evaluation.safety eval/kodak/summary.json eval/live1/summary.json --qualities 10,50,90

prints, per setting, quality and method, "mean (worst image)" in dB for every summary given.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from engine.evaluation.records import Record, curve_name

RESTORING = ("blind", "side")
CELL_WIDTH = 17


def _changes(records: list[Record]) -> dict[str, dict[int, dict[tuple, list[tuple[float, str]]]]]:
    """``{setting: {quality: {(method, lam): [(PSNR change, image)]}}}`` over the records with a plain JPEG to
    compare with (the ``jpeg`` record of the same setting, image and quality)."""
    plain = {(r.setting, r.image, r.quality): r.psnr for r in records if r.method == "jpeg"}
    changes: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in records:
        base = plain.get((r.setting, r.image, r.quality))
        if r.method in RESTORING and base is not None:
            changes[r.setting][r.quality][r.method, r.lam].append((r.psnr - base, r.image))
    return changes


def _stats(changes: list[tuple[float, str]]) -> dict:
    worst, image = min(changes)
    return {
        "mean": float(np.mean([c for c, _ in changes])),
        "worst": worst,
        "worst_image": image,
        "images": len(changes),
    }


def _blind_then_side_by_lambda(item: tuple[tuple[str, float | None], list]) -> tuple[str, float]:
    (method, lam), _ = item
    return method, lam or 0.0


def safety_section(records: list[Record]) -> dict[str, dict[str, dict[str, dict]]]:
    """``{setting: {quality: {method: {"mean", "worst", "worst_image", "images"}}}}``: the PSNR change in dB,
    restored minus plain JPEG of the same setting and quality, over the images, with the worst image."""
    return {
        setting: {
            str(quality): {
                curve_name(method, lam): _stats(changes)
                for (method, lam), changes in sorted(by_method.items(), key=_blind_then_side_by_lambda)
            }
            for quality, by_method in sorted(by_quality.items())
        }
        for setting, by_quality in _changes(records).items()
    }


def _methods(safety: dict) -> list[str]:
    return list(
        dict.fromkeys(m for by_quality in safety.values() for by_method in by_quality.values() for m in by_method)
    )


def _text_cell(entry: dict | None) -> str:
    return f"{entry['mean']:+.2f} / {entry['worst']:+.2f}" if entry else ""


def format_safety(summary: dict) -> list[str]:
    """The summary's safety section as text: a row per setting and quality, "mean / worst" per method."""
    safety = summary.get("safety") or {}
    if not safety:
        return []
    methods = _methods(safety)
    width = max(len(s) for s in safety) + 2
    lines = [
        "PSNR change (dB) against the same setting's plain JPEG, per image: mean / worst",
        f"{'setting':<{width}}{'q':>4}" + "".join(f"{m:>{CELL_WIDTH}}" for m in methods),
    ]
    for setting, by_quality in safety.items():
        for quality, by_method in by_quality.items():
            cells = "".join(f"{_text_cell(by_method.get(m)):>{CELL_WIDTH}}" for m in methods)
            lines.append(f"{setting:<{width}}{quality:>4}{cells}")
    return lines


def _markdown_cell(entry: dict | None) -> str:
    return f"{entry['mean']:+.2f} ({entry['worst']:+.2f})" if entry else "n/a"


def markdown_table(
    summaries: Sequence[dict],
    qualities: Sequence[int] | None = None,
    settings: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
) -> str:
    """A markdown table of the PSNR gain over the JPEG, "mean (worst image)" in dB, with a column per summary
    (test set) and a row per setting, quality and method (by default all that any summary has)."""
    safeties = [s["safety"] for s in summaries]
    settings = settings or list(dict.fromkeys(name for safety in safeties for name in safety))
    qualities = qualities or sorted({int(q) for safety in safeties for by_q in safety.values() for q in by_q})
    methods = methods or list(dict.fromkeys(m for safety in safeties for m in _methods(safety)))
    lines = [
        "| setting | quality | method | "
        + " | ".join(f"{s['dataset']} ({len(s['images'])})" for s in summaries)
        + " |",
        "| --- | ---: | --- |" + " ---: |" * len(summaries),
    ]
    for setting in settings:
        for quality in qualities:
            for method in methods:
                entries = [safety.get(setting, {}).get(str(quality), {}).get(method) for safety in safeties]
                if any(entries):
                    cells = " | ".join(_markdown_cell(e) for e in entries)
                    lines.append(f"| {setting} | {quality} | {method} | {cells} |")
    return "\n".join(lines)

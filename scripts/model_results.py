"""Distil ``sidejpeg eval`` summaries into the measured-results file shipped beside a model.

    python scripts/model_results.py eval/kodak/summary.json eval/live1/summary.json \
        -o resources/models/fast.results.json

The GUI reads ``side_vs_blind_bd_rate_q10_40`` (via ``engine.measured_side_vs_blind``) to say
whether the side information pays for its bits with these weights.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.atomic import write_bytes

PAIRS = {"side_vs_jpeg": ("side-hull", "jpeg"), "side_vs_jpeg_opt": ("side-hull", "jpeg-opt"),
         "side_vs_blind": ("side-hull", "blind"), "blind_vs_jpeg": ("blind", "jpeg")}


def bd(summary: dict, span: str, test: str, anchor: str) -> float | None:
    entry = summary["bd"].get(span, {}).get(test, {}).get(anchor)
    return None if entry is None else entry.get("bd_rate")


def distil(summaries: list[dict]) -> dict:
    out: dict = {
        "source": "sidejpeg eval summaries (BD-rate %, side-hull = best lambda per point)",
        "images": {s["dataset"]: len(s["images"]) for s in summaries},
    }
    for name, (test, anchor) in PAIRS.items():
        for span in ("10-40", "10-75"):
            key = f"{name}_bd_rate_q{span.replace('-', '_')}"
            out[key] = {s["dataset"]: bd(s, span, test, anchor) for s in summaries}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summaries", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    summaries = [json.loads(p.read_text()) for p in args.summaries]
    write_bytes(args.output, (json.dumps(distil(summaries), indent=2) + "\n").encode())


if __name__ == "__main__":
    main()

"""Which images one evaluation shows lower than another, method by method:
``python -m benchmarks.compare_runs BEFORE/rd.json AFTER/rd.json [--method blind]``.

Both are ``sidejpeg eval`` records of the same images and settings. For every (setting, quality) this
counts the images whose change of PSNR against their JPEG is lower after than before, and prints the
largest such drop, the lowest image after, and the cells whose worst image dropped: what "never worse than
before" needs besides each cell's mean and worst.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

Cell = tuple[str, int]


def changes(path: Path, method: str) -> dict[Cell, dict[str, float]]:
    """Change of PSNR against the JPEG of each image under ``method``, by (setting, quality); at lambda
    records, the lowest lambda's (``--lambdas`` with one value is the usual case)."""
    records = json.loads(path.read_text())
    jpeg = {(r["setting"], r["quality"], r["image"]): r["psnr"] for r in records if r["method"] == "jpeg"}
    found: dict[Cell, dict[str, float]] = defaultdict(dict)
    for r in sorted((r for r in records if r["method"] == method), key=lambda r: -(r["lam"] or 0)):
        found[(r["setting"], r["quality"])][r["image"]] = r["psnr"] - jpeg[(r["setting"], r["quality"], r["image"])]
    return found


def compared(before: dict[Cell, dict[str, float]], after: dict[Cell, dict[str, float]]) -> dict:
    """What is lower after: images (count, of how many, largest drop), cells' worst images, the lowest image."""
    pairs = [(cell, image, after[cell][image] - before[cell][image]) for cell in after for image in after[cell]
             if image in before.get(cell, {})]
    lower = [(drop, cell, image) for cell, image, drop in pairs if drop < 0]
    worst = [
        (min(after[cell].values()) - min(before[cell].values()), cell) for cell in after if cell in before
    ]
    return {
        "images": len(pairs),
        "lower": len(lower),
        "largest_drop": min(lower, default=None),
        "worst_dropped": sorted((drop, cell) for drop, cell in worst if drop < 0),
        "lowest_after": min(((v, cell, image) for cell in after for image, v in after[cell].items()), default=None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--method", default="blind", help="blind or side (default: blind)")
    args = parser.parse_args()
    result = compared(changes(args.before, args.method), changes(args.after, args.method))
    print(f"{result['lower']} of {result['images']} images lower after; largest drop: {result['largest_drop']}")
    print(f"cells whose worst image dropped: {result['worst_dropped']}")
    print(f"lowest image after: {result['lowest_after']}")


if __name__ == "__main__":
    main()

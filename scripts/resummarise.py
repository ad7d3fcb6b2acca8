"""Summarise evaluation records again: merged from runs made in parts, or restricted to another run's points.

    python scripts/resummarise.py eval/kodak/rd.json --like eval/paper-kodak/summary.json \
        --out eval/fast-kodak-q10-40
    python scripts/resummarise.py part1/rd.json part2/rd.json --dataset kodak --out eval/paper-kodak

Two models compare fairly only on the same points: ``--like`` keeps the images, qualities, lambdas and
methods that another run measured. A slow model's evaluation can be run in parts (several folders or
machines) and merged. Writes ``rd.json``, ``summary.json`` and ``rd.png`` and prints the table, from the
records alone (nothing is re-encoded).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.evaluation.plot import plot_rd
from engine.evaluation.records import merge_records, read_records, write_json, write_records
from engine.evaluation.summary import build_summary, format_table, restrict_to


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path, nargs="+", help="rd.json of one or more runs")
    parser.add_argument("--like", type=Path, help="summary.json of the run whose points to keep")
    parser.add_argument("--dataset", help="name of the test set (default: the --like run's)")
    parser.add_argument("--out", type=Path, required=True, help="folder for rd.json, summary.json and rd.png")
    args = parser.parse_args()
    try:
        records = merge_records([read_records(path) for path in args.records])
        like = json.loads(args.like.read_text()) if args.like else None
        if like:
            records = restrict_to(records, like)
        dataset = args.dataset or (like and like["dataset"])
        if not dataset:
            raise ValueError("name the test set with --dataset (or give --like)")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"resummarise: {exc}") from None
    images = like["images"] if like else sorted({r.image for r in records})
    summary = build_summary(records, dataset, images)
    args.out.mkdir(parents=True, exist_ok=True)
    write_records(args.out / "rd.json", records)
    write_json(args.out / "summary.json", summary)
    plot_rd(summary, args.out / "rd.png")
    print(format_table(summary))


if __name__ == "__main__":
    main()

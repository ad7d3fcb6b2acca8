"""Summarise an evaluation again over the images, qualities, lambdas and methods of another run.

    python scripts/subset_summary.py eval/kodak/rd.json --like eval/paper-kodak8/summary.json \
        --out eval/fast-kodak8

Two models compare fairly only on the same points. A slow model may be evaluated on a few images;
this rebuilds ``summary.json``, ``rd.png`` and the printed table of a full run restricted to what the
other run measured, from the full run's ``rd.json`` (nothing is re-encoded).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.evaluation.plot import plot_rd
from engine.evaluation.records import read_records, write_json, write_records
from engine.evaluation.summary import build_summary, format_table, restrict_to


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path, help="rd.json of the run to restrict")
    parser.add_argument("--like", type=Path, required=True, help="summary.json of the run whose points to keep")
    parser.add_argument("--out", type=Path, required=True, help="folder for rd.json, summary.json and rd.png")
    args = parser.parse_args()
    try:
        like = json.loads(args.like.read_text())
        kept = restrict_to(read_records(args.records), like)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"subset_summary: {exc}") from None
    summary = build_summary(kept, like["dataset"], like["images"])
    args.out.mkdir(parents=True, exist_ok=True)
    write_records(args.out / "rd.json", kept)
    write_json(args.out / "summary.json", summary)
    plot_rd(summary, args.out / "rd.png")
    print(format_table(summary))


if __name__ == "__main__":
    main()

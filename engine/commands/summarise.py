"""Summarise evaluation records again: merge runs made in parts, or keep only another run's points.

    sidejpeg summarise eval/kodak/rd.json --like eval/paper-kodak/summary.json --out eval/fast-kodak-q10-40
    sidejpeg summarise part1/rd.json part2/rd.json --dataset kodak --out eval/paper-kodak
    sidejpeg summarise eval/kodak/rd.json eval/live1/rd.json --results resources/models/fast.results.json
    sidejpeg summarise eval/safety-kodak/rd.json eval/safety-live1/rd.json --safety-table --methods blind,side@64

Two models compare fairly only on the same points: ``--like`` keeps the images, qualities, lambdas and
methods that another run measured. A slow model's evaluation can be run in parts and merged. Writes
``rd.json``, ``summary.json`` and ``rd.png`` and prints the table, from the records alone (nothing is
re-encoded). With one run per test set, ``--results`` writes the measured-results file shipped beside a
model, whose side-versus-blind BD-rate the app reads to say whether side information pays, and
``--safety-table`` prints the markdown table of the change against the JPEG ("mean (worst image)").
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.atomic import write_bytes
from engine.errors import SideJPEGError
from engine.evaluation.plot import plot_rd
from engine.evaluation.records import Record, merge_records, read_records, write_json, write_records
from engine.evaluation.safety import markdown_table
from engine.evaluation.summary import build_summary, format_table, restrict_to

PAIRS = {
    "side_vs_jpeg": ("side-hull", "jpeg"),
    "side_vs_jpeg_opt": ("side-hull", "jpeg-opt"),
    "side_vs_blind": ("side-hull", "blind"),
    "blind_vs_jpeg": ("blind", "jpeg"),
}
"""Entries of a measured-results file: (tested curve, anchor) of each BD-rate."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("records", type=Path, nargs="+", help="rd.json of one or more runs")
    p.add_argument("--like", type=Path, help="summary.json of the run whose points to keep")
    p.add_argument("--dataset", help="name of the test set (default: the --like run's)")
    p.add_argument("--out", type=Path, help="folder for rd.json, summary.json and rd.png")
    p.add_argument("--results", type=Path, help="write a model's measured-results file instead, one run per test set")
    p.add_argument("--safety-table", action="store_true", help="print the markdown safety table, one run per test set")
    p.add_argument("--qualities", type=_ints, help="safety table: e.g. 50,75,90 (default: all)")
    p.add_argument("--settings", type=_list, help="safety table: e.g. 'pillow 4:2:0,jpegli auto' (default: all)")
    p.add_argument("--methods", type=_list, help="safety table: e.g. blind,side@64 (default: all)")


def _list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in _list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of qualities: {text!r}") from None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SideJPEGError(f"{path}: cannot read ({exc})") from None


def _records(paths: list[Path]) -> list[list[Record]]:
    try:
        return [read_records(path) for path in paths]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SideJPEGError(f"cannot read evaluation records: {exc}") from None


def bd_rate(summary: dict, span: str, test: str, anchor: str) -> float | None:
    entry = summary["bd"].get(span, {}).get(test, {}).get(anchor)
    return None if entry is None else entry.get("bd_rate")


def model_results(summaries: list[dict]) -> dict:
    """BD-rates (%) of each pair in ``PAIRS`` per test set and quality span."""
    out: dict = {
        "source": "sidejpeg eval summaries (BD-rate %, side-hull = best lambda per point)",
        "images": {s["dataset"]: len(s["images"]) for s in summaries},
    }
    for name, (test, anchor) in PAIRS.items():
        for span in ("10-40", "10-75"):
            out[f"{name}_bd_rate_q{span.replace('-', '_')}"] = {
                s["dataset"]: bd_rate(s, span, test, anchor) for s in summaries
            }
    return out


def _dataset(records_path: Path) -> str:
    """The test set a run measured: its summary.json's, else the run folder's name."""
    summary = records_path.with_name("summary.json")
    return _read_json(summary)["dataset"] if summary.exists() else records_path.parent.name


def run(args: argparse.Namespace) -> int:
    runs = _records(args.records)
    if args.results or args.safety_table:
        summaries = [
            build_summary(r, _dataset(p), sorted({x.image for x in r})) for p, r in zip(args.records, runs, strict=True)
        ]
        if args.safety_table:
            print(markdown_table(summaries, args.qualities, args.settings, args.methods))
        if args.results:
            write_bytes(args.results, (json.dumps(model_results(summaries), indent=2) + "\n").encode())
            print(f"wrote {args.results}")
        return 0
    if args.out is None:
        raise SideJPEGError("give --out (a folder for the new summary) or --results or --safety-table")
    try:
        records = merge_records(runs)
    except ValueError as exc:
        raise SideJPEGError(str(exc)) from None
    like = _read_json(args.like) if args.like else None
    if like:
        records = restrict_to(records, like)
    dataset = args.dataset or (like and like["dataset"])
    if not dataset:
        raise SideJPEGError("name the test set with --dataset (or give --like)")
    summary = build_summary(records, dataset, like["images"] if like else sorted({r.image for r in records}))
    args.out.mkdir(parents=True, exist_ok=True)
    write_records(args.out / "rd.json", records)
    write_json(args.out / "summary.json", summary)
    plot_rd(summary, args.out / "rd.png")
    print(format_table(summary))
    return 0

"""``benchmarks.trunks``: what it records, and the Pareto table it prints from a results file."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.trunks import _merge, main, table


def _trained(mean: float, q10: float) -> dict:
    return {"steps": 800, "held_out": {"mean": mean, "q10 4:2:0": q10}, "held_out_half_way": {"mean": mean / 2}}


def _rows(markdown: str) -> dict[str, str]:
    return {row.split("|")[1].strip().strip("`"): row for row in markdown.splitlines()[2:]}


def test_only_candidates_with_results_are_listed_and_the_front_is_by_gain_per_gflop():
    data = {
        "cost": {"fast": {"gflops_per_mp": 200.0}, "fast-56": {"gflops_per_mp": 270.0},
                 "fast-64": {"gflops_per_mp": 350.0}},
        "train": {"fast": _trained(0.40, 0.69), "fast-56": _trained(0.38, 0.70), "fast-64": _trained(0.43, 0.74)},
    }
    rows = _rows(table(data))
    assert set(rows) == {"fast", "fast-56", "fast-64"}
    assert rows["fast"].rstrip(" |").endswith("yes")
    assert not rows["fast-56"].rstrip(" |").endswith("yes")  # fast gains more for fewer GFLOPs
    assert rows["fast-64"].rstrip(" |").endswith("yes")
    assert "+0.43 (+0.74)" in rows["fast-64"]


def test_runs_are_merged_into_the_results_file_the_table_reads(tmp_path: Path, capsys):
    results = tmp_path / "trunks.json"
    _merge(results, "train", "fast", _trained(0.1, 0.2))
    _merge(results, "train", "fast-56", _trained(0.3, 0.4))
    _merge(results, "train", "fast", _trained(0.5, 0.6))
    data = json.loads(results.read_text())
    assert set(data["train"]) == {"fast", "fast-56"} and data["train"]["fast"]["held_out"]["mean"] == 0.5
    main(["--results", str(results), "table"])
    rows = _rows(capsys.readouterr().out)
    assert set(rows) == {"fast", "fast-56"} and "+0.50 (+0.60)" in rows["fast"]


def test_each_kind_of_trunk_is_described_by_its_design():
    data = {"cost": {}, "train": {name: _trained(0.4, 0.7) for name in ("fast", "unet-32", "fast-context")}}
    rows = _rows(table(data))
    assert "EDSR 8 x 48 ch at 1/2 |" in rows["fast"]
    assert "U-Net 32/64/128 ch, blocks 1/1/2, top at 1/2" in rows["unet-32"]
    assert "EDSR 8 x 48 ch at 1/2, U-Net context 32/64/128 ch below" in rows["fast-context"]

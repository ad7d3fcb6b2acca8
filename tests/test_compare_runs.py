"""``benchmarks.compare_runs`` finds the images an evaluation shows lower than an earlier one."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.compare_runs import changes, compared


def records(path: Path, gains: dict[str, float]) -> Path:
    rows = []
    for image, gain in gains.items():
        base = {"image": image, "quality": 95, "setting": "pillow 4:4:4", "lam": None}
        rows += [base | {"method": "jpeg", "psnr": 40.0}, base | {"method": "blind", "psnr": 40.0 + gain}]
    path.write_text(json.dumps(rows))
    return path


def test_lower_images_and_a_dropped_worst_image_are_found(tmp_path: Path) -> None:
    before = changes(records(tmp_path / "a.json", {"x": 0.5, "y": 0.2, "z": 0.3}), "blind")
    after = changes(records(tmp_path / "b.json", {"x": 0.4, "y": 0.25, "z": 0.1}), "blind")
    result = compared(before, after)
    assert result["images"] == 3 and result["lower"] == 2
    drop, cell, image = result["largest_drop"]
    assert image == "z" and cell == ("pillow 4:4:4", 95) and abs(drop + 0.2) < 1e-9
    assert [cell for _, cell in result["worst_dropped"]] == [("pillow 4:4:4", 95)]
    assert result["lowest_after"][2] == "z"
    assert compared(before, before)["lower"] == 0 and compared(before, before)["worst_dropped"] == []

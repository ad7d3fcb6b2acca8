"""``benchmarks.cross_device``: a set written on one device is checked on another; here both are the CPU, where
the decoded maps and weights must be equal and the restored pixels identical."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks import cross_device


def test_a_set_written_here_checks_out_here(tmp_path: Path, sample_rgb: np.ndarray) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        Image.fromarray(np.roll(sample_rgb, 29 * i, axis=1)[:80, :112]).save(images / f"img{i}.png")
    written = tmp_path / "set"
    cross_device.main(["write", str(written), "--images", str(images), "--count", "3"])
    manifest = json.loads((written / cross_device.MANIFEST).read_text())
    assert [e["image"] for e in manifest["images"]] == ["img0.png", "img1.png", "img2.png"]
    assert [(e["quality"], e["subsampling"], e["lam"]) for e in manifest["images"]] == [
        cross_device.setting(i) for i in range(3)
    ]
    out = tmp_path / "check.json"
    cross_device.main(["check", str(written), "--images", str(images), "--out", str(out)])
    summary = json.loads(out.read_text())
    assert summary["images"] == summary["symbols_equal"] == summary["weights_equal"] == 3
    assert summary["max_pixel_difference"] == 0 and summary["worst_gain_over_jpeg_db"] >= 0

"""The entry point: argument parsing and the offscreen screenshot mode."""

from pathlib import Path

import numpy as np
from PIL import Image

from gui.app import SAMPLE_IMAGE, main, parse_args


def test_default_image_is_the_bundled_sample():
    args = parse_args([])
    assert args.image == SAMPLE_IMAGE and SAMPLE_IMAGE.is_file()
    assert args.screenshot is None


def test_screenshot_writes_a_non_blank_png(qapp, crop_png: Path, tmp_path: Path):
    out = tmp_path / "shot.png"
    assert main([str(crop_png), "--screenshot", str(out)]) == 0
    pixels = np.asarray(Image.open(out).convert("RGB"))
    assert pixels.shape[0] > 500 and pixels.shape[1] > 800
    assert pixels.std() > 10
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500


def test_screenshot_of_a_bad_file_fails_without_a_dialog(qapp, tmp_path: Path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    assert main([str(bad), "--screenshot", str(tmp_path / "shot.png")]) != 0
    assert not (tmp_path / "shot.png").exists()

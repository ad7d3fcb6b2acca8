"""The block classes of ``benchmarks.adaptation_regions --classes``: derived from what the decoder has."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks.adaptation_regions import CLASS_KINDS, CLASSES, block_classes


def _made(seed: int, rows: int = 6, cols: int = 8, height: int = 90, width: int = 120) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    return SimpleNamespace(
        symbols=rng.integers(0, 17, (rows, cols)).astype(np.uint8),
        jpeg_decoded=rng.integers(0, 256, (height, width, 3)).astype(np.uint8),
    )


@pytest.mark.parametrize("kind", CLASS_KINDS)
def test_every_block_gets_one_of_the_classes(kind: str) -> None:
    made = _made(0)
    classes = block_classes(made, kind)
    assert classes.shape == made.symbols.shape
    assert classes.min() >= 0 and classes.max() < CLASSES


@pytest.mark.parametrize("kind", ["activity", "brightness"])
def test_quartiles_split_the_blocks_evenly(kind: str) -> None:
    counts = np.bincount(block_classes(_made(1), kind).ravel(), minlength=CLASSES)
    assert counts.min() >= 48 // CLASSES - 1


def test_brightness_classes_follow_the_luma() -> None:
    made = _made(2)
    made.jpeg_decoded[:] = 0
    made.jpeg_decoded[:, 96:] = 255  # the last two columns of blocks bright
    classes = block_classes(made, "brightness")
    assert (classes[:, -1] > classes[:, 0]).all()

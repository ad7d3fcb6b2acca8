"""Difference maps: an image minus the original, per pixel, amplified on a signed colour scale (black where they
agree, blue where the image is darker, orange where it is brighter)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

DIFFERENCE_RANGE = 8
"""Levels (of 255, mean over R, G and B) at which the colour saturates: a JPEG's errors of a few levels show."""
DIFFERENCE_COLORMAP = pg.ColorMap([0.0, 0.5, 1.0], [(70, 150, 255), (0, 0, 0), (255, 120, 40)])


def signed_difference(image: np.ndarray, original: np.ndarray) -> np.ndarray:
    """(H, W) float32 mean over the channels of ``image - original``, in levels."""
    return (image.astype(np.float32) - original.astype(np.float32)).mean(axis=2)


def difference_rgba(image: np.ndarray, original: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8 colours of ``image - original``, saturating at +-``DIFFERENCE_RANGE`` levels."""
    scaled = np.clip(0.5 + signed_difference(image, original) / (2 * DIFFERENCE_RANGE), 0.0, 1.0)
    return DIFFERENCE_COLORMAP.map(scaled, mode="byte")


def mean_absolute_difference(image: np.ndarray, original: np.ndarray) -> float:
    """Mean over pixels and channels of ``|image - original|``, in levels."""
    return float(np.abs(image.astype(np.float32) - original.astype(np.float32)).mean())

"""Image quality metrics on 8-bit RGB images, over the whole image."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from engine.colour import YCBCR


def _check(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")


def mse(a: np.ndarray, b: np.ndarray) -> float:
    _check(a, b)
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (infinite for identical images)."""
    err = mse(a, b)
    return math.inf if err == 0 else 10 * math.log10(255.0**2 / err)


def psnr_ycbcr(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """PSNR in dB of Y, Cb and Cr (JFIF, full range, 0-255 scale) of two uint8 RGB images."""
    _check(a, b)
    diff = (a.astype(np.float64) - b.astype(np.float64)).reshape(-1, 3) @ YCBCR.numpy().T
    errors = np.mean(diff**2, axis=0)
    return tuple(math.inf if e == 0 else 10 * math.log10(255.0**2 / e) for e in errors)


def _gaussian(size: int, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004, 11x11 Gaussian, sigma 1.5) over the RGB channels."""
    _check(a, b)
    x = torch.tensor(a, dtype=torch.float64).permute(2, 0, 1)[:, None]
    y = torch.tensor(b, dtype=torch.float64).permute(2, 0, 1)[:, None]
    size = min(11, *x.shape[2:])
    g = _gaussian(size - 1 + size % 2)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        """The separable Gaussian window, 'valid' region only."""
        return F.conv2d(F.conv2d(t, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return float((num / den).mean())

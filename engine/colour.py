"""The colour transform of JPEG (JFIF, full range), for differences: the chroma offsets cancel in them."""

from __future__ import annotations

import torch

YCBCR = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=torch.float64
)
"""RGB -> YCbCr, without the chroma offset."""
RGB_OF_YCBCR = torch.linalg.inv(YCBCR)


def mix(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """``matrix`` (3, 3) applied to the channels of a (B, 3, H, W) image, in the image's dtype."""
    return torch.einsum("ij,bjhw->bihw", matrix.to(image.device, image.dtype), image)


def to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    return mix(YCBCR, rgb)


def to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    return mix(RGB_OF_YCBCR, ycbcr)

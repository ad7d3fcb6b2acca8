"""Per-image adaptation of the restorer (decoder side): a linear correction the encoder fits to each image.

The decoder already has, at every pixel, the trunk's features and the correction it applied; the encoder
has the original too. It fits, by least squares, one weight per (feature, colour channel) so that a
weighted sum of those features corrects what the network still gets wrong in this image, and sends the
weights in the sidecar (``engine.coding.adaptation``). The correction is made in YCbCr, so that luma and
each chroma channel get their own weights (chroma is where images differ most from what the network
learnt on average).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

YCBCR = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=torch.float64
)
"""RGB -> YCbCr of JPEG (JFIF, full range), without the chroma offset: it maps differences."""
RGB_OF_YCBCR = torch.linalg.inv(YCBCR)
RESIDUAL_SCALE = 16.0
"""The network's own correction enters the basis multiplied by this, so that its weights are of the same
order as the features' and one quantiser step per channel serves both."""


def basis_size(trunk_features: int) -> int:
    """Features of the basis: the trunk's, the network's correction in Y, Cb and Cr, and a constant."""
    return trunk_features + 4


def _upsampled(h: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    scale = like.shape[-1] // h.shape[-1]
    return F.interpolate(h, scale_factor=scale, mode="nearest") if scale > 1 else h


def _mix(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(image.device, image.dtype), image)


def to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    return _mix(YCBCR, rgb)


def basis(h: torch.Tensor, restored: torch.Tensor, jpeg: torch.Tensor) -> torch.Tensor:
    """(B, basis_size, H, W): the trunk features ``h`` (repeated over the pixels each covers), the
    correction ``restored - jpeg`` in YCbCr (times ``RESIDUAL_SCALE``), and ones. The encoder fits to it."""
    residual = to_ycbcr(restored - jpeg) * RESIDUAL_SCALE
    ones = torch.ones_like(residual[:, :1])
    return torch.cat([_upsampled(h, restored).to(restored.dtype), residual, ones], dim=1)


def adapted(h: torch.Tensor, restored: torch.Tensor, jpeg: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``restored`` plus the correction that ``weights`` (basis_size, 3: Y, Cb, Cr) make of the ``basis``,
    computed without building it: the features' part at the trunk's resolution."""
    f = h.shape[1]
    w = weights.to(restored.device, restored.dtype)
    from_features = _upsampled(torch.einsum("bkhw,kc->bchw", h.to(restored.dtype), w[:f]), restored)
    residual = to_ycbcr(restored - jpeg) * RESIDUAL_SCALE
    correction = from_features + _mix(w[f : f + 3].T, residual) + w[f + 3].view(1, 3, 1, 1)
    return restored + _mix(RGB_OF_YCBCR, correction)

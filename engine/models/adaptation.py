"""Per-image adaptation of the restorer (decoder side): a linear correction the encoder fits to each image.

The decoder already has, at every pixel, the trunk's features and the correction it applied; the encoder
has the original too. It fits, by least squares, one weight per (feature, colour channel) so that a
weighted sum of those features corrects what the network still gets wrong in this image, and sends the
weights in the sidecar (``engine.coding.adaptation``). The correction is made in YCbCr, so that luma and
each chroma channel get their own weights (chroma is where images differ most from what the network
learnt on average).

Version 4 adds spatial weights, an adaptive filter in the manner of VVC's ALF and CC-ALF: point-symmetric
taps of the network's correction (5x5 in Y, Cb and Cr) and high-passes of the JPEG's Y (5x5), Cb and Cr
(3x3), which every channel may use. They reach what the features, constant over each 2x2 pixels of the trunk, cannot:
detail at the image's own resolution.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from engine.colour import mix, to_rgb, to_ycbcr

RESIDUAL_SCALE = 16.0
"""The network's own correction enters the basis multiplied by this, so that its weights are of the same
order as the features' and one quantiser step per channel serves both."""


SPATIAL = ((0, 2, False), (1, 2, False), (2, 2, False), (3, 2, True), (4, 1, True), (5, 1, True))
"""The spatial taps' planes (0-2: the correction in Y, Cb, Cr; 3-5: the JPEG's Y, Cb, Cr), each with its radius and
whether it enters as a high-pass (``x(p + d) + x(p - d) - 2 x(p)``) or as a sum (``x(p + d) + x(p - d)``:
the centre tap is the correction's own, already in the basis)."""


def offsets(radius: int) -> list[tuple[int, int]]:
    """One offset of each point-symmetric pair within ``radius``."""
    span = range(-radius, radius + 1)
    return [(dy, dx) for dy in span for dx in span if (dy, dx) > (0, 0)]


PLANES = 6
SPATIAL_SIZE = sum(len(offsets(radius)) for _, radius, _ in SPATIAL)
RADIUS = max(radius for _, radius, _ in SPATIAL)


def basis_size(trunk_features: int) -> int:
    """Features of the basis: the trunk's, the network's correction in Y, Cb and Cr, a constant, and the
    spatial taps."""
    return trunk_features + 4 + SPATIAL_SIZE


def _upsampled(h: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    scale = like.shape[-1] // h.shape[-1]
    return F.interpolate(h, scale_factor=scale, mode="nearest") if scale > 1 else h


def _planes(restored: torch.Tensor, jpeg: torch.Tensor) -> torch.Tensor:
    """(B, 6, H, W): the correction and the JPEG, both in YCbCr, times ``RESIDUAL_SCALE``."""
    return torch.cat([to_ycbcr(restored - jpeg), to_ycbcr(jpeg)], dim=1) * RESIDUAL_SCALE


def _padded(planes: torch.Tensor) -> torch.Tensor:
    return F.pad(planes, (RADIUS, RADIUS, RADIUS, RADIUS), mode="replicate")


def _taps(planes: torch.Tensor, top: int, bottom: int) -> torch.Tensor:
    """(B, SPATIAL_SIZE, bottom - top, W): each spatial tap of each plane at every pixel of those rows."""
    width = planes.shape[-1]
    padded = _padded(planes)

    def at(plane: int, dy: int, dx: int) -> torch.Tensor:
        return padded[:, plane : plane + 1, RADIUS + dy + top : RADIUS + dy + bottom, RADIUS + dx : RADIUS + dx + width]

    taps = [
        at(plane, dy, dx) + at(plane, -dy, -dx) - (2 * at(plane, 0, 0) if high_pass else 0)
        for plane, radius, high_pass in SPATIAL
        for dy, dx in offsets(radius)
    ]
    return torch.cat(taps, dim=1)


def _kernels(weights: torch.Tensor) -> torch.Tensor:
    """(3, 6, 2 RADIUS + 1, 2 RADIUS + 1) convolution kernels that make the spatial taps' part of the
    correction from the planes, given the taps' (SPATIAL_SIZE, 3) weights."""
    side = 2 * RADIUS + 1
    kernels = weights.new_zeros(3, PLANES, side, side)
    row = 0
    for plane, radius, high_pass in SPATIAL:
        for dy, dx in offsets(radius):
            w = weights[row]
            kernels[:, plane, RADIUS + dy, RADIUS + dx] += w
            kernels[:, plane, RADIUS - dy, RADIUS - dx] += w
            if high_pass:
                kernels[:, plane, RADIUS, RADIUS] -= 2 * w
            row += 1
    return kernels


def basis_parts(
    h: torch.Tensor, restored: torch.Tensor, jpeg: torch.Tensor, rows: slice = slice(None)
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``basis`` over ``rows`` in its two parts: the trunk features at the trunk's resolution (B, F,
    R', W / s), over the trunk rows that cover ``rows``, and the rest (B, basis_size - F, R, W) at the image's
    (the correction in YCbCr, ones, the spatial taps). The encoder fits to the parts: each feature is constant
    over the s x s pixels of its trunk cell, so its sums need the cell's totals only."""
    height = restored.shape[-2]
    top, bottom, _ = rows.indices(height)
    low, high = max(0, top - RADIUS), min(height, bottom + RADIUS)
    planes = _planes(restored[:, :, low:high], jpeg[:, :, low:high])
    scale = restored.shape[-1] // h.shape[-1]
    features = h[:, :, top // scale : -(-bottom // scale)].to(restored.dtype)
    inside = planes[:, :3, top - low : bottom - low]
    ones = torch.ones_like(inside[:, :1])
    return features, torch.cat([inside, ones, _taps(planes, top - low, bottom - low)], dim=1)


def basis(h: torch.Tensor, restored: torch.Tensor, jpeg: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
    """(B, basis_size, R, W) over ``rows`` (all by default): the trunk features ``h`` (repeated over the
    pixels each covers), the correction ``restored - jpeg`` in YCbCr (times ``RESIDUAL_SCALE``), ones, and
    the spatial taps; the weights of ``adapted`` apply to it."""
    top, bottom, _ = rows.indices(restored.shape[-2])
    features, rest = basis_parts(h, restored, jpeg, rows)
    skip = top % (restored.shape[-1] // h.shape[-1])
    return torch.cat([_upsampled(features, restored)[:, :, skip : skip + bottom - top], rest], dim=1)


def adapted(h: torch.Tensor, restored: torch.Tensor, jpeg: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``restored`` plus the correction that ``weights`` (basis_size, 3: Y, Cb, Cr) make of the ``basis``,
    computed without building it: the features' part at the trunk's resolution, the spatial taps' as a
    convolution."""
    f = h.shape[1]
    w = weights.to(restored.device, restored.dtype)
    from_features = _upsampled(torch.einsum("bkhw,kc->bchw", h.to(restored.dtype), w[:f]), restored)
    planes = _planes(restored, jpeg)
    correction = from_features + mix(w[f : f + 3].T, planes[:, :3]) + w[f + 3].view(1, 3, 1, 1)
    correction = correction + F.conv2d(_padded(planes), _kernels(w[f + 4 :]))
    return restored + to_rgb(correction)

"""The JPEG's quantisation constraint: the decoder moves the restored image into the set of images the JPEG
could have been encoded from.

A JPEG stores, for every 8x8 block of every component, DCT coefficients rounded to a multiple of the
quantiser's step, so the original's coefficient lies within half a step of the stored one. Where a
restoration puts a coefficient outside that interval, clipping it back to the interval's edge brings it
closer to the original's, whatever the original is, and the DCT being orthonormal, the block's squared error
falls with it (the projection onto the quantisation constraint set of POCS deblocking, Zakhor 1992). A
network trained to minimise the mean error still leaves such coefficients, most of all at fine quantisers,
where it smooths grain and texture the JPEG kept: on held-out training crops, blind restoration's mean change
at Pillow q96-98 rises by +0.1 to +0.5 dB with the projection, and at q10-40 on Kodak and LIVE1 by +0.01-0.02.

Chroma is constrained at its own resolution: the encoder averaged each 2x2 (4:2:0) or 1x2 (4:2:2) group of
pixels before its DCT (libjpeg's downsampling), so the restored chroma's group means are moved, and every
pixel of a group with its mean, which leaves the detail within the group as the network made it. A greyscale
JPEG's one component is the luma, and every image it could have come from is grey: its restoration is made
grey (Cb = Cr = 0) as well. The intervals hold up to the encoder's own rounding (colour conversion and
downsampling to integers), a small part of a step except at the finest tables.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jpeglib
import numpy as np
import torch
from torch.nn import functional as F

from engine.colour import to_rgb, to_ycbcr

DCT_SIZE = 8


def _dct_matrix() -> torch.Tensor:
    n = torch.arange(DCT_SIZE, dtype=torch.float64)
    matrix = torch.cos((2 * n[None, :] + 1) * n[:, None] * math.pi / (2 * DCT_SIZE)) * math.sqrt(2 / DCT_SIZE)
    matrix[0] /= math.sqrt(2)
    return matrix


DCT = _dct_matrix()
"""The orthonormal 8-point DCT-II, frequency by row: JPEG's transform, whose coefficients its quantiser divides."""
DCT_2D = torch.kron(DCT, DCT)
"""The 8x8 DCT of a block as one 64x64 matrix on the block's pixels in row order (coefficients in the same
order): one matrix product for all blocks."""


@dataclass(frozen=True)
class Component:
    coefficients: np.ndarray
    """(block rows, block columns, 8, 8) quantised coefficients, as the file stores them."""
    table: np.ndarray
    """(8, 8) quantiser steps."""
    factor: tuple[int, int]
    """Image pixels per sample, vertically and horizontally (1 or 2)."""


@dataclass(frozen=True)
class Constraint:
    height: int
    width: int
    components: tuple[Component, ...]
    """Y, Cb and Cr; Y alone for a greyscale JPEG."""

    @classmethod
    def of(cls, jpeg: bytes) -> Constraint | None:
        """The constraint of a greyscale JPEG, or of a YCbCr one whose chroma is sampled at the luma's rate or
        half of it, each way; None for any other (RGB, CMYK, other samplings) and when its coefficients cannot
        be read: those are restored without it."""
        try:
            stored = _read(jpeg)
            kind = (stored.num_components, stored.jpeg_color_space)
            if kind not in ((1, jpeglib.Colorspace.JCS_GRAYSCALE), (3, jpeglib.Colorspace.JCS_YCbCr)):
                return None
            planes = (stored.Y,) if stored.num_components == 1 else (stored.Y, stored.Cb, stored.Cr)
            sampling = np.asarray(stored.samp_factor, dtype=np.int64).reshape(len(planes), 2)
            components = tuple(
                Component(np.asarray(plane), np.asarray(stored.qt[table], dtype=np.float64), factor)
                for plane, table, factor in zip(planes, stored.quant_tbl_no, _factors(sampling), strict=True)
            )
            height, width = int(stored.height), int(stored.width)
        except (OSError, ValueError, IndexError, TypeError, AttributeError):
            return None
        if any(factor not in ((1, 1), (1, 2), (2, 1), (2, 2)) for factor in (c.factor for c in components)):
            return None
        if components[0].factor != (1, 1):
            return None
        return cls(height, width, components)

    @property
    def subsampled(self) -> bool:
        """Whether some chroma component is stored at half the luma's rate in some direction."""
        return any(component.factor != (1, 1) for component in self.components[1:])

    def project(self, image: torch.Tensor, top: int, left: int) -> torch.Tensor:
        """``image``: (1, 3, h, w) RGB in [0, 1], the part of the JPEG's image from (``top``, ``left``) on,
        both multiples of 16; returned moved into the constraint in every block that lies wholly inside the
        image (the others as they are)."""
        ycbcr = to_ycbcr(image.float() * 255).contiguous()  # each plane's rows in a row: blocks reshape cheaply
        ycbcr[:, 0] -= 128
        ycbcr[:, len(self.components) :] = 0
        for plane, component in zip(ycbcr[0], self.components, strict=False):
            self._move(plane, component, top, left)
        ycbcr[:, 0] += 128
        return to_rgb(ycbcr) / 255

    def _move(self, plane: torch.Tensor, component: Component, top: int, left: int) -> None:
        """Clip, in place, the coefficients of ``plane`` (one component at the image's resolution) to
        ``component``'s intervals."""
        fy, fx = component.factor
        span_y, span_x = DCT_SIZE * fy, DCT_SIZE * fx
        if top % span_y or left % span_x:
            raise ValueError(f"a projected region starts on the {span_y}x{span_x} block grid, not at {top, left}")
        r0, c0 = top // span_y, left // span_x
        r1 = min((top + plane.shape[0]) // span_y, self.height // span_y, component.coefficients.shape[0])
        c1 = min((left + plane.shape[1]) // span_x, self.width // span_x, component.coefficients.shape[1])
        if r1 <= r0 or c1 <= c0:
            return
        rows, cols = r1 - r0, c1 - c0
        region = plane[: rows * span_y, : cols * span_x]
        subsampled = (fy, fx) != (1, 1)
        samples = F.avg_pool2d(region[None, None], (fy, fx))[0, 0] if subsampled else region
        blocks = samples.reshape(rows, DCT_SIZE, cols, DCT_SIZE).transpose(1, 2).reshape(-1, DCT_SIZE**2)
        transform = DCT_2D.to(plane.device, plane.dtype)
        step = torch.from_numpy(component.table).to(plane.device, plane.dtype).reshape(-1)
        stored = torch.from_numpy(component.coefficients[r0:r1, c0:c1]).to(plane.device, plane.dtype)
        offset = blocks @ transform.T - stored.reshape(-1, DCT_SIZE**2) * step
        change = torch.clamp(offset, -step / 2, step / 2) - offset
        moved = (change @ transform).reshape(rows, cols, DCT_SIZE, DCT_SIZE).transpose(1, 2).reshape(samples.shape)
        if subsampled:  # every pixel of a group moves with its mean
            moved = moved[:, None, :, None].expand(-1, fy, -1, fx).reshape(region.shape)
        region += moved


def _factors(sampling: np.ndarray) -> list[tuple[int, int]]:
    """Image pixels per sample of each component, from the (vertical, horizontal) sampling factors; (0, 0)
    where a component's factor does not divide the largest."""
    largest = sampling.max(axis=0)
    return [
        (int(largest[0] // v), int(largest[1] // h)) if not (largest % (v, h)).any() else (0, 0)
        for v, h in sampling
    ]


def _read(jpeg: bytes) -> jpeglib.DCTJPEG:
    """The stored coefficients and header of a JPEG (libjpeg reads only files)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "image.jpg"
        path.write_bytes(jpeg)
        stored = jpeglib.read_dct(str(path))
        stored.load()
    return stored

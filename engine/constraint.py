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
from collections.abc import Callable
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
    kept_anew: bool = True
    """Whether the blocks a sidecar keeps show the JPEG decoded anew (``decode``; sidecar version 6 on) rather
    than its own pixels moved into the constraint (earlier versions, ``engine.sidecar``)."""
    kept_float_where_coarse: bool = False
    """``decode``'s ``float_where_coarse`` for kept blocks: set for a JPEG finer than the model restores
    blindly, whose kept blocks are then shown as the whole JPEG would be shown without a sidecar
    (``engine.pipeline.Codec``)."""

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

    def project(self, image: torch.Tensor, top: int, left: int) -> torch.Tensor:
        """``image``: (1, 3, h, w) RGB in [0, 1], the part of the JPEG's image from (``top``, ``left``) on,
        both multiples of 16; returned moved into the constraint in every block that lies wholly inside the
        image (the others as they are)."""
        return self._each_plane(image, lambda plane, component: self._move(plane, component, top, left))

    def decode(self, image: torch.Tensor, top: int, left: int, *, float_where_coarse: bool) -> torch.Tensor:
        """``image`` as ``project`` takes it (the JPEG's own pixels), decoded anew where the file allows: each
        component stored at the image's resolution from its coefficients, onto the integer grid its encoder's
        samples lay on (``_integer_estimate``), each subsampled one moved into its constraint; the samples
        clipped to the range they were stored in. In blocks whose expected error is ``ROUNDED_BELOW`` or more
        the estimate is the floating-point decode with ``float_where_coarse``, which gains on fine JPEGs
        (what a JPEG finer than the network restores is shown as), else the JPEG's own samples moved into the
        constraint (the blocks a sidecar keeps in a coarser JPEG: at q10-20 the floating-point decode came
        out up to 0.15 dB worse than libjpeg's)."""

        def decode_plane(plane: torch.Tensor, component: Component) -> None:
            if component.factor == (1, 1):
                self._decode(plane, component, top, left, float_where_coarse)
            else:
                self._move(plane, component, top, left)

        return self._each_plane(image, decode_plane, clip=True)

    def _each_plane(
        self, image: torch.Tensor, change: Callable[[torch.Tensor, Component], None], clip: bool = False
    ) -> torch.Tensor:
        """``image`` with each component's plane (YCbCr at the image's resolution, centred on 0) changed in
        place by ``change``; a greyscale JPEG's chroma made 0."""
        ycbcr = to_ycbcr(image.float() * 255).contiguous()  # each plane's rows in a row: blocks reshape cheaply
        ycbcr[:, 0] -= 128
        ycbcr[:, len(self.components) :] = 0
        for plane, component in zip(ycbcr[0], self.components, strict=False):
            change(plane, component)
        if clip:
            ycbcr.clamp_(-128, 127)
        ycbcr[:, 0] += 128
        return to_rgb(ycbcr) / 255

    def _move(self, plane: torch.Tensor, component: Component, top: int, left: int) -> None:
        """Clip, in place, the coefficients of ``plane`` (one component at the image's resolution) to
        ``component``'s intervals."""
        blocks = _Blocks.of(plane, component, top, left, self.height, self.width)
        if blocks is not None:
            blocks.add(blocks.projection())

    def _decode(
        self, plane: torch.Tensor, component: Component, top: int, left: int, float_where_coarse: bool
    ) -> None:
        """Replace, in place, the blocks of ``plane`` (a component stored at the image's resolution) by its
        stored coefficients' inverse DCT, in floating point and estimated on the integer grid (``decode``)."""
        blocks = _Blocks.of(plane, component, top, left, self.height, self.width)
        if blocks is None:
            return
        decoded = (blocks.stored * blocks.step) @ blocks.transform
        noise = _noise(blocks.stored, blocks.step)
        estimate = _integer_estimate(decoded, noise)
        samples = blocks.samples()
        if not float_where_coarse:
            estimate = torch.where(noise < ROUNDED_BELOW, estimate, samples + blocks.projection())
        blocks.add(estimate - samples)


@dataclass
class _Blocks:
    """The 8x8 blocks of one component that lie wholly inside the image, within a region of a plane."""

    region: torch.Tensor
    """The plane's pixels those blocks cover (a view: ``add`` writes through it)."""
    factor: tuple[int, int]
    rows: int
    cols: int
    stored: torch.Tensor
    """(blocks, 64) quantised coefficients, row by row."""
    step: torch.Tensor
    """(64,) quantiser steps."""
    transform: torch.Tensor

    @classmethod
    def of(
        cls, plane: torch.Tensor, component: Component, top: int, left: int, height: int, width: int
    ) -> _Blocks | None:
        fy, fx = component.factor
        span_y, span_x = DCT_SIZE * fy, DCT_SIZE * fx
        if top % span_y or left % span_x:
            raise ValueError(f"a projected region starts on the {span_y}x{span_x} block grid, not at {top, left}")
        r0, c0 = top // span_y, left // span_x
        r1 = min((top + plane.shape[0]) // span_y, height // span_y, component.coefficients.shape[0])
        c1 = min((left + plane.shape[1]) // span_x, width // span_x, component.coefficients.shape[1])
        if r1 <= r0 or c1 <= c0:
            return None
        rows, cols = r1 - r0, c1 - c0
        stored = torch.from_numpy(component.coefficients[r0:r1, c0:c1]).to(plane.device, plane.dtype)
        return cls(
            plane[: rows * span_y, : cols * span_x], (fy, fx), rows, cols, stored.reshape(-1, DCT_SIZE**2),
            torch.from_numpy(component.table).to(plane.device, plane.dtype).reshape(-1),
            DCT_2D.to(plane.device, plane.dtype),
        )

    def samples(self) -> torch.Tensor:
        """(blocks, 64) the component's samples: the region's pixels, averaged over each group where the
        component is subsampled (libjpeg's downsampling)."""
        fy, fx = self.factor
        samples = F.avg_pool2d(self.region[None, None], (fy, fx))[0, 0] if (fy, fx) != (1, 1) else self.region
        return samples.reshape(self.rows, DCT_SIZE, self.cols, DCT_SIZE).transpose(1, 2).reshape(-1, DCT_SIZE**2)

    def projection(self) -> torch.Tensor:
        """(blocks, 64) the change of the samples that moves every coefficient into its interval."""
        offset = self.samples() @ self.transform.T - self.stored * self.step
        return (torch.clamp(offset, -self.step / 2, self.step / 2) - offset) @ self.transform

    def add(self, change: torch.Tensor) -> None:
        """Add a (blocks, 64) change of the samples to the region, every pixel of a group with its sample."""
        fy, fx = self.factor
        moved = change.reshape(self.rows, self.cols, DCT_SIZE, DCT_SIZE).transpose(1, 2)
        moved = moved.reshape(self.rows * DCT_SIZE, self.cols * DCT_SIZE)
        if (fy, fx) != (1, 1):
            moved = moved[:, None, :, None].expand(-1, fy, -1, fx).reshape(self.region.shape)
        self.region += moved


def _noise(stored: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """(blocks, 1) each block's expected error of its decoded samples, as a standard deviation: quantisation
    error uniform over a step in its DC and in every coefficient the file stores as non-zero. A coefficient
    stored as zero adds none: at the fine tables where the estimate matters such blocks are flat, and counting
    them made graphics' flat areas lose (README, "Fine JPEGs")."""
    counted = (stored != 0).to(step.dtype)
    counted[:, 0] = 1
    return (counted @ (step**2 / 12) / DCT_SIZE**2).sqrt()[:, None]


ROUNDED_BELOW = 1.0
"""Blocks whose expected error (standard deviation, in 8-bit steps) is under this are estimated on the
integer grid; above it the estimate equals the decoded value to within 1e-8 of a step."""


def _integer_estimate(decoded: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The mean of the integers near each decoded sample weighted by a Gaussian of each block's ``noise``:
    the encoder (libjpeg) rounded every sample to an integer before its DCT, so where the decoding error is
    small the nearest integer is likely the stored sample, and where it is large the decoded value is best.
    libjpeg's decoder rounds every sample; a floating-point decoder rounds none."""
    sigma = noise.clamp(min=1e-3)
    offsets = torch.arange(-5, 6, dtype=decoded.dtype, device=decoded.device)[:, None, None]
    candidates = torch.round(decoded) + offsets  # symmetric about the nearest integer
    weights = torch.softmax(-((decoded - candidates) ** 2) / (2 * sigma**2), dim=0)
    return torch.where(noise < ROUNDED_BELOW, (weights * candidates).sum(dim=0), decoded)


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

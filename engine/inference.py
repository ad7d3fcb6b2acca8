"""A network on its device, run tile by tile: what both halves of the codec compute with.

The networks run in inference mode, prepared (``SideJPEGNet.prepare_for_inference``: channels-last, and on
the CPU each convolution with what follows it as one oneDNN call), under fp16 autocast on CUDA (a tile
whose fp16 result is not finite is redone in fp32). Cancellation is checked before every
convolution, so a cancelled job stops within one layer, not one tile.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from engine.conditioning import Conditioning
from engine.config import BLOCK, ModelConfig
from engine.constraint import Constraint
from engine.errors import SideJPEGError
from engine.models.corrections import block_mask
from engine.models.sidejpeg import SideJPEGNet
from engine.tiling import Box, CancelEvent, Progress, Tile, check_cancel, image_box, padded_crop, per_block

Outputs = torch.Tensor | tuple[torch.Tensor, ...]
Observer = Callable[[Tile, torch.Tensor, torch.Tensor, torch.Tensor], None]
"""Called with a tile, its JPEG, its restored image and the trunk features, as (1, C, h, w) tensors."""

TILE_MARGIN = 32
"""Pixels of context on every side of a tile (the least: trunks that see farther take more, ``tile_margin``)."""
CUDA_PRECISIONS: dict[str, torch.dtype | None] = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": None}
"""Autocast dtype of each precision a restore on CUDA may run in (fp32: none)."""
TILE_SIDE = 512
"""Side of a tile at trunk scale 1 (more for trunks that work at a coarser scale)."""


_CANCEL = threading.local()
"""The cancel event of the call running in this thread (each thread runs one call at a time)."""


def _check_cancel(_module: nn.Module, _args: tuple) -> None:
    check_cancel(getattr(_CANCEL, "event", None))


_CHECKING: weakref.WeakSet[nn.Module] = weakref.WeakSet()
"""Convolutions that check the cancel event before they run (once each, however many ``Inference`` share them)."""


def _check_cancel_before_convolutions(net: nn.Module) -> None:
    for module in net.modules():
        if isinstance(module, nn.Conv2d) and module not in _CHECKING:
            module.register_forward_pre_hook(_check_cancel)
            _CHECKING.add(module)


@contextmanager
def _cancellable(cancel: CancelEvent | None) -> Iterator[None]:
    """Let ``cancel`` stop this thread's networks between any two convolutions."""
    _CANCEL.event = cancel
    try:
        yield
    finally:
        _CANCEL.event = None


def pixels(image: torch.Tensor) -> np.ndarray:
    """A (1, 3, h, w) image in [0, 1] as (h, w, 3) uint8 pixels, rounded as the decoder rounds."""
    return image[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def shown(
    restored: torch.Tensor, tile: Tile, constraint: Constraint | None, kept: torch.Tensor | None = None
) -> np.ndarray:
    """A tile's restored image as the decoder shows it: moved into its JPEG's quantisation constraint (when
    the JPEG has one, ``engine.constraint``), and rounded to pixels. The blocks of the (1, 1, h, w) mask
    ``kept``, which hold the JPEG's own pixels, show it decoded anew (``Constraint.decode``) where the
    constraint says so; else they are projected as every other block."""
    if constraint is None:
        return pixels(restored)
    top, left = tile.outer[0], tile.outer[2]
    projected = constraint.project(restored, top, left)
    if kept is None or not constraint.kept_anew or not bool(kept.any()):
        return pixels(projected)
    anew = constraint.decode(restored, top, left, float_where_coarse=constraint.kept_float_where_coarse)
    return pixels(torch.where(kept, anew, projected))


def mixed(anew: torch.Tensor, restored: torch.Tensor, share: float) -> torch.Tensor:
    """``anew`` (the JPEG decoded anew) moved by ``share`` towards ``restored`` (within the constraint), both
    as they would be shown (in [0, 1]): how a fine blind JPEG is shown (``engine.strength``), and
    what its calibration measures (``engine.training.calibrate``)."""
    return anew.clamp(0, 1).lerp_(restored.clamp(0, 1), share)


def shared(restored: torch.Tensor, jpeg: torch.Tensor, tile: Tile, constraint: Constraint, share: float) -> np.ndarray:
    """A tile's JPEG decoded anew (``Constraint.decode``) moved by ``share`` towards its restoration within
    the constraint (``mixed``), rounded to pixels."""
    top, left = tile.outer[0], tile.outer[2]
    anew = constraint.decode(jpeg, top, left, float_where_coarse=True)
    return pixels(mixed(anew, constraint.project(restored, top, left), share))


def tile_map(symbols: torch.Tensor, tile: Tile) -> torch.Tensor:
    """The (1, h16, w16) part of an (H16, W16) descriptor map under a tile's outer region."""
    oa, ob, oc, od = (v // BLOCK for v in tile.outer)
    return symbols[None, oa:ob, oc:od]


def available_devices() -> list[str]:
    """The devices ``Codec`` can run on here."""
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def resolve_device(device: str) -> torch.device:
    """``cpu``, ``cuda`` or ``auto`` (CUDA when there is one)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise SideJPEGError("CUDA was requested but no CUDA device is available")
    if device not in ("cpu", "cuda"):
        raise SideJPEGError(f"unknown device {device!r} (use cpu, cuda or auto)")
    return torch.device(device)


def tile_margin(config: ModelConfig) -> int:
    """Context on every side of a tile: ``TILE_MARGIN``, or for a U-Net (a hybrid trunk's context stage too) eight
    pixels of its coarsest level.

    With the GPU-trained ``unet`` on two 768-pixel tiles of the sample at q10, a tiled restore differed from
    one pass over the whole image by one level on 0.12 % of the pixels with 32 pixels of margin, 0.01 % with
    64 (this rule) and none with 96."""
    if config.trunk == "edsr":
        return TILE_MARGIN
    return max(TILE_MARGIN, 8 * config.trunk_scale * 2 ** len(config.unet_features))


class Inference:
    """A ``SideJPEGNet`` prepared for inference on one device; safe to share between threads, each with its
    own cancel event."""

    def __init__(self, net: SideJPEGNet, device: torch.device, precision: str = "fp16") -> None:
        """``precision``: what CUDA computes in (``CUDA_PRECISIONS``); a CPU always computes in fp32."""
        if precision not in CUDA_PRECISIONS:
            raise SideJPEGError(f"unknown precision {precision!r} (use {', '.join(CUDA_PRECISIONS)})")
        self.device = device
        self.autocast = CUDA_PRECISIONS[precision]
        self.net = net.to(device).prepare_for_inference()
        self.tile_size = TILE_SIDE * net.config.trunk_scale
        self.margin = tile_margin(net.config)
        _check_cancel_before_convolutions(self.net)

    def tensor(self, rgb: np.ndarray) -> torch.Tensor:
        """(H, W, 3) uint8 -> (1, 3, H, W) float in [0, 1], channels-last, on the device."""
        pixels = torch.from_numpy(np.require(rgb, requirements=["C", "W"])).to(self.device)
        return pixels.permute(2, 0, 1)[None].float().div_(255).contiguous(memory_format=torch.channels_last)

    def kept(self, symbols: torch.Tensor | None) -> torch.Tensor | None:
        """(1, 1, h, w) mask of the pixels of a tile's blocks whose symbol keeps the JPEG, or None (blind, or
        a model without the keep symbol)."""
        keep = self.net.config.keep_symbol
        return None if symbols is None or keep is None else block_mask(symbols, keep)

    def cond(self, conditioning: Conditioning) -> torch.Tensor:
        return torch.from_numpy(conditioning.vector())[None].to(self.device)

    def run(self, fn: Callable[..., Outputs], *args: torch.Tensor | None) -> Outputs:
        """``fn(*args)`` (a tensor or a tuple of them), under autocast on CUDA and then redone in fp32 if its
        first output is not finite."""
        if self.device.type != "cuda" or self.autocast is None:
            return fn(*args)
        with torch.autocast("cuda", dtype=self.autocast):
            out = fn(*args)
        if isinstance(out, tuple):
            return tuple(t.float() for t in out) if bool(torch.isfinite(out[0]).all()) else fn(*args)
        return out.float() if bool(torch.isfinite(out).all()) else fn(*args)

    @torch.inference_mode()
    def per_block(
        self, original: np.ndarray, decoded: np.ndarray,
        compute: Callable[[Tile, torch.Tensor, torch.Tensor], torch.Tensor],
        progress: Progress | None, cancel: CancelEvent | None,
    ) -> np.ndarray:
        """Run ``compute(tile, original, jpeg) -> (1, ..., h16, w16)`` tile by tile; the (..., H16, W16) result."""

        def tile_map(tile: Tile) -> np.ndarray:
            x, y = (self.tensor(padded_crop(image, tile.outer)) for image in (original, decoded))
            return compute(tile, x, y)[0].float().cpu().numpy()

        height, width = original.shape[:2]
        with _cancellable(cancel):
            return per_block(height, width, self.tile_size, self.margin, tile_map, progress, cancel)

    @torch.inference_mode()
    def restore(
        self, decoded: np.ndarray, conditioning: Conditioning, symbols: np.ndarray | None, box: Box,
        progress: Progress | None, cancel: CancelEvent | None, adaptation: torch.Tensor | None = None,
        observe: Observer | None = None, constraint: Constraint | None = None, share: float = 1.0,
    ) -> np.ndarray:
        """Restored pixels of ``box = (top, left, bottom, right)``, tile by tile, with the image's
        ``adaptation`` weights if it has them, within the JPEG's quantisation ``constraint`` if given;
        ``observe`` sees each tile's tensors before the constraint (the encoder's fit). With a ``share``
        under 1 (and a constraint) only that share of the restoration, the rest the JPEG decoded anew."""
        cond = self.cond(conditioning)
        sym = None if symbols is None else torch.from_numpy(symbols.astype(np.int64)).to(self.device)
        weights = None if adaptation is None else adaptation.to(self.device)

        def run(tile: Tile) -> np.ndarray:
            tile_symbols = None if sym is None else tile_map(sym, tile)
            jpeg = self.tensor(padded_crop(decoded, tile.outer))
            restored, h = self.run(self.net.restore_with_features, jpeg, cond, tile_symbols, weights)
            if observe is not None:
                observe(tile, jpeg, restored, h)
            if share < 1.0 and constraint is not None:
                return shared(restored, jpeg, tile, constraint, share)
            return shown(restored, tile, constraint, self.kept(tile_symbols))

        height, width = decoded.shape[:2]
        with _cancellable(cancel):
            return image_box(height, width, box, self.tile_size, self.margin, run, progress, cancel)

    @torch.inference_mode()
    def decoded_anew(
        self, decoded: np.ndarray, box: Box, constraint: Constraint, progress: Progress | None,
        cancel: CancelEvent | None,
    ) -> np.ndarray:
        """``box`` of the JPEG decoded anew from its coefficients (``Constraint.decode``), tile by tile, no
        network: what a JPEG finer than the model restores is shown as (``Codec.restore``). The decode acts
        block by block, so tiles need no context margin."""

        def run(tile: Tile) -> np.ndarray:
            image = self.tensor(padded_crop(decoded, tile.outer))
            return pixels(constraint.decode(image, tile.outer[0], tile.outer[2], float_where_coarse=True))

        height, width = decoded.shape[:2]
        return image_box(height, width, box, self.tile_size, 0, run, progress, cancel)

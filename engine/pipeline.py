"""The codec's public API: compress an image to JPEG + sidecar, restore a JPEG with or without it.

The CLI, the GUI, evaluation and benchmarks all go through ``Codec``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from engine import sidecar as sc
from engine.coding import wavefront
from engine.coding.integer_context import IntegerContextModel, dequantize_cond, quantize_cond
from engine.conditioning import full_vector
from engine.config import BLOCK, DEFAULT_PRESET, LAMBDA_MIN, PRESETS
from engine.container import split_embedded
from engine.errors import SideJPEGError
from engine.jpeg_io import decode_with_params, encode_jpeg
from engine.models.sidejpeg import SideJPEGNet
from engine.resources import installed_models, weights_path
from engine.tiling import tiles
from engine.weights import load_model, model_id

Progress = Callable[[int, int], None]
TILE_MARGIN = 32


class Cancelled(Exception):
    """Raised inside a compress or restore when its cancel event is set."""


class CancelEvent(Protocol):
    def is_set(self) -> bool: ...


@dataclass
class CompressResult:
    jpeg: bytes
    sidecar: bytes
    jpeg_decoded: np.ndarray
    symbols: np.ndarray
    block_bits: np.ndarray
    width: int
    height: int
    quality: int
    lam: float

    def _bpp(self, nbytes: int) -> float:
        return nbytes * 8 / (self.width * self.height)

    @property
    def bpp_jpeg(self) -> float:
        return self._bpp(len(self.jpeg))

    @property
    def bpp_side(self) -> float:
        return self._bpp(len(self.sidecar))

    @property
    def bpp_total(self) -> float:
        return self._bpp(len(self.jpeg) + len(self.sidecar))

    @property
    def side_share(self) -> float:
        """Fraction of the total bytes spent on side information."""
        return len(self.sidecar) / (len(self.jpeg) + len(self.sidecar))


@dataclass
class RestoreResult:
    image: np.ndarray
    blind: bool
    symbols: np.ndarray | None
    header: sc.SidecarHeader | None


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise SideJPEGError("CUDA was requested but no CUDA device is available")
    if device not in ("cpu", "cuda"):
        raise SideJPEGError(f"unknown device {device!r} (use cpu, cuda or auto)")
    return torch.device(device)


def _pad_to_blocks(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    return np.pad(rgb, ((0, -h % BLOCK), (0, -w % BLOCK), (0, 0)), mode="edge")


def _check(cancel: CancelEvent | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


class Codec:
    """One loaded model with its integer context coder; safe to reuse for many images."""

    def __init__(self, preset: str = DEFAULT_PRESET, device: str = "auto", net: SideJPEGNet | None = None) -> None:
        if net is None:
            if preset not in PRESETS:
                raise SideJPEGError(f"unknown preset {preset!r}; available: {', '.join(sorted(PRESETS))}")
            path = weights_path(preset)
            if not path.exists():
                raise SideJPEGError(f"no trained weights for preset {preset!r} (expected {path})")
            net = load_model(path)
        self.device = resolve_device(device)
        self.net = net.eval().to(self.device)
        self.config = net.config
        self.model_id = model_id(net)
        self.coder = IntegerContextModel(net.context)
        self.tile_size = 512 * self.config.trunk_scale

    @staticmethod
    def available_devices() -> list[str]:
        return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]

    @staticmethod
    def encode_jpeg(rgb: np.ndarray, quality: int, subsampling: str = "4:2:0") -> tuple[bytes, np.ndarray]:
        """JPEG bytes and their plain decode: the fast first step of every compress."""
        data = encode_jpeg(rgb, quality, subsampling)
        return data, decode_with_params(data)[0]

    def _tensor(self, rgb: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device).permute(2, 0, 1)[None].float().div_(255)

    def _cond(self, codes: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(dequantize_cond(codes))[None].to(self.device)

    @torch.inference_mode()
    def _extract(self, original: np.ndarray, decoded: np.ndarray, cond: torch.Tensor, cancel: CancelEvent | None) -> np.ndarray:
        x, y = self._tensor(_pad_to_blocks(original)), self._tensor(_pad_to_blocks(decoded))
        h, w = x.shape[2:]
        symbols = np.zeros((h // BLOCK, w // BLOCK), dtype=np.uint8)
        for tile in tiles(h, w, self.tile_size, TILE_MARGIN):
            _check(cancel)
            (a, b, c, d), (oa, ob, oc, od) = tile.inner, tile.outer
            part = self.net.extract(x[..., oa:ob, oc:od], y[..., oa:ob, oc:od], cond)[0].cpu().numpy()
            dy, dx = (v // BLOCK for v in tile.offset)
            symbols[a // BLOCK : b // BLOCK, c // BLOCK : d // BLOCK] = part[dy : dy + (b - a) // BLOCK, dx : dx + (d - c) // BLOCK]
        return symbols

    def compress(
        self, rgb: np.ndarray, quality: int, lam: float, subsampling: str = "4:2:0",
        progress: Progress | None = None, cancel: CancelEvent | None = None,
    ) -> CompressResult:
        """JPEG bytes plus the sidecar that lets ``restore`` remove their artifacts."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise SideJPEGError("compress expects an (H, W, 3) uint8 RGB image")
        if not np.isfinite(lam) or lam < 0:
            raise SideJPEGError(f"lambda must be a non-negative number, got {lam}")
        jpeg = encode_jpeg(rgb, quality, subsampling)
        decoded, params = decode_with_params(jpeg)
        codes = quantize_cond(full_vector(params, lam))
        symbols = self._extract(rgb, decoded, self._cond(codes), cancel)
        if progress:
            progress(1, 2)
        payload = wavefront.encode(self.coder, symbols, codes)
        height, width = rgb.shape[:2]
        header = sc.SidecarHeader(
            self.model_id, width, height, int(quality), float(lam), tuple(int(v) for v in codes),
            sc.jpeg_digest(jpeg), len(payload),
        )
        if progress:
            progress(2, 2)
        return CompressResult(
            jpeg, sc.pack(header, payload), decoded, symbols, wavefront.block_bits(self.coder, symbols, codes),
            width, height, int(quality), float(lam),
        )

    def read_sidecar(self, sidecar: bytes, jpeg: bytes) -> tuple[sc.SidecarHeader, np.ndarray]:
        """Validate a sidecar against its JPEG and this model, and decode its descriptor map."""
        header, payload = sc.unpack(sidecar)
        sc.check_belongs(header, jpeg)
        if header.model_id != self.model_id:
            preset = installed_models().get(header.model_id.hex())
            hint = f"; it matches the installed preset {preset!r}" if preset else "; no installed model matches it"
            raise SideJPEGError(f"sidecar was made with model {header.model_id.hex()}, not the loaded one{hint}")
        rows, cols = header.grid
        return header, wavefront.decode(self.coder, payload, rows, cols, header.cond_array())

    def restore(
        self, jpeg: bytes, sidecar: bytes | None = None,
        progress: Progress | None = None, cancel: CancelEvent | None = None,
    ) -> RestoreResult:
        """Restored image of a JPEG; blind when there is no sidecar (given or embedded)."""
        plain, embedded = split_embedded(jpeg)
        sidecar = sidecar if sidecar is not None else embedded
        decoded, params = decode_with_params(plain)
        header, symbols = None, None
        if sidecar is None:
            codes = quantize_cond(full_vector(params, LAMBDA_MIN))
        else:
            header, symbols = self.read_sidecar(sidecar, plain)
            if (header.height, header.width) != decoded.shape[:2]:
                raise SideJPEGError("sidecar image size does not match the JPEG")
            codes = header.cond_array()
        image = self.restore_pixels(decoded, codes, symbols, progress, cancel)
        return RestoreResult(image, symbols is None, symbols, header)

    @torch.inference_mode()
    def restore_pixels(
        self, decoded: np.ndarray, cond_codes: np.ndarray, symbols: np.ndarray | None,
        progress: Progress | None = None, cancel: CancelEvent | None = None,
    ) -> np.ndarray:
        """Run the restorer tile by tile over a decoded JPEG."""
        height, width = decoded.shape[:2]
        y = self._tensor(_pad_to_blocks(decoded))
        sym = None if symbols is None else torch.from_numpy(symbols.astype(np.int64)).to(self.device)
        cond = self._cond(cond_codes)
        out = torch.empty_like(y)
        parts = tiles(y.shape[2], y.shape[3], self.tile_size, TILE_MARGIN)
        for i, tile in enumerate(parts):
            _check(cancel)
            (a, b, c, d), (oa, ob, oc, od) = tile.inner, tile.outer
            tile_sym = None if sym is None else sym[None, oa // BLOCK : ob // BLOCK, oc // BLOCK : od // BLOCK]
            restored = self.net.restore(y[..., oa:ob, oc:od], cond, tile_sym)
            dy, dx = tile.offset
            out[..., a:b, c:d] = restored[..., dy : dy + b - a, dx : dx + d - c]
            if progress:
                progress(i + 1, len(parts))
        pixels = out[0, :, :height, :width].clamp(0, 1).mul(255).round().to(torch.uint8)
        return pixels.permute(1, 2, 0).cpu().numpy()


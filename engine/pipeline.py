"""The codec's public API: compress an image to JPEG + sidecar, restore a JPEG with or without it.

The CLI, the GUI, evaluation and benchmarks all go through ``Codec``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from engine import sidecar as sc
from engine.coding import wavefront
from engine.coding.integer_context import IntegerContextModel, dequantize_cond, quantize_cond
from engine.conditioning import full_vector
from engine.config import BLOCK, DEFAULT_PRESET, LAMBDA_MIN, PRESETS, rd_multiplier
from engine.container import check_jpeg_size, split_embedded
from engine.errors import SideJPEGError
from engine.jpeg_io import decode_with_params, encode_jpeg
from engine.models.sidejpeg import SideJPEGNet
from engine.resources import installed_models, weights_path
from engine.tiling import CancelEvent, Progress, Tile, image_box, padded_crop, per_block
from engine.weights import BLIND_MIN_STEP_KEY, load_model_info, model_id

TILE_MARGIN = 32


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
    cond_codes: np.ndarray
    """Integer conditioning (JPEG parameters and lambda) that ``restore_pixels`` and ``restore_region`` take."""
    restored: np.ndarray
    """What ``restore`` of this JPEG and sidecar gives, computed by the encoder to check it: never worse
    than the JPEG (models with the keep symbol; ``Codec.compress``)."""

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

    def received(self) -> Received:
        """What ``Codec.receive(jpeg, sidecar)`` gives for this result, without decoding either again."""
        return Received(self.jpeg_decoded, self.cond_codes, self.symbols, sc.unpack(self.sidecar)[0])


@dataclass
class Received:
    """A JPEG and its side information, decoded and checked: what ``restore_pixels`` and ``restore_region`` take."""

    decoded: np.ndarray
    cond_codes: np.ndarray
    symbols: np.ndarray | None
    """None when blind."""
    header: sc.SidecarHeader | None


@dataclass
class RestoreResult:
    image: np.ndarray
    blind: bool
    symbols: np.ndarray | None
    header: sc.SidecarHeader | None
    block_bits: np.ndarray | None = None
    """Coded cost of each block in bits (None when blind)."""


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise SideJPEGError("CUDA was requested but no CUDA device is available")
    if device not in ("cpu", "cuda"):
        raise SideJPEGError(f"unknown device {device!r} (use cpu, cuda or auto)")
    return torch.device(device)


def _stage(progress: Progress | None, index: int, count: int) -> Progress | None:
    """Progress of stage ``index`` of ``count`` equal stages, reported in thousandths of the whole."""
    if progress is None:
        return None
    return lambda done, total: progress(round(1000 * (index + done / max(total, 1)) / count), 1000)


def _block_sse(image: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Squared error (0-255 scale) of every 16x16 block, (H16, W16); the padding beyond the image counts 0."""
    diff = np.square(image.astype(np.int64) - original.astype(np.int64)).sum(axis=2)
    h, w = diff.shape
    diff = np.pad(diff, ((0, -h % BLOCK), (0, -w % BLOCK)))
    return diff.reshape(diff.shape[0] // BLOCK, BLOCK, diff.shape[1] // BLOCK, BLOCK).sum(axis=(1, 3))


class Codec:
    """One loaded model with its integer context coder; safe to reuse for many images.

    The networks run in inference mode on channels-last tensors, under fp16 autocast on CUDA (a tile
    whose fp16 result is not finite is redone in fp32).
    """

    def __init__(self, preset: str = DEFAULT_PRESET, device: str = "auto", net: SideJPEGNet | None = None) -> None:
        info: dict = {}
        if net is None:
            if preset not in PRESETS:
                raise SideJPEGError(f"unknown preset {preset!r}; available: {', '.join(sorted(PRESETS))}")
            path = weights_path(preset)
            if not path.exists():
                raise SideJPEGError(f"no trained weights for preset {preset!r} (expected {path})")
            net, info = load_model_info(path)
        self.device = resolve_device(device)
        self.model_id = model_id(net)
        self.net = net.eval().to(self.device, memory_format=torch.channels_last)
        self.config = net.config
        self.coder = IntegerContextModel(net.context)
        self.tile_size = 512 * self.config.trunk_scale
        self.blind_min_step = float(info.get(BLIND_MIN_STEP_KEY, 0.0))
        """Blind restoration applies to JPEGs whose mean luma quantiser step is at least this; finer ones (very
        high qualities) are shown as they are, since this model was measured to harm some of them."""

    @staticmethod
    def available_devices() -> list[str]:
        return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]

    @staticmethod
    def encode_jpeg(rgb: np.ndarray, quality: int, subsampling: str = "4:2:0") -> tuple[bytes, np.ndarray]:
        """JPEG bytes and their plain decode: the fast first step of every compress."""
        data = encode_jpeg(rgb, quality, subsampling)
        return data, decode_with_params(data)[0]

    @staticmethod
    def decode_jpeg(data: bytes) -> np.ndarray:
        """Plain decode of a JPEG as any viewer shows it (embedded side information is skipped)."""
        plain = split_embedded(data)[0]
        check_jpeg_size(plain)
        return decode_with_params(plain)[0]

    def _tensor(self, rgb: np.ndarray) -> torch.Tensor:
        pixels = torch.from_numpy(np.require(rgb, requirements=["C", "W"])).to(self.device)
        return pixels.permute(2, 0, 1)[None].float().div_(255).contiguous(memory_format=torch.channels_last)

    def _run(self, fn: Callable[..., torch.Tensor], *args: torch.Tensor | None) -> torch.Tensor:
        """``fn(*args)`` under fp16 autocast on CUDA, redone in fp32 if that is not finite."""
        if self.device.type != "cuda":
            return fn(*args)
        with torch.autocast("cuda", dtype=torch.float16):
            out = fn(*args)
        return out.float() if bool(torch.isfinite(out).all()) else fn(*args)

    def blind_passes_through(self, cond_codes: np.ndarray) -> bool:
        """Whether blind decoding shows this JPEG as it is: its quantiser steps are finer than this model
        was measured not to harm (``blind_min_step``)."""
        return 2.0 ** (8.0 * float(dequantize_cond(cond_codes)[0])) < self.blind_min_step

    def _cond(self, codes: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(dequantize_cond(codes))[None].to(self.device)

    def _per_block(
        self, original: np.ndarray, decoded: np.ndarray, compute: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        progress: Progress | None, cancel: CancelEvent | None,
    ) -> np.ndarray:
        """Run ``compute(original, jpeg) -> (1, ..., h16, w16)`` tile by tile; the (..., H16, W16) result."""

        def tile_map(tile: Tile) -> np.ndarray:
            x, y = (self._tensor(padded_crop(image, tile.outer)) for image in (original, decoded))
            return compute(x, y)[0].float().cpu().numpy()

        height, width = original.shape[:2]
        return per_block(height, width, self.tile_size, TILE_MARGIN, tile_map, progress, cancel)

    @torch.inference_mode()
    def _choose(
        self, original: np.ndarray, decoded: np.ndarray, codes: np.ndarray, lam: float,
        progress: Progress | None, cancel: CancelEvent | None,
    ) -> np.ndarray:
        """The symbol map to send: the extractor's, or with block-level selection the RDO choice over the
        squared error each symbol would give each block (``engine.coding.wavefront.rd_choose``), among the
        choices no worse than the JPEG where the model has the keep symbol."""
        cond = self._cond(codes)
        if not self.net.selects_blocks:
            extract = self.net.extract
            symbols = self._per_block(original, decoded, lambda x, y: self._run(extract, x, y, cond), progress, cancel)
            return symbols.astype(np.uint8)
        net = self.net

        def allowed(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return net.allowed_errors(self._run(lambda *a: net.encoder_pass(*a).errors, x, y, cond))

        errors = self._per_block(original, decoded, allowed, progress, cancel)
        per_block = errors.transpose(1, 2, 0).astype(np.float64)
        return wavefront.rd_choose(self.coder, per_block, codes, rd_multiplier(lam))

    def _never_worse(
        self, original: np.ndarray, decoded: np.ndarray, codes: np.ndarray, symbols: np.ndarray,
        progress: Progress | None, cancel: CancelEvent | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The map to send and what the decoder restores with it, checked against the JPEG by decoding.

        The encoder chose each block by errors computed with the extractor's map conditioning the trunk;
        the decoder's trunk sees the chosen map, which moves pixels by a rounding step here and there. If
        that makes the image worse than the JPEG, the blocks it made worse keep their JPEG pixels; if the
        image is still worse, every block does, and the restored image is the JPEG itself.
        """
        restored = self.restore_pixels(decoded, codes, symbols, progress, cancel)
        keep = self.config.keep_symbol
        jpeg_sse, restored_sse = _block_sse(decoded, original), _block_sse(restored, original)
        if keep is None or restored_sse.sum() <= jpeg_sse.sum():
            return symbols, restored
        symbols = np.where(restored_sse > jpeg_sse, keep, symbols).astype(np.uint8)
        restored = self.restore_pixels(decoded, codes, symbols, None, cancel)
        if _block_sse(restored, original).sum() <= jpeg_sse.sum():
            return symbols, restored
        return np.full_like(symbols, keep), decoded.copy()

    def compress(
        self, rgb: np.ndarray, quality: int, lam: float, subsampling: str = "4:2:0",
        progress: Progress | None = None, cancel: CancelEvent | None = None,
    ) -> CompressResult:
        """JPEG bytes plus the sidecar that lets ``restore`` remove their artifacts, and the restored image
        that the decoder will show (never worse than the JPEG with models that have the keep symbol)."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise SideJPEGError("compress expects an (H, W, 3) uint8 RGB image")
        if not np.isfinite(lam) or lam < 0:
            raise SideJPEGError(f"lambda must be a non-negative number, got {lam}")
        jpeg = encode_jpeg(rgb, quality, subsampling)
        decoded, params = decode_with_params(jpeg)
        codes = quantize_cond(full_vector(params, lam))
        symbols = self._choose(rgb, decoded, codes, lam, _stage(progress, 0, 2), cancel)
        symbols, restored = self._never_worse(rgb, decoded, codes, symbols, _stage(progress, 1, 2), cancel)
        probs = wavefront.block_probabilities(self.coder, symbols, codes)
        payload = wavefront.encode(self.coder, symbols, codes, probs)
        height, width = rgb.shape[:2]
        header = sc.SidecarHeader(
            self.model_id, width, height, int(quality), float(lam), tuple(int(v) for v in codes),
            sc.jpeg_digest(jpeg), len(payload),
        )
        return CompressResult(
            jpeg, sc.pack(header, payload), decoded, symbols, wavefront.block_bits(self.coder, symbols, codes, probs),
            width, height, int(quality), float(lam), codes, restored,
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

    def receive(self, jpeg: bytes, sidecar: bytes | None = None) -> Received:
        """Decode a JPEG and its side information (given, embedded, or none: blind) and check they belong."""
        plain, embedded = split_embedded(jpeg)
        check_jpeg_size(plain)  # refuse decompression bombs before decoding (robustness)
        sidecar = sidecar if sidecar is not None else embedded
        decoded, params = decode_with_params(plain)
        if sidecar is None:
            return Received(decoded, quantize_cond(full_vector(params, LAMBDA_MIN)), None, None)
        header, symbols = self.read_sidecar(sidecar, plain)
        if (header.height, header.width) != decoded.shape[:2]:
            raise SideJPEGError("sidecar image size does not match the JPEG")
        return Received(decoded, header.cond_array(), symbols, header)

    def restore(
        self, jpeg: bytes, sidecar: bytes | None = None,
        progress: Progress | None = None, cancel: CancelEvent | None = None,
    ) -> RestoreResult:
        """Restored image of a JPEG; blind when there is no sidecar (given or embedded)."""
        got = self.receive(jpeg, sidecar)
        image = self.restore_pixels(got.decoded, got.cond_codes, got.symbols, progress, cancel)
        return RestoreResult(image, got.symbols is None, got.symbols, got.header, self.bits_of(got))

    def bits_of(self, received: Received) -> np.ndarray | None:
        """Coded cost of each block in bits (None when blind)."""
        if received.symbols is None:
            return None
        return wavefront.block_bits(self.coder, received.symbols, received.cond_codes)

    def restore_pixels(
        self, decoded: np.ndarray, cond_codes: np.ndarray, symbols: np.ndarray | None,
        progress: Progress | None = None, cancel: CancelEvent | None = None,
    ) -> np.ndarray:
        """Run the restorer tile by tile over a decoded JPEG."""
        height, width = decoded.shape[:2]
        return self._restore_box(decoded, cond_codes, symbols, (0, 0, height, width), progress, cancel)

    def restore_region(
        self, decoded: np.ndarray, cond_codes: np.ndarray, symbols: np.ndarray | None,
        box: tuple[int, int, int, int], progress: Progress | None = None, cancel: CancelEvent | None = None,
    ) -> np.ndarray:
        """Restored pixels of ``box = (top, left, bottom, right)`` only (clipped to the image).

        The network runs on the box widened to the 16x16 grid plus a margin of context, so a
        viewer can show the visible part first; pixels may differ from ``restore_pixels`` by a
        rounding step near the box's and the tiles' edges, where the two see different context.
        """
        height, width = decoded.shape[:2]
        top, left, bottom, right = (int(v) for v in box)
        top, left, bottom, right = max(top, 0), max(left, 0), min(bottom, height), min(right, width)
        if bottom <= top or right <= left:
            raise SideJPEGError(f"region {tuple(box)} does not overlap the {width}x{height} image")
        return self._restore_box(decoded, cond_codes, symbols, (top, left, bottom, right), progress, cancel)

    @torch.inference_mode()
    def _restore_box(
        self, decoded: np.ndarray, cond_codes: np.ndarray, symbols: np.ndarray | None,
        box: tuple[int, int, int, int], progress: Progress | None, cancel: CancelEvent | None,
    ) -> np.ndarray:
        """Restore ``box`` of the image tile by tile (blind: as it is, where ``blind_passes_through``)."""
        if symbols is None and self.blind_passes_through(cond_codes):
            top, left, bottom, right = box
            if progress:
                progress(1, 1)
            return decoded[top:bottom, left:right].copy()
        cond = self._cond(cond_codes)
        sym = None if symbols is None else torch.from_numpy(symbols.astype(np.int64)).to(self.device)

        def run(tile: Tile) -> np.ndarray:
            oa, ob, oc, od = (v // BLOCK for v in tile.outer)
            tile_symbols = None if sym is None else sym[None, oa:ob, oc:od]
            restored = self._run(self.net.restore, self._tensor(padded_crop(decoded, tile.outer)), cond, tile_symbols)
            return restored[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()

        height, width = decoded.shape[:2]
        return image_box(height, width, box, self.tile_size, TILE_MARGIN, run, progress, cancel)

"""Validation on held-out training images (never on the test sets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.conditioning import Conditioning
from engine.config import BLOCK
from engine.models.context_model import bits_per_block
from engine.models.sidejpeg import SideJPEGNet
from engine.training.data import jpeg_roundtrip, load_rgb, to_tensor
from engine.training.selection import rd_choice

VAL_POINTS = ((10, "4:2:0"), (30, "4:2:0"), (50, "4:2:0"), (75, "4:2:2"), (90, "4:4:4"), (95, "4:4:4"))
"""(quality, subsampling) of the validation JPEGs: where restoration gains most and where users' photos are."""
VAL_LAMBDAS = (4.0, 64.0, 1024.0)
VAL_CROP = 256


def rounded_psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.clamp(0, 1) * 255).round() - b * 255).pow(2).mean())
    return 10 * np.log10(255.0**2 / max(mse, 1e-8))


def centre_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    size = min(size, h // BLOCK * BLOCK, w // BLOCK * BLOCK)
    top, left = (h - size) // 2, (w - size) // 2
    return img[top : top + size, left : left + size]


def _symbols(net: SideJPEGNet, x: torch.Tensor, y: torch.Tensor, cond: torch.Tensor, lam: float) -> torch.Tensor:
    """The encoder's map: by rate and distortion over the candidates when the decoder selects per block."""
    if not net.selects_blocks:
        return net.extract(x, y, cond)
    encoded = net.encoder_pass(x, y, cond)
    return rd_choice(net, net.allowed_errors(encoded.errors), encoded.first, cond, torch.tensor([lam], device=x.device))


@dataclass
class Measurements:
    """Validation's per-image values, which the processes of a distributed run each measure on their share
    of the images and then pool (``pooled``) before the summary."""

    gains_blind: dict[str, list[float]] = field(default_factory=lambda: {f"q{q} {sub}": [] for q, sub in VAL_POINTS})
    gains_side: dict[float, list[float]] = field(default_factory=lambda: {lam: [] for lam in VAL_LAMBDAS})
    bits: dict[float, list[float]] = field(default_factory=lambda: {lam: [] for lam in VAL_LAMBDAS})
    symbols: list[torch.Tensor] = field(default_factory=list)

    @staticmethod
    def pooled(parts: list[Measurements]) -> Measurements:
        whole = Measurements()
        for part in parts:
            for mine, theirs in ((whole.gains_blind, part.gains_blind), (whole.gains_side, part.gains_side),
                                 (whole.bits, part.bits)):
                for key, values in theirs.items():
                    mine[key].extend(values)
            whole.symbols.extend(part.symbols)
        return whole


@torch.inference_mode()
def measure(net: SideJPEGNet, paths: list[Path], device: torch.device) -> Measurements:
    """PSNR gains over JPEG of each image (blind per validation point, with side information per lambda), its
    side bits and its symbols."""
    net.eval()
    m = Measurements()
    for path in paths:
        crop = centre_crop(load_rgb(path), VAL_CROP)
        for q, sub in VAL_POINTS:
            decoded, params = jpeg_roundtrip(crop, q, sub)
            x, y = to_tensor([crop]).to(device), to_tensor([decoded]).to(device)
            jpeg_psnr = rounded_psnr(y, x)
            for lam in VAL_LAMBDAS:
                cond = torch.from_numpy(Conditioning.of(params, lam).vector())[None].to(device)
                if lam == VAL_LAMBDAS[0]:
                    m.gains_blind[f"q{q} {sub}"].append(rounded_psnr(net.restore(y, cond, None), x) - jpeg_psnr)
                sym = _symbols(net, x, y, cond, lam)
                one_hot = torch.nn.functional.one_hot(sym, net.config.symbols).permute(0, 3, 1, 2).float()
                m.bits[lam].append(float(bits_per_block(net.context(one_hot, cond), one_hot).mean()))
                m.gains_side[lam].append(rounded_psnr(net.restore(y, cond, sym), x) - jpeg_psnr)
                if lam == VAL_LAMBDAS[0]:
                    m.symbols.append(sym.flatten().cpu())
    return m


def summary(m: Measurements, symbols: int) -> dict:
    """Mean gains, the worst blind change and the symbols in use (of ``symbols``), as the run's log keeps them."""
    blind = [v for g in m.gains_blind.values() for v in g]
    hist = torch.bincount(torch.cat(m.symbols), minlength=symbols).float()
    p = hist / hist.sum()
    return {
        "gain_blind_db": round(float(np.mean(blind)), 4),
        "gain_blind_db_per_point": {k: round(float(np.mean(v)), 4) for k, v in m.gains_blind.items()},
        "worst_blind_db": round(float(min(blind)), 4),
        "gain_side_db": {str(k): round(float(np.mean(v)), 4) for k, v in m.gains_side.items()},
        "bits_per_block": {str(k): round(float(np.mean(v)), 4) for k, v in m.bits.items()},
        "symbols_used_1pct": int((p >= 0.01).sum()),
    }

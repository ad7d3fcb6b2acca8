"""Overlay text for each view: rates, PSNR and SSIM against the original, image size."""

from __future__ import annotations

import math

from gui.document import Document, Rates, Role

NO_VALUE = "—"
PENDING = "…"


def db(value: float) -> str:
    return "∞ dB" if math.isinf(value) else f"{value:.2f} dB"


def fidelity_lines(psnr: float | None, ssim: float | None, reference_psnr: float | None = None) -> list[str]:
    """PSNR (with its gain over ``reference_psnr``) and SSIM; dashes when there is no original,
    an ellipsis while the SSIM is still being computed."""
    if psnr is None:
        return [f"PSNR  {NO_VALUE}", f"SSIM  {NO_VALUE}"]
    gain = ""
    if reference_psnr is not None and math.isfinite(psnr) and math.isfinite(reference_psnr):
        gain = f"  ({psnr - reference_psnr:+.2f})"
    return [f"PSNR  {db(psnr)}{gain}", f"SSIM  {PENDING if ssim is None else f'{ssim:.4f}'}"]


def rate_lines(rates: Rates, blind: bool) -> list[str]:
    if blind:
        return [f"bpp   {rates.jpeg:.3f}  (JPEG only, blind)"]
    return [
        f"bpp   {rates.jpeg:.3f} JPEG + {rates.side:.3f} side = {rates.total:.3f}",
        f"side  {100 * rates.side_share:.1f} % of total",
    ]


def caption(role: Role, doc: Document) -> tuple[str, list[str]]:
    """(title, detail lines) of the overlay on the view showing ``role``."""
    source = doc.source
    if source is None:
        return role.value, []
    width, height = source.size
    size = f"size  {width} × {height} px"
    if role is Role.ORIGINAL:
        if source.received:
            return "Original", ["no original (received JPEG)"]
        return "Original", [size, *(f"note  {n}" for n in source.notes)]
    if role is Role.JPEG:
        if source.received:
            quality = doc.restored.quality if doc.restored else None
            title = "JPEG · received" + (f" · q{quality}" if quality else "")
            bpp, psnr = Rates.of(source.received_jpeg, None, width, height).jpeg, None
        elif doc.jpeg is None:
            return "JPEG", ["encoding…"]
        else:
            title = f"JPEG · q{doc.jpeg.quality} · {doc.jpeg.subsampling}"
            bpp, psnr = doc.jpeg.rates.jpeg, doc.jpeg.psnr
        return title, [f"bpp   {bpp:.3f}", *fidelity_lines(psnr, doc.ssim(Role.JPEG)), size]
    out = doc.restored
    if out is None:
        return "Restored", ["restoring…"]
    mode = "blind" if out.blind else "side info"
    lines = [*rate_lines(out.rates, out.blind), *fidelity_lines(out.psnr, doc.ssim(Role.RESTORED), out.jpeg_psnr)]
    if out.lam is not None and not out.blind:
        lines.append(f"λ     {out.lam:.1f}")
    return f"Restored · {mode} · {out.preset}", [*lines, size]

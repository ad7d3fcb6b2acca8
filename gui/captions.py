"""Overlay text for each view: which setting it shows, rates and file sizes, PSNR and SSIM against the
original, image size; and the other text the window shows about the document (no Qt here)."""

from __future__ import annotations

import math

from gui.state import BLOCK, DocumentState, Rates, Role, Settings, Source, ViewState

NO_VALUE = "—"
PENDING = "…"
PREVIOUS = "previous"
"""Marks a title whose view still shows an earlier setting than the current one."""


def db(value: float) -> str:
    return "∞ dB" if math.isinf(value) else f"{value:.2f} dB"


def file_size(nbytes: int) -> str:
    """Bytes as a person reads them (1 KB = 1000 bytes, as file managers count)."""
    if nbytes < 1000:
        return f"{nbytes} B"
    if nbytes < 1_000_000:
        return f"{nbytes / 1000:.1f} KB"
    return f"{nbytes / 1_000_000:.2f} MB"


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
        return [f"bpp   {rates.jpeg:.3f} · {file_size(rates.jpeg_bytes)}  (JPEG only, blind)"]
    return [
        f"bpp   {rates.jpeg:.3f} JPEG + {rates.side:.3f} side = {rates.total:.3f}",
        f"file  {file_size(rates.jpeg_bytes)} + {file_size(rates.side_bytes)} = {file_size(rates.total_bytes)}",
        f"side  {100 * rates.side_share:.1f} % of total",
    ]


def setting_label(settings: Settings, source: Source) -> str:
    """The setting a restored view shows, e.g. ``q30 · 4:2:0 · λ 64.0 · sidecar · fast``; a received JPEG
    without side information is restored blind whatever the setting."""
    sidecar = settings.use_sidecar and (not source.received or source.received_sidecar is not None)
    decoder = f"{'sidecar' if sidecar else 'blind'} · {settings.preset}"
    if source.received:
        return f"received · {decoder}"
    return f"q{settings.quality} · {settings.subsampling} · λ {settings.lam:.1f} · {decoder}"


def restore_status(doc: DocumentState, restoring: bool) -> str:
    """What became of the current setting's restoration while the view does not show it."""
    wanted = setting_label(doc.settings, doc.source)
    failure = doc.restore_failure()
    if restoring:
        return f"restoring {wanted}{PENDING}"
    if failure is not None:
        return f"{wanted} failed: {failure}"
    return f"{wanted} not computed (cancelled)"


def time_left(elapsed_s: float, done: int, total: int) -> str:
    """The progress bar's text: the share done and, once a little is done, an estimate of the time left."""
    share = f"{100 * done // max(total, 1)} %"
    if done <= 0 or done >= total or elapsed_s < 0.5:
        return share
    left = elapsed_s * (total - done) / done
    return f"{share} · about {left:.0f} s left" if left >= 1 else f"{share} · under 1 s left"


def adaptation_label(channels: tuple[str, ...], gain_db: float | None) -> str:
    """Which channels the image's own adaptation corrects, and what it bought where that is known."""
    if not channels:
        return "none (it would not pay for this image)"
    return ", ".join(channels) + ("" if gain_db is None else f" (+{gain_db:.2f} dB)")


def restored_caption(doc: DocumentState, restoring: bool) -> tuple[str, list[str]]:
    """The restored view's overlay; it says which setting it shows and whether that is the current one."""
    out = doc.restored
    if out is None:
        failed = not restoring and doc.restore_failure() is not None
        return "Restored · failed" if failed else "Restored", [restore_status(doc, restoring)]
    title = f"{out.note.title if out.note else 'Restored'} · {setting_label(out.settings, doc.source)}"
    lines = []
    if not doc.restored_is_current():
        title += f" · {PREVIOUS}"
        lines.append(f"now   {restore_status(doc, restoring)}")
    if out.note:
        lines.append(f"note  {out.note.text}")
    if not out.blind:
        lines.append(f"adapt {adaptation_label(out.adaptation, out.adaptation_gain_db)}")
    width, height = doc.source.size
    lines += [*rate_lines(out.rates, out.blind), *fidelity_lines(out.psnr, doc.ssim(Role.RESTORED), out.jpeg_psnr)]
    return title, [*lines, f"size  {width} × {height} px"]


def jpeg_caption(doc: DocumentState) -> tuple[str, list[str]]:
    source = doc.source
    width, height = source.size
    if source.received:
        quality = doc.restored.quality if doc.restored else None
        title = "JPEG · received" + (f" · q{quality}" if quality else "")
        rates, psnr = Rates.of(source.received_jpeg, None, width, height), None
    elif doc.jpeg is None:
        return "JPEG", [f"encoding{PENDING}"]
    else:
        title = f"JPEG · q{doc.jpeg.quality} · {doc.jpeg.subsampling}"
        title += "" if doc.jpeg_is_current() else f" · {PREVIOUS}"
        rates, psnr = doc.jpeg.rates, doc.jpeg.psnr
    bpp = f"bpp   {rates.jpeg:.3f} · {file_size(rates.jpeg_bytes)}"
    return title, [bpp, *fidelity_lines(psnr, doc.ssim(Role.JPEG)), f"size  {width} × {height} px"]


def caption(role: Role, doc: DocumentState, restoring: bool = False) -> tuple[str, list[str]]:
    """(title, detail lines) of the overlay on the view showing ``role``; ``restoring`` while a restoration
    of the current setting is being computed."""
    source = doc.source
    if source is None:
        return role.value, []
    if role is Role.ORIGINAL:
        if source.received:
            return "Original", ["no original (received JPEG)"]
        width, height = source.size
        return "Original", [f"size  {width} × {height} px", *(f"note  {n}" for n in source.notes)]
    return jpeg_caption(doc) if role is Role.JPEG else restored_caption(doc, restoring)


def view_caption(role: Role, doc: DocumentState, view: ViewState, restoring: bool) -> tuple[str, list[str]]:
    """``caption`` of what the view of ``role`` shows: the restored view may show a preview, or the JPEG while
    flipped."""
    if role is Role.RESTORED and view.flipped:
        title, lines = caption(Role.JPEG, doc)
        return f"{title} · flipped (B: restored)", lines
    if role is Role.RESTORED and view.preview is not None:
        return view.preview[1], view.preview[2]
    return caption(role, doc, restoring)


def view_title(role: Role, view: ViewState) -> str:
    """What the view of ``role`` shows, in a word or two."""
    return "JPEG (flipped)" if role is Role.RESTORED and view.flipped else role.value


def export_title(doc: DocumentState, what: str) -> str:
    """An export dialog's title names the setting it writes: the one the restored view shows, which may be a
    previous one while the current one is computed or after Cancel."""
    title = f"{what} · {setting_label(doc.restored.settings, doc.source)}"
    return title if doc.restored_is_current() else f"{title} (shown; the current setting is not computed)"


def hover_text(doc: DocumentState, x: float, y: float) -> str:
    """The status bar under the pointer at image position (x, y): each image's pixel, the block, its descriptor and
    bits; empty outside the image."""
    width, height = doc.source.size
    if not (0 <= x < width and 0 <= y < height):
        return ""
    col, row = int(x), int(y)
    parts = [f"x {col}  y {row}"]
    for role in Role:
        image = doc.image(role)
        if image is not None:
            parts.append(f"{role.value} {' '.join(str(v) for v in image[row, col])}")
    parts.append(f"block ({row // BLOCK}, {col // BLOCK})")
    out = doc.restored
    if out is not None and out.symbols is not None:
        parts.append(f"descriptor {out.symbols[row // BLOCK, col // BLOCK]}")
    if out is not None and out.block_bits is not None:
        parts.append(f"{out.block_bits[row // BLOCK, col // BLOCK]:.2f} bits")
    return "   ·   ".join(parts)

"""Help > About: the app and a summary of each installed model's card, from what the engine exposes."""

from __future__ import annotations

import html
from importlib import metadata

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from engine import PRESETS, earlier_releases, measured_side_vs_blind
from gui.jobs import CodecCache

CARD = "resources/models/README.md"
"""Where the full model card lives (in the checkout and in the installed package)."""


def app_version() -> str:
    try:
        return metadata.version("sidejpeg")
    except metadata.PackageNotFoundError:
        return "development checkout"


def _with_shares(shares: list[tuple[float, str, float]], floor: float) -> str:
    """How far a JPEG finer than the floor is moved towards the network, as calibrated."""
    used = [(step, share) for step, _, share in shares if share > 0 and step < floor]
    if not used:
        return ", without the network"
    return (
        f", moved up to {max(share for _, share in used):.0%} of the way to the network's restoration (calibrated "
        f"per step and chroma sampling, down to a step of {min(used)[0]:.2f})"
    )


def _partly(shares: list[tuple[float, str, float]], floor: float) -> str:
    """Which JPEGs from the floor on get less than all of the network, as calibrated."""
    partial = [(step, share) for step, _, share in shares if share < 1 and step >= floor]
    if not partial:
        return ""
    return (
        f" ({min(share for _, share in partial):.0%} to {max(share for _, share in partial):.0%} of it, the rest "
        f"the JPEG decoded anew, where calibrated so up to a step of {max(partial)[0]:.2f})"
    )


def model_summary(codecs: CodecCache, preset: str, device: str) -> list[str]:
    """A few lines on one installed model: architecture, identity, where blind restoration applies, and what its
    side information was measured to buy."""
    config = PRESETS[preset]
    codec = codecs.get(preset, device)
    symbols = f"{config.candidates} corrections" + (" + the keep symbol (JPEG pixels)" if config.keep_symbol else "")
    lines = [
        f"Restorer: {config.trunk_summary}; {symbols} per 16×16 block",
        f"Model id {codec.model_id.hex()}",
        f"Blind restoration applies down to a mean luma quantiser step of {codec.blind_min_step:.2f}"
        f"{_partly(codec.blind_shares, codec.blind_min_step)}; finer JPEGs are shown decoded anew from their "
        f"coefficients{_with_shares(codec.blind_shares, codec.blind_min_step)} (as they are where those cannot "
        "be read)",
    ]
    measured = measured_side_vs_blind(preset)
    if measured:
        rates = ", ".join(f"{name} {value:+.1f} %" for name, value in measured.items())
        lines.append(f"Measured: side information vs blind decoding, BD-rate q10-40: {rates} (negative = fewer bits)")
    else:
        lines.append("Measured: not measured on the test sets")
    return lines


def about_html(codecs: CodecCache, presets: list[str], device: str) -> str:
    models = "".join(
        f"<h4>Model <code>{html.escape(preset)}</code></h4><ul>"
        + "".join(f"<li>{html.escape(line)}</li>" for line in model_summary(codecs, preset, device))
        + "</ul>"
        for preset in presets
        if preset in PRESETS
    )
    earlier = earlier_releases()
    if earlier:
        names = ", ".join(f"<code>{html.escape(name)}</code>" for name in earlier)
        models += f"<p>Earlier releases, kept so that the sidecars made with them still decode: {names}.</p>"
    return (
        f"<h3>SideJPEG {html.escape(app_version())}</h3>"
        "<p>Ordinary JPEG files plus a small sidecar of learned artifact descriptors; the viewer restores them, "
        "never worse than the JPEG (Ma et al., VCIP 2020, with block selection and a keep symbol).</p>"
        f"{models}<p>Training data, steps and the full measurements: the model card, <code>{CARD}</code>.</p>"
    )


class AboutDialog(QDialog):
    def __init__(self, codecs: CodecCache, presets: list[str], device: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About SideJPEG")
        self.text = QLabel(about_html(codecs, presets, device))
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setMinimumWidth(560)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)

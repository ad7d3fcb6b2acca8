"""The map over the JPEG and restored views, and what the legend says about it: the restored result's descriptor
or bits per block, or each view's difference from the original."""

from __future__ import annotations

import numpy as np

from gui.captions import view_title
from gui.descriptor_map import MapLegend, bits_rgba, descriptor_rgba
from gui.difference_map import difference_rgba, mean_absolute_difference
from gui.state import BLOCK, DocumentState, RestoreOutcome, Role, ViewState, view_image

Layer = tuple[np.ndarray | None, int]
"""An RGBA map (None: no map) and the image pixels per map cell."""


def map_layers(doc: DocumentState, view: ViewState, legend: MapLegend) -> dict[Role, Layer]:
    """Each view's layer for the chosen ``view.map_mode``; the legend shows what they mean."""
    if view.map_mode == "difference":
        return difference_layers(doc, view, legend)
    return block_layers(doc.restored, view.map_mode, legend)


def block_layers(out: RestoreOutcome | None, mode: str, legend: MapLegend) -> dict[Role, Layer]:
    """The descriptor or bits map of the restored result, the same over every view."""
    rgba = None
    if out is None:
        legend.show_none("The map appears once the restored view is in.")
    elif mode == "descriptors" and out.symbols is not None:
        rgba = descriptor_rgba(out.symbols)
        legend.show_descriptors(out.symbols)
    elif mode == "bits" and out.block_bits is not None:
        rgba = bits_rgba(out.block_bits)
        legend.show_bits(out.block_bits)
    elif mode != "none":
        legend.show_none(f"No {mode} map: " + (
            "the JPEG came without side information." if out.symbols is None
            else "bit costs are known only when compressing an original."))
    return {role: (rgba, BLOCK) for role in Role}


def difference_layers(doc: DocumentState, view: ViewState, legend: MapLegend) -> dict[Role, Layer]:
    """Each view's image minus the original, pixel by pixel (the restored view's as it is shown: flipped or a
    preview included)."""
    original = doc.image(Role.ORIGINAL)
    layers: dict[Role, Layer] = {role: (None, 1) for role in Role}
    if original is None:
        legend.show_none("No difference map: a received JPEG has no original to compare with.")
        return layers
    errors = {}
    for role in (Role.JPEG, Role.RESTORED):
        image = view_image(doc, view, role)
        if image is not None:
            layers[role] = (difference_rgba(image, original), 1)
            errors[view_title(role, view)] = mean_absolute_difference(image, original)
    legend.show_difference(errors)
    return layers

"""Where shipped files live: model weights and the sample image, package data of ``resources``.

Installed from the wheel they lie inside the installed package; in a checkout they are its
``resources/`` folder. The environment variable SIDEJPEG_RESOURCES names another folder of the same
layout instead.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import re
from pathlib import Path

from safetensors import SafetensorError, safe_open

from engine.strength import Shares, shares_of
from engine.weights import BLIND_MIN_STEP_KEY


def _shipped() -> Path:
    """The ``resources`` package's folder (installed packages are plain folders, never zipped: the weights
    are opened by path)."""
    return Path(str(importlib.resources.files("resources")))


RESOURCES = Path(os.environ.get("SIDEJPEG_RESOURCES") or _shipped())
MODELS = RESOURCES / "models"
EARLIER = MODELS / "earlier"
"""Weights of earlier releases, kept so that the sidecars made with them still decode: each is named
``<preset>@<first 8 hex digits of its model id>``. The command line and the app compress with a preset's
current release and switch to an earlier one only to restore a sidecar it made."""
SAMPLE_IMAGE = RESOURCES / "samples" / "sample.png"
RELEASE_MARK = "@"
_NAME = re.compile(r"([a-z0-9_-]+)(@[0-9a-f]{8})?")


def preset_name(model: str) -> str | None:
    """The preset of a model name: ``fast`` of both ``fast`` and ``fast@3a4f0353``; None for a name of
    neither form."""
    named = _NAME.fullmatch(model)
    return named.group(1) if named else None


def weights_path(model: str) -> Path:
    """The weights of a preset (its current release) or of an earlier release (``preset@id``)."""
    return (EARLIER if RELEASE_MARK in model else MODELS) / f"{model}.safetensors"


def _metadata(path: Path) -> dict[str, str]:
    """A weights file's header metadata, without reading its tensors."""
    with safe_open(str(path), framework="pt") as f:
        return f.metadata() or {}


def installed_models() -> dict[str, str]:
    """Model id (16 hex digits) -> model name, for every shipped weights file: the preset's name for its
    current release, ``preset@id`` for an earlier one (``EARLIER``); reads headers only."""
    found = {}
    for path in sorted(MODELS.glob("*.safetensors")) + sorted(EARLIER.glob("*.safetensors")):
        try:
            meta = _metadata(path)
            preset = json.loads(meta["config"])["name"]
        except (OSError, KeyError, ValueError, SafetensorError):
            continue
        earlier = path.parent == EARLIER
        if earlier and preset_name(path.stem) != preset:
            continue
        found[meta["sha256"][:16]] = path.stem if earlier else preset
    return found


def blind_calibration(preset: str) -> tuple[float, Shares] | None:
    """The finest mean luma quantiser step the shipped ``preset`` restores blindly on its own and the shares
    of it finer JPEGs get (``engine.strength``), read from the header alone; None when the preset is not
    installed."""
    try:
        info = json.loads(_metadata(weights_path(preset)).get("info", "{}"))
    except (OSError, ValueError, SafetensorError):
        return None
    return float(info.get(BLIND_MIN_STEP_KEY, 0.0)), shares_of(info)


def earlier_releases() -> list[str]:
    """Names (``preset@id``) of the installed earlier releases, which decode the sidecars made with them."""
    return sorted(name for name in installed_models().values() if RELEASE_MARK in name)


def preset_of(model_id: bytes) -> str | None:
    """The name of the installed model (a preset, or an earlier release of one) whose id is this, or starts
    with it (a sidecar of version 5 on carries the first 4 bytes); None when no installed model matches."""
    prefix = model_id.hex()
    return next((preset for full, preset in installed_models().items() if full.startswith(prefix)), None)


def measured_side_vs_blind(preset: str) -> dict[str, float] | None:
    """BD-rate (%) of decoding with side information against blind decoding, per test set.

    Read from ``<preset>.results.json`` beside the weights (an earlier release's beside its own), written
    from ``sidejpeg eval``'s summaries when the weights ship; None when the preset has not been measured.
    A value >= 0 means the side information does not pay for its bits with these weights.
    """
    path = weights_path(preset).with_name(f"{preset}.results.json")
    try:
        data = json.loads(path.read_text())
        return {name: float(v) for name, v in data["side_vs_blind_bd_rate_q10_40"].items()}
    except (OSError, KeyError, TypeError, ValueError, AttributeError):
        return None

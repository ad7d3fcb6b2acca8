"""Where shipped files live: model weights and sample images under ``resources/``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from safetensors import SafetensorError, safe_open

RESOURCES = Path(os.environ.get("SIDEJPEG_RESOURCES", Path(__file__).resolve().parent.parent / "resources"))
MODELS = RESOURCES / "models"
SAMPLE_IMAGE = RESOURCES / "samples" / "sample.png"


def weights_path(preset: str) -> Path:
    return MODELS / f"{preset}.safetensors"


def installed_models() -> dict[str, str]:
    """Model id (16 hex digits) -> preset name, for every shipped weights file; reads headers only."""
    found = {}
    for path in sorted(MODELS.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
            found[meta["sha256"][:16]] = json.loads(meta["config"])["name"]
        except (OSError, KeyError, ValueError, SafetensorError):
            continue
    return found

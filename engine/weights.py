"""Model weights in safetensors files (never pickles), identified by a hash of their tensors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from engine.atomic import atomic_path
from engine.config import ModelConfig
from engine.errors import SideJPEGError
from engine.models.sidejpeg import SideJPEGNet

MODEL_ID_BYTES = 8
BLIND_MIN_STEP_KEY = "blind_min_step"
"""Key of the model info (``save_model``) holding the finest mean luma quantiser step from which on blind
restoration was measured not to harm (``engine.training.calibrate``)."""
BLIND_SHARES_KEY = "blind_shares"
"""Key of the model info holding, for each mean luma step calibrated finer than ``BLIND_MIN_STEP_KEY``'s, the
share of the network a blind JPEG of that step is shown with (``engine.strength``)."""


def tensors_hash(tensors: dict[str, torch.Tensor]) -> bytes:
    """SHA-256 over names, shapes, dtypes and bytes of the tensors in sorted order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        # copied in logical order: a channels_last 1x1 kernel counts as contiguous yet has no unit last stride
        flat = t.clone(memory_format=torch.contiguous_format).reshape(-1)
        digest.update(flat.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.digest()


def model_id(net: SideJPEGNet) -> bytes:
    """The 8-byte identifier a sidecar stores to name the weights it was made with."""
    return tensors_hash(net.state_dict())[:MODEL_ID_BYTES]


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)


def save_model(path: str | Path, net: SideJPEGNet, info: dict | None = None) -> str:
    """Write the weights with their config; returns the SHA-256 hex digest of the tensors."""
    state = net.state_dict()
    digest = tensors_hash(state).hex()
    meta = {"config": json.dumps(net.config.to_dict()), "sha256": digest, "info": json.dumps(info or {})}
    save_tensors(path, state, meta)
    return digest


def read_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        return load_file(str(path)), metadata
    except (OSError, SafetensorError) as exc:
        raise SideJPEGError(f"cannot read weights {path}: {exc}") from None


def load_model_info(path: str | Path) -> tuple[SideJPEGNet, dict]:
    """Load weights, checking that their hash matches the one recorded at save time; with the model's info
    (training steps and settings, calibration)."""
    tensors, metadata = read_tensors(path)
    try:
        config = ModelConfig.from_dict(json.loads(metadata["config"]))
        info = json.loads(metadata.get("info", "{}"))
    except (KeyError, TypeError, ValueError) as exc:
        raise SideJPEGError(f"weights {path} carry no valid model config: {exc}") from None
    if tensors_hash(tensors).hex() != metadata.get("sha256"):
        raise SideJPEGError(f"weights {path} do not match their recorded hash (corrupted?)")
    net = SideJPEGNet(config)
    try:
        net.load_state_dict(tensors)
    except RuntimeError as exc:
        raise SideJPEGError(f"weights {path} do not fit preset {config.name!r}: {exc}") from None
    return net.eval(), info if isinstance(info, dict) else {}


def load_model(path: str | Path) -> SideJPEGNet:
    """``load_model_info`` without the info."""
    return load_model_info(path)[0]

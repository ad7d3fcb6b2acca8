"""Carry trained weights of a 16-symbol model with the 3-entry JPEG conditioning over to today's presets
(the keep symbol and the 8-entry header conditioning), as the start of a fine-tuning run.

The old function is preserved: new conditioning inputs and the keep symbol's inputs start at zero,
so the upgraded network restores exactly as before until training moves them; the keep symbol starts
improbable (its logit below every other), which the selection stage then learns.

    python scripts/upgrade_weights.py resources/checkpoints/fast-last.safetensors fast runs/fast-init.safetensors
"""

from __future__ import annotations

import argparse

import torch

from engine.conditioning import JPEG_COND
from engine.config import get_preset
from engine.models.sidejpeg import SideJPEGNet
from engine.weights import read_tensors, save_model

OLD_JPEG_COND = 3
OLD_SYMBOLS = 16
JPEG_MAP = {i: i for i in range(OLD_JPEG_COND)}
COND_MAP = {**JPEG_MAP, OLD_JPEG_COND: JPEG_COND}
"""Old conditioning index -> new: the three JPEG entries stay, lambda moves to the end."""
KEEP_LOGIT_MARGIN = 2.0


def _remap(old: torch.Tensor, shape: torch.Size, dim: int, index: dict[int, int], offset: int = 0) -> torch.Tensor:
    """A zero tensor of ``shape`` holding ``old``'s slices ``offset + i`` at ``offset + index[i]`` along ``dim``;
    slices before ``offset`` are copied where they are."""
    new = torch.zeros(shape, dtype=old.dtype)
    head = [slice(None)] * old.dim()
    head[dim] = slice(0, offset)
    new[tuple(head)] = old[tuple(head)]
    for src, dst in index.items():
        a, b = [slice(None)] * old.dim(), [slice(None)] * old.dim()
        a[dim], b[dim] = offset + src, offset + dst
        new[tuple(b)] = old[tuple(a)]
    return new


def upgrade(old: dict[str, torch.Tensor], net: SideJPEGNet) -> dict[str, torch.Tensor]:
    symbols = {i: i for i in range(OLD_SYMBOLS)}
    cond_after_symbols = {OLD_SYMBOLS + k: net.config.symbols + v for k, v in COND_MAP.items()}
    state = net.state_dict()
    out = {}
    for name, target in state.items():
        tensor = old[name]
        if tensor.shape == target.shape:
            out[name] = tensor
        elif name == "restorer.head.weight":
            out[name] = _remap(tensor, target.shape, 1, JPEG_MAP, offset=target.shape[1] - JPEG_COND)
        elif name == "mapping.embed.0.weight":
            out[name] = _remap(tensor, target.shape, 1, {**symbols, **cond_after_symbols})
        elif name == "context.cond.weight":
            out[name] = _remap(tensor, target.shape, 1, COND_MAP)
        elif name == "context.masked.weight":
            out[name] = _remap(tensor, target.shape, 1, symbols)
        elif name == "extractor.head.0.weight":
            out[name] = _remap(tensor, target.shape, 1, COND_MAP, offset=tensor.shape[1] - OLD_JPEG_COND - 1)
        elif name in ("context.layers.2.weight", "extractor.head.2.weight"):
            out[name] = _remap(tensor, target.shape, 0, symbols)
        elif name in ("context.layers.2.bias", "extractor.head.2.bias"):
            out[name] = torch.cat([tensor, tensor.min().reshape(1) - KEEP_LOGIT_MARGIN])
        else:
            raise ValueError(f"no rule to upgrade {name} from {tuple(tensor.shape)} to {tuple(target.shape)}")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", help="old weights or checkpoint (safetensors; checkpoint keys start with 'model.')")
    p.add_argument("preset")
    p.add_argument("target")
    args = p.parse_args()
    tensors, _ = read_tensors(args.source)
    old = {k.removeprefix("model."): v for k, v in tensors.items() if not k.startswith(("optim.", "rng."))}
    net = SideJPEGNet(get_preset(args.preset))
    net.load_state_dict(upgrade(old, net))
    print(f"wrote {args.target} (sha256 {save_model(args.target, net, {'upgraded_from': args.source})[:16]}...)")


if __name__ == "__main__":
    main()

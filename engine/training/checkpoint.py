"""Resumable training checkpoints: model, Adam state and the weights' average in safetensors, the rest in JSON."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel

from engine.atomic import write_bytes
from engine.weights import read_tensors, save_tensors

AVERAGE = "ema."
"""Prefix of the weights' moving average in a checkpoint (``TrainConfig.ema``)."""


def save_checkpoint(
    folder: Path, net: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict,
    average: AveragedModel | None = None,
) -> None:
    """Write ``last.safetensors`` and ``last.json`` atomically (tensors first, then the index)."""
    tensors = {f"model.{k}": v for k, v in net.state_dict().items()}
    if average is not None and average.n_averaged:
        tensors.update({f"{AVERAGE}{k}": v for k, v in average.state_dict().items()})
    params = list(net.parameters())
    index = {id(p): i for i, p in enumerate(params)}
    for param, slots in optimizer.state.items():
        for key, value in slots.items():
            tensors[f"optim.{index[id(param)]}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    tensors["rng.torch"] = torch.get_rng_state()
    save_tensors(folder / "last.safetensors", tensors, {"step": str(state["step"])})
    write_bytes(folder / "last.json", json.dumps(state, indent=2).encode())


SLIM_PARTS = ("model.", "rng.")
"""What a slim checkpoint keeps of a full one (``save_slim``)."""


def save_slim(folder: Path, dest: Path) -> None:
    """``folder``'s last checkpoint without Adam's moments and the weights' average, as ``dest``.safetensors and
    ``dest``.json (tensors first, then the index): what a long CPU campaign commits between sessions, a third of
    the size. Copied to a run folder's ``last.*`` it resumes; the moments and the average start afresh."""
    index = (folder / "last.json").read_bytes()
    tensors, metadata = read_tensors(folder / "last.safetensors")
    dest.parent.mkdir(parents=True, exist_ok=True)
    kept = {k: v for k, v in tensors.items() if k.startswith(SLIM_PARTS)}
    save_tensors(dest.with_name(dest.name + ".safetensors"), kept, metadata)
    write_bytes(dest.with_name(dest.name + ".json"), index)


NEW_PARTS = ("restorer.corrections.", "restorer.context.")
"""Parts a model may have gained since a checkpoint was written; they keep their initial weights."""


def load_model_state(net: torch.nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Load weights; only parameters of ``NEW_PARTS`` may be missing (to grow a trained model a new stage)."""
    missing, unexpected = net.load_state_dict(weights, strict=False)
    absent = [k for k in missing if not k.startswith(NEW_PARTS)]
    if absent or unexpected:
        raise ValueError(f"checkpoint does not fit the model: missing {absent}, unexpected {unexpected}")


def _part(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def shipped_weights(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A checkpoint's weights to ship: their moving average when the run kept one, else the last step's."""
    return _part(tensors, f"{AVERAGE}module.") or _part(tensors, "model.")


def load_checkpoint(
    folder: Path, net: torch.nn.Module, optimizer: torch.optim.Optimizer, average: AveragedModel | None = None
) -> dict:
    """Restore model, optimizer, RNG and the weights' moving average (when both the checkpoint and the run
    keep one; otherwise the average starts from the restored weights) from ``folder``; returns the saved
    JSON state."""
    state = json.loads((folder / "last.json").read_text())
    tensors, _ = read_tensors(folder / "last.safetensors")
    load_model_state(net, _part(tensors, "model."))
    averaged = _part(tensors, AVERAGE)
    if average is not None and averaged:
        average.load_state_dict(averaged)
    params = list(net.parameters())
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, i, slot = key.split(".", 2)
            param = params[int(i)]
            # moments live beside their parameter (a CUDA run); Adam keeps its step count on the CPU
            optimizer.state[param][slot] = value if slot == "step" else value.to(param.device)
    torch.set_rng_state(tensors["rng.torch"])
    return state

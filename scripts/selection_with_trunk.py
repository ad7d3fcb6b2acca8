"""Experiment (session 12, not yet a TrainConfig option): the selection stage with the trunk trained too, by the
picked blocks' errors, and a blind step every 4th step so that blind restoration keeps its quality.

Resumes from ``resources/checkpoints/fast-last.*`` (its Adam moments included) and runs EXTRA more selection steps:
    OMP_NUM_THREADS=1 python scripts/selection_with_trunk.py runs/fast-unfreeze 1200
Its result is ``resources/checkpoints/fast-trunk-selection.*`` (model card, "Next")."""
import shutil
import sys
from pathlib import Path

import torch
from torch.nn import functional as F

import engine.training.train as tr
from engine.models.context_model import bits_per_block
from engine.training.selection import RELAXED_WEIGHT, VALUES_PER_BLOCK, one_hot, rd_choice


def selection_loss(net, original, jpeg, cond, lams):
    logits = net.extractor(original, jpeg, cond)
    first = logits.argmax(dim=1)
    config = net.config
    h, restored = net.base(jpeg, cond, first)
    with torch.no_grad():
        base = ((restored.clamp(0, 1) - original) * 255).pow(2).mean(dim=(1, 2, 3))
    errors = net.block_errors(h, restored, jpeg, original)
    chosen = rd_choice(net, net.allowed_errors(errors), first, cond, lams)
    picked = errors.gather(1, chosen[:, None])[:, 0]
    spread = errors[:, : config.candidates].mean(dim=1)
    distortion = ((1 - RELAXED_WEIGHT) * picked + RELAXED_WEIGHT * spread).mean() / VALUES_PER_BLOCK
    hot = one_hot(chosen, config.symbols)
    bits = bits_per_block(net.context(hot, cond), hot)
    loss = distortion + bits.mean() + F.cross_entropy(logits, chosen)
    mse = picked.detach().mean(dim=(1, 2)) / VALUES_PER_BLOCK
    stats = {"mse": mse.mean(), "selection_gain_db": (10 * torch.log10(base / mse.clamp_min(1e-8))).mean(),
             "side_bits_per_block": bits.detach().mean()}
    return loss, stats, chosen

tr.selection_loss = selection_loss
plain_selection_step = tr.Trainer.selection_step

def selection_step(self):
    if self.step % 4:
        return plain_selection_step(self)
    original, jpeg, cond, _ = self._batch()
    out = self.model(original, jpeg, cond, blind=True)
    mse = ((out.restored.float() - original) ** 2).mean(dim=(1, 2, 3)) * 255.0**2
    self._apply(mse.mean())
    return {"blind_mse": mse.detach().mean()}

tr.Trainer.selection_step = selection_step
out, extra = Path(sys.argv[1]), int(sys.argv[2])
if not (out / "last.json").exists():
    out.mkdir(parents=True)
    shutil.copy("resources/checkpoints/fast-last.json", out / "last.json")
    shutil.copy("resources/checkpoints/fast-last.safetensors", out / "last.safetensors")
tr.train(tr.TrainConfig(preset="fast", out=str(out), steps=14189, blind_steps=12442, selection_steps=1700 + extra,
                        lr=2e-4, selection_lr=3e-4, warmup_steps=200, batch=8, val_every=300,
                        checkpoint_minutes=5, channels_last=True))

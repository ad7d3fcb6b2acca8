"""Size a run's stages to a wall-clock budget, from step times measured on this machine.

A lent GPU comes for minutes, not hours: rather than guess step counts, time a few steps of each
stage (blind, end to end, selection) on a throw-away copy of the run, then give each stage its
share of the budget (a fresh run) or lengthen the selection stage by the budget (a run continued
from its checkpoint). The learning-rate schedule then decays as planned within the budget.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time

import torch

from engine.errors import SideJPEGError
from engine.training.train import TrainConfig, Trainer

STAGE_SHARES = {"blind": 0.6, "end_to_end": 0.1, "selection": 0.3}
"""Share of the budget per stage: the trunk matters most, and the selection stage is what makes
the side information pay (resources/models/README.md)."""
RESERVE = 0.08
"""Share of the budget kept for validation, checkpoints and the final export."""
PROBE_STEPS = 12
PROBE_WARMUP = 3


def _seconds_per_step(trainer: Trainer, first_step: int) -> float:
    """Mean seconds of the steps that follow ``first_step``, advanced as a run advances them: a stage that
    interleaves blind steps (every ``blind_every``-th) is timed with its share of them."""
    trainer.step = first_step
    for _ in range(PROBE_WARMUP):
        trainer.advance()
    _synchronize(trainer)
    start = time.perf_counter()
    for _ in range(PROBE_STEPS):
        trainer.advance()
    _synchronize(trainer)
    return (time.perf_counter() - start) / PROBE_STEPS


def _synchronize(trainer: Trainer) -> None:
    """Wait for the GPU: a step returns once its work is queued."""
    if trainer.device.type == "cuda":
        torch.cuda.synchronize(trainer.device)


def measure_step_seconds(cfg: TrainConfig) -> dict[str, float]:
    """Seconds per step of each stage, measured on a throw-away run of the same configuration."""
    span = 100 * (PROBE_WARMUP + PROBE_STEPS)
    with tempfile.TemporaryDirectory() as tmp:
        probe = Trainer(dataclasses.replace(cfg, out=tmp, steps=2 * span, blind_steps=span, selection_steps=span))
        seconds = {"blind": _seconds_per_step(probe, 0), "end_to_end": _seconds_per_step(probe, span)}
        if probe.net.selects_blocks:
            seconds["selection"] = _seconds_per_step(probe, 2 * span)
        return seconds


def sized_to(cfg: TrainConfig, minutes: float, step_seconds: dict[str, float]) -> TrainConfig:
    """``cfg`` with blind, end-to-end and selection step counts that fill ``minutes``.

    A model without a selection head gives the selection share to the end-to-end stage.
    """
    usable = minutes * 60 * (1 - RESERVE)
    shares = dict(STAGE_SHARES)
    if "selection" not in step_seconds:
        shares["end_to_end"] += shares.pop("selection")
    steps = {k: max(1, int(usable * share / step_seconds[k])) for k, share in shares.items()}
    return dataclasses.replace(
        cfg,
        blind_steps=steps["blind"],
        steps=steps["blind"] + steps["end_to_end"],
        selection_steps=steps.get("selection", 0),
    )


def extended_to(cfg: TrainConfig, minutes: float, step_seconds: dict[str, float], done: int) -> TrainConfig:
    """``cfg`` with its selection stage lengthened so that the steps after ``done`` (the step of a checkpoint
    already in that stage) fill ``minutes``."""
    if "selection" not in step_seconds:
        raise SideJPEGError("--minutes continues only a model with a selection stage")
    more = max(1, int(minutes * 60 * (1 - RESERVE) / step_seconds["selection"]))
    return dataclasses.replace(cfg, selection_steps=done - cfg.steps + more)

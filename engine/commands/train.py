"""Train a model (blind stage, then end to end), resumable; or export a checkpoint's weights.

Checkpoints (model, optimizer, RNG, config) are written to --out every few minutes; --resume
continues from the last one. Under torchrun the run is distributed (gloo on CPU, NCCL on GPU), each
process taking --batch crops a step.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

from engine.config import PRESETS
from engine.errors import SideJPEGError
from engine.training.budget import extended_to, measure_step_seconds, sized_to
from engine.training.calibrate import CROP as CALIBRATION_CROP
from engine.training.train import TrainConfig, export_weights, train

DEFAULTS = TrainConfig()


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default=DEFAULTS.preset, choices=sorted(PRESETS))
    p.add_argument(
        "--data",
        help=f"folder of training images, never the test sets (default {DEFAULTS.data}); with --export, the "
        "folder whose held-out images to calibrate on (default: the run's)",
    )
    p.add_argument("--out", default=None, help="run folder for checkpoints and logs (default runs/PRESET)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    p.add_argument("--export", metavar="PATH", help="only write the run's latest weights to PATH (safetensors), "
                   "calibrated for blind restoration on the held-out images")
    p.add_argument("--calibration-crop", type=int, default=CALIBRATION_CROP,
                   help=f"side of the held-out centre crops the export calibrates on (default {CALIBRATION_CROP})")
    p.add_argument("--blind-floor", type=float, default=0.0, metavar="STEP",
                   help="with --export: restore blindly no JPEG finer than this mean luma step, whatever the "
                   "calibration allows (a threshold that a check on photographs verified; default 0: none)")
    for field in ("steps", "blind_steps", "selection_steps", "warmup_steps", "batch", "crop", "seed", "val_every"):
        p.add_argument(f"--{field.replace('_', '-')}", type=int, default=getattr(DEFAULTS, field))
    p.add_argument("--workers", type=int, default=DEFAULTS.workers,
                   help="processes that make the batches (default -1: none on a CPU, up to 8 with CUDA)")
    p.add_argument("--init", default="", metavar="WEIGHTS", help="start a fresh run from these weights (fine-tuning)")
    p.add_argument("--lr", type=float, default=DEFAULTS.lr)
    p.add_argument("--new-lr-scale", type=float, default=DEFAULTS.new_lr_scale,
                   help="with --init: learning rate of the parameters the weights lack (a grown stage), as a "
                   "multiple of the schedule's (default 1)")
    p.add_argument("--selection-lr", type=float, default=DEFAULTS.selection_lr)
    p.add_argument("--checkpoint-minutes", type=float, default=DEFAULTS.checkpoint_minutes)
    p.add_argument(
        "--minutes",
        type=float,
        help="size a fresh run's stages to fill this many minutes, from step times measured here "
        "(overrides --steps, --blind-steps and --selection-steps); with --resume, lengthen the selection "
        "stage by this many minutes (the other stages are the checkpoint's)",
    )
    p.add_argument(
        "--bf16",
        action="store_true",
        help="bf16 autocast on the CPU (always on with CUDA); slower on CPUs without native bf16 "
        "(benchmarks/train_step.py)",
    )
    p.add_argument(
        "--selection-trunk",
        action="store_true",
        help=f"train the trunk in the selection stage too, with a blind step every {DEFAULTS.blind_every}th step",
    )
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument(
        "--ema",
        type=float,
        default=DEFAULTS.ema,
        help="decay of a moving average of the weights, which validation and the export use (e.g. 0.999; "
        "default 0: the last step's weights)",
    )
    p.add_argument(
        "--compile", action="store_true", help="torch.compile the training forward (benchmarks/train_step.py)"
    )


def run(args: argparse.Namespace) -> int:
    out = Path(args.out or f"runs/{args.preset}")
    if args.export:
        data = Path(args.data) if args.data else None
        if data and not data.is_dir():
            raise SideJPEGError(f"{data}: no such folder of images to calibrate on")
        target = Path(args.export)
        if not target.parent.is_dir():
            raise SideJPEGError(f"{target.parent}: no such folder to export the weights to")
        if not 0 <= args.blind_floor < float("inf"):
            raise SideJPEGError(f"--blind-floor must be a finite step of at least 0, not {args.blind_floor}")
        digest = export_weights(out, target, args.calibration_crop, data, args.blind_floor)
        print(f"wrote {args.export} (sha256 {digest[:16]}...)")
        return 0
    if (out / "last.json").exists() and not args.resume:
        raise SideJPEGError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if not 0 < args.new_lr_scale < float("inf"):
        raise SideJPEGError(f"--new-lr-scale must be a finite multiple above 0, not {args.new_lr_scale}")
    if not 0 <= args.ema < 1:
        raise SideJPEGError(f"--ema must be at least 0 and below 1, not {args.ema}")
    args.data = args.data or DEFAULTS.data
    if not Path(args.data).is_dir():
        raise SideJPEGError(f"{args.data}: no such folder of training images")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields and k != "out"}, out=str(out))
    if args.minutes is not None:
        cfg = _sized(cfg, args.minutes, resume=args.resume and (out / "last.json").exists())
    train(cfg)
    return 0


def _sized(cfg: TrainConfig, minutes: float, resume: bool) -> TrainConfig:
    if minutes <= 0:
        raise SideJPEGError("--minutes must be positive")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise SideJPEGError("--minutes sizes a single-process run; under torchrun give --steps and --selection-steps")
    done = 0
    if resume:
        state = json.loads((Path(cfg.out) / "last.json").read_text())
        done = state["step"]
        cfg = dataclasses.replace(cfg, **{k: state["config"][k] for k in ("steps", "blind_steps")})
        if done < cfg.steps:
            raise SideJPEGError(
                f"--minutes continues a run in its selection stage, and this one is at step {done} of the "
                f"{cfg.steps} before it; give --steps and --selection-steps to finish it"
            )
    seconds = measure_step_seconds(cfg)
    sized = extended_to(cfg, minutes, seconds, done) if resume else sized_to(cfg, minutes, seconds)
    timing = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in seconds.items())
    print(
        f"step times: {timing}; sized to {sized.blind_steps} blind, {sized.steps - sized.blind_steps} end-to-end "
        f"and {sized.selection_steps} selection steps",
        flush=True,
    )
    return sized

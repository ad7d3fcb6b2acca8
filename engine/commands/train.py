"""Train a model (blind stage, then end to end), resumable; or export a checkpoint's weights.

Checkpoints (model, optimizer, RNG, config) are written to --out every few minutes and when a run stops
early (--stop-after, SIGTERM, Ctrl-C); --resume continues from the last one, with the settings it was written
with unless given again. Under torchrun the run is distributed (gloo on CPU, NCCL on GPU), each
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
    p.add_argument("--preset", choices=sorted(PRESETS), help=f"network (default {DEFAULTS.preset})")
    p.add_argument(
        "--data",
        help=f"folder of training images, never the test sets (default {DEFAULTS.data}); with --export, the "
        "folder whose held-out and sampled training images to calibrate on (default: the run's)",
    )
    p.add_argument("--out", default=None, help="run folder for checkpoints and logs (default runs/PRESET)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the run folder's last checkpoint, with its settings but for those given here "
        "(and --stop-after and --init, which are this invocation's own)",
    )
    p.add_argument("--export", metavar="PATH", help="only write the run's latest weights to PATH (safetensors), "
                   "calibrated for blind restoration on held-out and sampled training images")
    p.add_argument("--calibration-crop", type=int, default=CALIBRATION_CROP,
                   help=f"side of the centre crops the export calibrates on (default {CALIBRATION_CROP})")
    p.add_argument("--blind-floor", type=float, default=0.0, metavar="STEP",
                   help="with --export: give no JPEG finer than this mean luma step more than half the network, "
                   "whatever the calibration allows (a floor a check on photographs verified; default 0: none)")
    for field in ("steps", "blind_steps", "selection_steps", "warmup_steps", "batch", "crop", "seed", "val_every"):
        p.add_argument(f"--{field.replace('_', '-')}", type=int, help=f"(default {getattr(DEFAULTS, field)})")
    p.add_argument("--workers", type=int,
                   help="processes that make the batches (default -1: none on a CPU, up to 8 with CUDA)")
    p.add_argument("--init", metavar="WEIGHTS", help="start a fresh run from these weights (fine-tuning)")
    for field in ("lr", "selection_lr", "checkpoint_minutes"):
        p.add_argument(f"--{field.replace('_', '-')}", type=float, help=f"(default {getattr(DEFAULTS, field)})")
    p.add_argument("--new-lr-scale", type=float,
                   help="with --init: learning rate of the parameters the weights lack (a grown stage), as a "
                   "multiple of the schedule's (default 1)")
    p.add_argument(
        "--minutes",
        type=float,
        help="size a fresh run's stages to fill this many minutes, from step times measured here "
        "(overrides --steps, --blind-steps and --selection-steps); with --resume, lengthen the selection "
        "stage by this many minutes (the other stages are the checkpoint's)",
    )
    p.add_argument(
        "--stop-after",
        type=float,
        metavar="MINUTES",
        help="write a checkpoint and stop after this many minutes, wherever the schedule is (--resume goes on); "
        "SIGTERM and Ctrl-C stop the same way, after the step at hand (default 0: run to the end)",
    )
    p.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        help="bf16 autocast on the CPU (always on with CUDA); slower on CPUs without native bf16 "
        "(benchmarks/train_step.py)",
    )
    p.add_argument(
        "--selection-trunk",
        action=argparse.BooleanOptionalAction,
        help=f"train the trunk in the selection stage too, with a blind step every {DEFAULTS.blind_every}th step",
    )
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, help="channels_last memory format")
    p.add_argument(
        "--ema",
        type=float,
        help="decay of a moving average of the weights, which validation and the export use (e.g. 0.999; "
        "default 0: the last step's weights)",
    )
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        help="torch.compile the training forward (benchmarks/train_step.py)",
    )


def run(args: argparse.Namespace) -> int:
    out = Path(args.out or f"runs/{args.preset or DEFAULTS.preset}")
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
    cfg = _config(args, out)
    if not 0 < cfg.new_lr_scale < float("inf"):
        raise SideJPEGError(f"--new-lr-scale must be a finite multiple above 0, not {cfg.new_lr_scale}")
    if not 0 <= cfg.stop_after < float("inf"):
        raise SideJPEGError(f"--stop-after must be a finite number of minutes, at least 0, not {cfg.stop_after}")
    if not 0 <= cfg.ema < 1:
        raise SideJPEGError(f"--ema must be at least 0 and below 1, not {cfg.ema}")
    if not Path(cfg.data).is_dir():
        raise SideJPEGError(f"{cfg.data}: no such folder of training images")
    if args.minutes is not None:
        cfg = _sized(cfg, args.minutes, resume=args.resume and (out / "last.json").exists())
    train(cfg)
    return 0


INVOCATION_ONLY = ("out", "stop_after", "init")
"""Settings that a resumed run does not take from its checkpoint."""


def _config(args: argparse.Namespace, out: Path) -> TrainConfig:
    """The run's settings: those given on the command line; on --resume, the checkpoint's for the rest (the
    stages, rates and batch a campaign was started with); the defaults for what neither says."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    saved: dict = {}
    if args.resume and (out / "last.json").exists():
        state = json.loads((out / "last.json").read_text())
        saved = {k: v for k, v in state["config"].items() if k in fields and k not in INVOCATION_ONLY}
        changed = ", ".join(f"{k} {v}" for k, v in given.items() if k in saved and saved[k] != v)
        note = f"; given here: {changed}" if changed else ""
        if os.environ.get("RANK", "0") == "0":
            print(f"resuming {out} at step {state['step']} with its settings{note}", flush=True)
    return TrainConfig(**{**saved, **given, "out": str(out)})


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

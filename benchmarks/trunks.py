"""Restoration quality per FLOP of restoration trunks: ``python -m benchmarks.trunks {cost,train,table}``.

The paper's EDSR-baseline* trunk and ``fast``'s half-resolution stack against U-Nets of conditional residual
blocks (``engine.models.unet``) of several widths, and ``fast`` with a U-Net context stage in its stack
(``fast-context``). ``cost`` measures each candidate's parameters, GFLOPs
per megapixel of a restore (``FlopCounterMode``, convolutions and linear layers) and its median wall time
on a 768x512 image; ``train NAME`` trains a fresh candidate blind for a budget of steps with the
project's ``Trainer`` and measures its PSNR gain over the JPEG on held-out training images (the test
sets are never looked at); ``table`` prints the Pareto table of what both wrote into ``--results`` (by default
``RESULTS``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from engine.atomic import write_bytes
from engine.conditioning import FULL_COND, Conditioning
from engine.config import BLOCK, FAST, FAST_CONTEXT, PAPER, UNET, ModelConfig, register
from engine.models.sidejpeg import SideJPEGNet
from engine.training.data import jpeg_roundtrip, load_rgb, split, to_tensor
from engine.training.train import TrainConfig, Trainer
from engine.training.validate import VAL_CROP, centre_crop, rounded_psnr
from engine.weights import save_model

RESULTS = Path(__file__).with_name("trunks-2026-11-30.json")


def _unet(name: str, features: int, lower: tuple[int, ...], blocks: tuple[int, ...]) -> ModelConfig:
    """``fast`` with a U-Net trunk: top level at half resolution (``fast``'s), then 1/4 and 1/8."""
    return dataclasses.replace(
        FAST, name=name, trunk="unet", trunk_blocks=0, trunk_features=features, unet_features=lower,
        unet_blocks=blocks,
    )


CANDIDATES: dict[str, ModelConfig] = {
    c.name: c
    for c in (
        FAST,
        PAPER,
        _unet("unet-32", 32, (64, 128), (1, 1, 2)),
        dataclasses.replace(UNET, name="unet-32-deep"),
        _unet("unet-32-bottom", 32, (64, 128), (1, 2, 6)),
        _unet("unet-48", 48, (96, 192), (1, 1, 2)),
        dataclasses.replace(FAST, name="fast-56", trunk_features=56),
        dataclasses.replace(FAST, name="fast-64", trunk_features=64),
        FAST_CONTEXT,
    )
}
EVAL_POINTS = ((10, "4:2:0"), (20, "4:2:0"), (30, "4:2:0"), (40, "4:2:0"), (50, "4:2:0"), (75, "4:2:2"), (90, "4:4:4"))
"""(quality, subsampling) of the held-out JPEGs: the low qualities the trunk is for, and two where users are."""
WIDTH, HEIGHT = 768, 512


def _inputs(
    config: ModelConfig, height: int, width: int, side: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """A (jpeg, cond, symbols) triple of the given size; random symbols unless blind."""
    torch.manual_seed(0)
    y = torch.rand(1, 3, height, width).contiguous(memory_format=torch.channels_last)
    cond = torch.rand(1, FULL_COND)
    symbols = torch.randint(0, config.symbols, (1, height // BLOCK, width // BLOCK)) if side else None
    return y, cond, symbols


@torch.inference_mode()
def gflops_per_megapixel(net: SideJPEGNet, side: bool, size: int = 256) -> float:
    """GFLOPs of one restore per megapixel: the networks are convolutional, so any size gives the same."""
    y, cond, symbols = _inputs(net.config, size, size, side)
    with FlopCounterMode(display=False) as counter:
        net.restore(y, cond, symbols)
    return counter.get_total_flops() / 1e9 / (size * size / 1e6)


@torch.inference_mode()
def wall_ms(nets: dict[str, SideJPEGNet], side: bool, threads: int, reps: int) -> dict[str, float]:
    """Median wall milliseconds of each net's 768x512 restore (fp32, channels_last, after a warm-up). The nets
    take turns within every repetition, so that a neighbour's load on a shared CPU falls on all of them."""
    torch.set_num_threads(threads)
    inputs = {name: _inputs(net.config, HEIGHT, WIDTH, side) for name, net in nets.items()}
    for name, net in nets.items():
        net.restore(*inputs[name])
    times: dict[str, list[float]] = {name: [] for name in nets}
    for _ in range(reps):
        for name, net in nets.items():
            start = time.perf_counter()
            net.restore(*inputs[name])
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: round(statistics.median(v), 1) for name, v in times.items()}


def cost(names: list[str], threads: list[int], reps: int) -> dict[str, dict]:
    """Parameters, GFLOPs per megapixel (with the sidecar and blind) and wall ms of each candidate, with the
    machine's load average over the timing."""
    nets = {name: SideJPEGNet(CANDIDATES[name]).eval().to(memory_format=torch.channels_last) for name in names}
    results = {
        name: {
            "params": sum(p.numel() for p in net.parameters()),
            "restorer_params": sum(p.numel() for p in net.restorer.parameters()),
            "gflops_per_mp": round(gflops_per_megapixel(net, side=True), 1),
            "gflops_per_mp_blind": round(gflops_per_megapixel(net, side=False), 1),
        }
        for name, net in nets.items()
    }
    load_before = os.getloadavg()[0]
    for t in threads:
        for side, key in ((True, f"cpu_ms_{t}t"), (False, f"cpu_ms_blind_{t}t")):
            for name, ms in wall_ms(nets, side, t, reps).items():
                results[name][key] = ms
    load = round((load_before + os.getloadavg()[0]) / 2, 1)
    for result in results.values():
        result["load_average"] = load
    return results


@torch.inference_mode()
def held_out_gains(net: SideJPEGNet, paths: list[Path]) -> dict[str, float]:
    """Mean blind PSNR gain over the JPEG (dB) per point, on the centre crops of held-out training images."""
    net.eval()
    gains: dict[str, list[float]] = {f"q{q} {sub}": [] for q, sub in EVAL_POINTS}
    for path in paths:
        crop = centre_crop(load_rgb(path), VAL_CROP)
        x = to_tensor([crop])
        for q, sub in EVAL_POINTS:
            decoded, params = jpeg_roundtrip(crop, q, sub)
            y = to_tensor([decoded])
            cond = torch.from_numpy(Conditioning.of(params, 64.0).vector())[None]
            gains[f"q{q} {sub}"].append(rounded_psnr(net.restore(y, cond, None), x) - rounded_psnr(y, x))
    net.train()
    means = {k: round(float(np.mean(v)), 4) for k, v in gains.items()}
    return {"mean": round(float(np.mean(list(means.values()))), 4), **means}


def train_blind(name: str, steps: int, crop: int, data: str, out: Path, seed: int = 0) -> dict:
    """Train a fresh candidate blind for ``steps`` (batch 8 of ``crop`` x ``crop``, channels_last, the ``Trainer``'s
    learning rate with its cosine decay over the last 30 %), measured on held-out images half way and at the
    end. A step budget, not a time budget: on a shared CPU a step's time depends on the neighbours' load."""
    if out.exists():
        raise SystemExit(f"{out} exists: give each run a fresh folder")
    register(CANDIDATES[name])
    cfg = TrainConfig(
        preset=name, data=data, out=str(out), steps=steps, blind_steps=steps, crop=crop, seed=seed, channels_last=True
    )
    trainer = Trainer(cfg)
    held_out = split(Path(data))[1]
    spent, half_way = 0.0, {}
    while trainer.step < steps:
        start = time.perf_counter()
        stats = trainer.train_step()
        spent += time.perf_counter() - start
        trainer.step += 1
        if trainer.step % 50 == 0:
            logged = {k: round(float(v), 4) for k, v in stats.items()}
            print(json.dumps({"step": trainer.step, "seconds": round(spent, 1), **logged}), flush=True)
        if trainer.step == steps // 2:
            half_way = held_out_gains(trainer.net, held_out)
            print(json.dumps({"step": trainer.step, "held_out": half_way}), flush=True)
    final = held_out_gains(trainer.net, held_out)
    save_model(out / "model.safetensors", trainer.net, {"steps": steps, "train": dataclasses.asdict(cfg)})
    return {
        "steps": steps,
        "crop": crop,
        "seed": seed,
        "train_minutes": round(spent / 60, 1),
        "threads": torch.get_num_threads(),
        "held_out": final,
        "held_out_half_way": half_way,
    }


def _merge(results: Path, kind: str, name: str, result: dict) -> None:
    data = json.loads(results.read_text()) if results.exists() else {}
    data.setdefault(kind, {})[name] = result
    write_bytes(results, (json.dumps(data, indent=2) + "\n").encode())


def _design(config: ModelConfig) -> str:
    scale = f"1/{config.trunk_scale}" if config.trunk_scale > 1 else "full"
    edsr = f"EDSR {config.trunk_blocks} x {config.trunk_features} ch at {scale}"
    if config.trunk == "edsr":
        return edsr
    if config.trunk == "hybrid":
        return f"{edsr}, U-Net context {'/'.join(str(w) for w in config.unet_features)} ch below"
    widths = "/".join(str(w) for w in (config.trunk_features, *config.unet_features))
    blocks = "/".join(str(b) for b in config.unet_blocks)
    return f"U-Net {widths} ch, blocks {blocks}, top at {scale}"


def _cell(value, fmt: str = "{}") -> str:
    return "-" if value is None else fmt.format(value)


def table(data: dict) -> str:
    """The Pareto table in Markdown (CPU ms with one thread); a candidate is on the front if no other one
    gains more for as many GFLOPs or fewer."""
    costs, trained = data.get("cost", {}), data.get("train", {})
    rows = []
    for name, config in CANDIDATES.items():
        c, t = costs.get(name, {}), trained.get(name, {})
        if not c and not t:
            continue
        gain = t.get("held_out", {}).get("mean")
        common = (t.get("held_out_half_way") or {}).get("mean")
        rows.append((name, config, c, t, gain, common))
    header = (
        "| candidate | trunk | params (restorer) | GFLOPs/MP side / blind | CPU ms 768x512 side / blind | GPU ms "
        "| training steps | held-out gain, mean (q10) | half way | Pareto |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |"
    )
    lines = [header]
    for name, config, c, t, gain, common in rows:
        front = gain is not None and not any(
            o[4] is not None and o[4] > gain and o[2].get("gflops_per_mp", 1e30) <= c.get("gflops_per_mp", 0)
            for o in rows
        )
        q10 = t.get("held_out", {}).get("q10 4:2:0")
        cells = [
            f"`{name}`",
            _design(config),
            f"{_cell(c.get('params'), '{:,}')} ({_cell(c.get('restorer_params'), '{:,}')})",
            f"{_cell(c.get('gflops_per_mp'))} / {_cell(c.get('gflops_per_mp_blind'))}",
            f"{_cell(c.get('cpu_ms_1t'), '{:.0f}')} / {_cell(c.get('cpu_ms_blind_1t'), '{:.0f}')}",
            _cell(c.get("gpu_ms")),
            _cell(t.get("steps")),
            f"{_cell(gain, '{:+.2f}')} ({_cell(q10, '{:+.2f}')})",
            _cell(common, "{:+.2f}"),
            "yes" if front else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON the runs go to and the table is read from")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cost", help="parameters, GFLOPs per megapixel and wall time of every candidate")
    c.add_argument("--names", default=",".join(CANDIDATES))
    c.add_argument("--threads", default="1,2")
    c.add_argument("--reps", type=int, default=5)
    t = sub.add_parser("train", help="train one candidate blind for a budget and measure it on held-out images")
    t.add_argument("name", choices=list(CANDIDATES))
    t.add_argument("--steps", type=int, default=800)
    t.add_argument("--crop", type=int, default=64)
    t.add_argument("--seed", type=int, default=0, help="another seed is recorded beside seed 0's, as NAME@seedN")
    t.add_argument("--data", default="../shared/data/train")
    t.add_argument("--out", type=Path, required=True)
    sub.add_parser("table", help="print the Pareto table of the recorded results")
    args = parser.parse_args(argv)
    if args.command == "cost":
        results = cost(args.names.split(","), [int(v) for v in args.threads.split(",")], args.reps)
        for name, result in results.items():
            print(name, json.dumps(result), flush=True)
            _merge(args.results, "cost", name, result)
    elif args.command == "train":
        result = train_blind(args.name, args.steps, args.crop, args.data, args.out, args.seed)
        print(json.dumps(result), flush=True)
        _merge(args.results, "train", args.name if args.seed == 0 else f"{args.name}@seed{args.seed}", result)
    else:
        print(table(json.loads(args.results.read_text())))


if __name__ == "__main__":
    main()

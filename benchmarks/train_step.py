"""Training step time per precision and memory format: ``python -m benchmarks.train_step``.

Does bf16 autocast with channels_last speed a training step up on this machine? Each variant times
the blind, end-to-end and selection steps with ``engine.training.budget.measure_step_seconds`` (a
warm-up, then the mean of a dozen steps, real training batches) and the table gives each against
fp32. On CUDA the trainer always autocasts to bf16, so there the variants are the memory format and
``torch.compile``, and the table gives samples per second as well.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from engine.training.budget import measure_step_seconds
from engine.training.train import TrainConfig

CPU_VARIANTS = {
    "fp32": {"bf16": False, "channels_last": False},
    "channels_last": {"bf16": False, "channels_last": True},
    "bf16": {"bf16": True, "channels_last": False},
    "bf16+channels_last": {"bf16": True, "channels_last": True},
}
CUDA_VARIANTS = {
    "bf16": {"channels_last": False},
    "bf16+channels_last": {"channels_last": True},
    "bf16+channels_last+compile": {"channels_last": True, "compile": True},
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--data", default="../shared/data/train")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--out", type=Path, help="write the step times to this JSON file")
    parser.add_argument("--variants", help="comma-separated names of the variants to time (default: all)")
    args = parser.parse_args(argv)
    base = TrainConfig(preset=args.preset, data=args.data, batch=args.batch, crop=args.crop)
    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name() if cuda else f"cpu ({torch.get_num_threads()} threads)"
    variants = CUDA_VARIANTS if cuda else CPU_VARIANTS
    names = args.variants.split(",") if args.variants else list(variants)
    shape = f"batch {args.batch} x {args.crop}x{args.crop}"
    print(f"{args.preset}, {shape}, {device}: ms per step (x {names[0]}), samples/s")
    results: dict[str, dict[str, float]] = {}
    measure_step_seconds(base)  # warm-up: the first steps of a process run cold (allocator, oneDNN kernels)
    for name in names:
        results[name] = measure_step_seconds(TrainConfig(**{**vars(base), **variants[name]}))
        cells = "  ".join(
            f"{stage} {sec * 1000:7.1f} ({results[names[0]][stage] / sec:.2f}x, {args.batch / sec:6.0f}/s)"
            for stage, sec in results[name].items()
        )
        print(f"{name:<28}{cells}", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"config": vars(args) | {"out": None}, "device": device, "seconds": results}))


if __name__ == "__main__":
    main()

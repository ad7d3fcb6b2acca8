"""Pack a training folder into a small one for a machine that takes little data (a lent GPU takes 64 MiB):

    sidejpeg pack --data ../shared/data/train --out runs/pack --mib 48

The pack holds the held-out images' centre crops and random training crops as PNGs; ``sidejpeg train
--data runs/pack`` trains on it as on the folder it came from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import SideJPEGError
from engine.training.pack import write_pack


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=Path("../shared/data/train"), help="training folder (never a test set)")
    p.add_argument("--out", type=Path, required=True, help="new or empty folder for the pack")
    p.add_argument("--mib", type=float, default=48.0, help="size budget in MiB (default 48)")
    p.add_argument("--side", type=int, default=256, help="side of the training crops in pixels (default 256)")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    if not args.data.is_dir():
        raise SideJPEGError(f"{args.data}: no such folder of training images")
    if args.mib <= 0 or args.side < 16 or args.side % 16:
        raise SideJPEGError("--mib must be positive and --side a multiple of 16")
    report = write_pack(args.data, args.out, args.side, int(args.mib * 2**20), args.seed)
    print(
        f"wrote {args.out}: {report.training_crops} training crops of {args.side}x{args.side} and "
        f"{report.held_out} held-out images, {report.bytes / 2**20:.1f} MiB"
    )
    return 0

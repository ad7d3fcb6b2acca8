"""What a device call carries: the working tree plus the carried folders, against the tool's 64 MiB.

The repository grows (weights, checkpoints, evaluation records), so the training pack of a GPU session
gets what the rest leaves: ``--left`` prints the MiB left for it, ``--check`` fails when the whole
would not travel.

    python scripts/device_travel.py --left runs/wheels --reserve 3 --most 12
    python scripts/device_travel.py --check runs/pack runs/wheels runs/xdev-cpu
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

LIMIT_MIB = 64.0
"""The device tool's limit on what travels (tracked and untracked-not-ignored files, carried paths)."""
MARGIN_MIB = 1.0
"""Kept free for files a session adds before the call (logs, notes)."""
MIB = 2**20


def tree_bytes() -> int:
    """Tracked files and untracked ones that git does not ignore: the working tree that travels."""
    listing = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    names = subprocess.run(listing, capture_output=True, check=True).stdout.split(b"\0")
    paths = [Path(n.decode()) for n in names if n]
    return sum(p.stat().st_size for p in paths if p.is_file())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--left", action="store_true", help="print the MiB left beside these folders")
    action.add_argument("--check", action="store_true", help="fail unless these folders travel with the tree")
    parser.add_argument("--reserve", type=float, default=0.0, help="--left: MiB still to come besides the folders")
    parser.add_argument("--most", type=float, default=LIMIT_MIB, help="--left: print at most this many MiB")
    parser.add_argument("folders", nargs="*", type=Path)
    args = parser.parse_args(argv)
    total = (tree_bytes() + sum(folder_bytes(f) for f in args.folders)) / MIB
    if args.left:
        left = LIMIT_MIB - MARGIN_MIB - args.reserve - total
        if left <= 0:
            print(f"nothing left to carry: the tree and the folders hold {total:.1f} MiB", file=sys.stderr)
            return 2
        print(f"{min(left, args.most):.1f}")
        return 0
    print(f"a device call carries {total:.1f} MiB (limit {LIMIT_MIB:.0f} MiB)", file=sys.stderr)
    return 0 if total <= LIMIT_MIB else 2


if __name__ == "__main__":
    sys.exit(main())

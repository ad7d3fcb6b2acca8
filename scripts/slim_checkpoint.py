"""Write a run's last checkpoint without Adam's moments and the weights' average, to commit between sessions
of a long CPU campaign (``engine.training.checkpoint.save_slim``):

    python scripts/slim_checkpoint.py runs/fast-context resources/checkpoints/fast-context-last

To resume it: copy ``DEST.json`` and ``DEST.safetensors`` to ``RUN/last.json`` and ``RUN/last.safetensors`` and
run the same ``sidejpeg train`` command with ``--resume`` (resources/models/README.md gives each campaign's).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.errors import SideJPEGError
from engine.training.checkpoint import save_slim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="run folder holding last.json and last.safetensors")
    parser.add_argument("dest", type=Path, help="path of the slim checkpoint, without suffix")
    args = parser.parse_args()
    try:
        save_slim(args.run, args.dest)
    except (OSError, ValueError, SideJPEGError) as exc:
        sys.exit(f"slim_checkpoint: {exc}")


if __name__ == "__main__":
    main()

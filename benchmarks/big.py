"""Child process of ``benchmarks.run``: one restore of a large JPEG, so its peak memory stands alone.

Prints one JSON line: the restore's wall time and this process's resident memory before the
restore (Python, torch and the model) and at its peak (``VmHWM``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--jpeg", required=True)
    parser.add_argument("--sidecar", default=None)
    args = parser.parse_args()

    from engine import Codec

    codec = Codec(args.preset, device="cpu")
    jpeg = Path(args.jpeg).read_bytes()
    sidecar = Path(args.sidecar).read_bytes() if args.sidecar else None
    before = _status_kib("VmRSS")
    start = time.perf_counter()
    out = codec.restore(jpeg, sidecar)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "seconds": seconds, "rss_before_restore_kib": before, "vm_hwm_kib": _status_kib("VmHWM"),
        "shape": list(out.image.shape), "blind": out.blind,
    }))


if __name__ == "__main__":
    main()
